#!/usr/bin/env bash
# Checks the error model (include/loralpha/common.h) in the C sources of
# daemon/, worker/, base/ and client/ (recursively): a failure returns an
# LA_E* code, never a bare -1 (which is LA_ENOMEM), and la_errf is never
# given -1. A function whose -1 means "none" (an index, an id, a descriptor)
# or follows a library's convention marks the line with a comment saying so:
#     return -1; /* an index: none */
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- daemon worker base client | grep -E '\.[ch]$' || true)
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-errors: no C sources found" >&2
  exit 1
fi
bad=$(grep -nE -e 'return[[:space:]]+-1[[:space:]]*;' -e 'la_errf\([^,]*,[[:space:]]*-1[[:space:]]*,' \
  "${files[@]}" | grep -vE 'return[[:space:]]+-1[[:space:]]*;[[:space:]]*/\*[[:space:]]*[^*[:space:]]' || true)
if [ -n "$bad" ]; then
  echo "$bad" >&2
  echo "check-errors: a bare -1 above: return an LA_E* code (common.h), or" \
    "say on the line why -1 is right (return -1; /* an index: none */)" >&2
  exit 1
fi
echo "check-errors: ${#files[@]} files return LA_E* codes, not a bare -1"
