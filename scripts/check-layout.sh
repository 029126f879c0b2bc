#!/usr/bin/env bash
# Checks the layout's arrows (README, "Layout"): base/ and its headers know
# no event loop, database, BLAS or HTTP client, and no other component;
# the worker knows neither the daemon nor the client; the daemon does not
# know the client or the worker's core. Prints every include that breaks a
# rule and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0

# the headers of base/: include/loralpha/X.h for every base/X.c
base_headers=()
for c in base/*.c; do
  h="include/loralpha/$(basename "${c%.c}").h"
  [ -f "$h" ] && base_headers+=("$h")
done
base_headers+=(include/loralpha/common.h)

# rule: files, then an extended regex of forbidden include targets
check() {
  local what="$1" re="$2"
  shift 2
  local hits
  if hits=$(grep -nE "^#include [<\"]($re)" "$@" 2>/dev/null); then
    echo "check-layout: $what:" >&2
    echo "$hits" | sed 's/^/  /' >&2
    bad=1
  fi
}

worker_headers=$(cd worker && ls *.h | sed 's/\./\\./g' | paste -sd'|')
daemon_dirs='net/|api/|sched/|store/|slurm/|analysis/|daemon\.h|serve_config\.h|testpoint\.h'
daemon_shared='loralpha/(store|slurm_db|serve)\.h'

check "base/ is pure (no libuv, SQLite, BLAS, curl, OpenSSL)" \
  'uv\.h|sqlite3\.h|cblas\.h|lapacke\.h|openblas|curl/|openssl/' base/*.c "${base_headers[@]}"
check "base/ includes no other component" \
  "$daemon_dirs|$daemon_shared|cli\.h|cli_slurm\.h|$worker_headers" base/*.c "${base_headers[@]}"
check "the worker includes neither the daemon nor the client" \
  "$daemon_dirs|$daemon_shared|cli\.h|cli_slurm\.h" worker/*.c worker/*.h
check "the daemon includes neither the client nor the worker's core" \
  "cli\.h|cli_slurm\.h|$worker_headers" $(git ls-files 'daemon/*.c' 'daemon/*.h') \
  include/loralpha/store.h include/loralpha/slurm_db.h include/loralpha/serve.h
check "the client includes only include/loralpha/ and its own headers" \
  "$daemon_dirs|$worker_headers" client/*.c client/*.h

if [ "$bad" -ne 0 ]; then
  echo "check-layout: the layout's arrows are broken (README.md, \"Layout\")" >&2
  exit 1
fi
echo "check-layout: base ($(ls base/*.c | wc -l) files), worker, daemon and client keep the layout's arrows"
