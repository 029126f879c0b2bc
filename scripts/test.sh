#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build with
# -Werror, run every test; then the same suite on an ASan+UBSan build; then
# the daemon's tests on a ThreadSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test

echo "== format =="
bash scripts/check-format.sh
bash scripts/check-layout.sh
bash scripts/check-errors.sh

echo "== release build (-Werror) =="
# LA_TEST_TIME_SCALE (an integer, default 1) multiplies every test's time
# limits, for a slow or busy machine; the sanitizer stages triple it.
scale=${LA_TEST_TIME_SCALE:-1}
bash scripts/build.sh build -DLA_WERROR=ON -DLA_REQUIRE_WEB_TEST=ON \
  -DLA_TEST_TIME_SCALE="$scale"
(cd build && ctest --output-on-failure -j 2)

echo "== ASan + UBSan build =="
# The sanitizer builds' daemons are several times slower: the tests' time
# limits (ctest's and their own, tests/lib/harness.py) are tripled, here and
# in the TSan stage.
bash scripts/build.sh build-asan -DLA_WERROR=ON -DLA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DLA_REQUIRE_WEB_TEST=ON -DLA_RELIABILITY_WORKER="$PWD/build/loralpha-worker" \
  -DLA_TEST_TIME_SCALE=$((3 * scale))
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The docs' commands (`docs`) are checked against the product once, above:
# what they run, the other tests drive under the sanitizers too.
(cd build-asan && ctest --output-on-failure -j 2 -LE '^docs$')

echo "== ThreadSanitizer build: the daemon's tests =="
# The daemon's threads (uv_queue_work: analyses, curves) are under test; its
# workers are the release build's (single-threaded, and much slower when
# instrumented). Left out by label (tests/CMakeLists.txt): the worker's own
# tests (`worker`, among them the one that runs OpenBLAS's uninstrumented
# threads), the browser (`web`), wrk's load (`load`) and the docs'
# commands (`docs`).
# Every report fails the run, also from a daemon whose exit status a test
# does not look at: they are collected by log_path.
bash scripts/build.sh build-tsan -DLA_WERROR=ON -DLA_TSAN=ON \
  -DLA_TEST_WORKER="$PWD/build/loralpha-worker" -DLA_TEST_TIME_SCALE=$((3 * scale))
tsan_logs="$PWD/build-tsan/tsan-reports"
rm -rf "$tsan_logs"
mkdir -p "$tsan_logs"
# daemons some tests run as throwaway second users report here too
chmod 1777 "$tsan_logs"
export TSAN_OPTIONS="log_path=$tsan_logs/tsan:second_deadlock_stack=1"
(cd build-tsan && ctest --output-on-failure -j 2 -LE '^(worker|web|load|docs)$')
if compgen -G "$tsan_logs/tsan*" >/dev/null; then
  cat "$tsan_logs"/tsan*
  echo "ThreadSanitizer: $(ls "$tsan_logs" | wc -l) report files in $tsan_logs" >&2
  exit 1
fi
echo "ThreadSanitizer: no report"
