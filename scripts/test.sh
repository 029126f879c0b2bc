#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install, build with
# -Werror, run every test; then the same suite on an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test

echo "== format =="
bash scripts/check-format.sh

echo "== release build (-Werror) =="
bash scripts/build.sh build -DLA_WERROR=ON -DLA_REQUIRE_WEB_TEST=ON
(cd build && ctest --output-on-failure -j 2)

echo "== ASan + UBSan build =="
bash scripts/build.sh build-asan -DLA_WERROR=ON -DLA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DLA_REQUIRE_WEB_TEST=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j 2)
