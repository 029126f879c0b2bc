#!/usr/bin/env bash
# Installs the Debian packages loralpha needs to build and run; with --test,
# also what its test suite needs. Skips apt-get when all are present.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config git libopenblas-dev libjansson-dev
  libuv1-dev libhttp-parser-dev libsqlite3-dev sqlite3 curl libcurl4-openssl-dev
  libssl-dev)
TEST_PKGS=(python3 python3-numpy python3-torch clang-format chromium clang wrk
  slurmctld slurmd slurm-client munge)

pkgs=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=("${TEST_PKGS[@]}")
fi

# Node.js and npm for the dashboard's packages: the machine's own if it has
# them, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} Debian packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The dashboard's packages from npm (web/package-lock.json): uPlot, which
# the daemon serves, and with --test playwright-core for the browser test.
cd "$(dirname "$0")/../web"
if [[ "${1:-}" == "--test" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm ci --omit=dev --no-audit --no-fund --loglevel=error
fi
