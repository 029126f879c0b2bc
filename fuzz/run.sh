#!/usr/bin/env bash
# run.sh [SECONDS_EACH] [OUTDIR]: builds the fuzz targets (build.sh) and runs
# each for SECONDS_EACH seconds (default 60) on a copy of its seed corpus.
#
#   OUTDIR/fuzz_{config,spec,npy,http,record,safetensors} the binaries
#   OUTDIR/corpus/<target>/            working corpus: the repo's seeds plus
#                                      what libFuzzer found (kept between
#                                      runs; the repo's fuzz/corpus is never
#                                      written)
#   OUTDIR/artifacts/<target>/         crash-*, leak-*, timeout-*, oom-*
#   OUTDIR/logs/<target>.log           libFuzzer's full output
#
# Prints one summary line per target and exits non-zero if any target found
# a crash, leak, timeout or out-of-memory input. Works from any directory.
# Extra libFuzzer flags can be given in LA_FUZZ_FLAGS (e.g. "-jobs=4").
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
secs="${1:-60}"
out="${2:-$here/out}"
case "$secs" in
  '' | *[!0-9]*) echo "run.sh: SECONDS_EACH must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

if ! bash "$here/build.sh" "$out"; then
  echo "run.sh: build failed" >&2
  exit 1
fi
out="$(cd "$out" && pwd)"

# Stack traces for UBSan reports; ASan/LSan defaults are what we want.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
summary=()
for target in config spec npy http record safetensors; do
  bin="$out/fuzz_$target"
  corpus="$out/corpus/$target"
  art="$out/artifacts/$target"
  log="$out/logs/$target.log"
  mkdir -p "$corpus" "$art" "$out/logs"
  # Refresh the working copy with the repo's seeds (never the other way).
  cp -pR "$here/corpus/$target/." "$corpus/"
  # Findings of an earlier run stay in artifacts/ but must not fail this one.
  mkdir -p "$art/previous"
  find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) \
    -exec mv -f {} "$art/previous/" \;
  flags=(-max_total_time="$secs" -timeout=5 -rss_limit_mb=2048
         -print_final_stats=1 -artifact_prefix="$art/")
  case "$target" in
    config | spec) flags+=(-dict="$here/dict/json.dict") ;;
    http) flags+=(-dict="$here/dict/http.dict") ;;
    record) flags+=(-dict="$here/dict/record.dict") ;;
    safetensors) flags+=(-dict="$here/dict/safetensors.dict") ;;
  esac
  # shellcheck disable=SC2086
  "$bin" "${flags[@]}" ${LA_FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
  rc=$?

  found=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(printf '%s' "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
  ft=$(printf '%s' "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
  corp=$(printf '%s' "$last" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*')
  line=$(printf 'fuzz_%-6s %5ss  execs %-10s cov %-6s ft %-6s corpus %-6s findings %s  exit %s' \
    "$target" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found" "$rc")
  echo "$line"
  summary+=("$line")
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    echo "---- fuzz_$target FAILED; end of $log:" >&2
    tail -n 60 "$log" >&2
    echo "---- findings in $art:" >&2
    ls -l "$art" >&2
  fi
done

echo "== fuzz summary (${secs}s per target, output in $out)"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "== FAILED: see the logs and artifacts above (fuzz/README.md explains how to reproduce)"
  exit 1
fi
echo "== OK: no crash, leak or timeout"
