#!/usr/bin/env bash
# build.sh [OUTDIR]: compiles the libFuzzer targets fuzz_config, fuzz_spec,
# fuzz_npy, fuzz_http, fuzz_record and fuzz_safetensors with clang (-fsanitize=fuzzer,address,undefined) into OUTDIR
# (default: fuzz/out next to this script). Works from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

CC="${CC_FUZZ:-clang}"
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build.sh: $CC not found (Debian: apt-get install -y clang)" >&2
  exit 1
fi

CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -fno-omit-frame-pointer
        -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
        -I"$root/include" -I"$root/daemon")
LIBS=(-ljansson -lm)
BASE=("$root/base/common.c" "$root/base/rng.c" "$root/base/npy.c"
      "$root/base/config.c" "$root/base/resources.c"
      "$root/base/safetensors.c" "$root/base/json_text.c")

build() { # name sources...
  local name="$1"
  shift
  echo "build.sh: $out/$name"
  "$CC" "${CFLAGS[@]}" -o "$out/$name" "$@" "${LIBS[@]}"
}

build fuzz_config "$here/fuzz_config.c" "${BASE[@]}"
build fuzz_spec "$here/fuzz_spec.c" "${BASE[@]}" "$root/base/spec.c" \
  "$root/base/search.c" \
  "$root/base/command.c" \
  "$root/base/window.c" "$root/base/slurm_settings.c"
build fuzz_npy "$here/fuzz_npy.c" "${BASE[@]}"
build fuzz_http "$here/fuzz_http.c" "${BASE[@]}" "$root/daemon/net/http.c" -luv -lhttp_parser
build fuzz_record "$here/fuzz_record.c" "${BASE[@]}" "$root/base/record.c"
build fuzz_safetensors "$here/fuzz_safetensors.c" "${BASE[@]}"
