#!/usr/bin/env bash
# Installs the Debian packages loralpha needs to build and run; with --test,
# also what its test suite needs. Skips apt-get when all are present.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config git libopenblas-dev libjansson-dev
  libuv1-dev libhttp-parser-dev libsqlite3-dev sqlite3 curl libcurl4-openssl-dev)
TEST_PKGS=(python3 python3-numpy python3-torch clang-format)

pkgs=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=("${TEST_PKGS[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
