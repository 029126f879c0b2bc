#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install, build, and train the
# example run, printing its curve summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
./build/loralpha-worker --config examples/teacher-run.json --summary
