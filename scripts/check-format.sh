#!/usr/bin/env bash
# Checks that the C sources follow .clang-format (clang-format --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format not found (apt-get install clang-format)" >&2
  exit 1
fi
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
echo "check-format: $(git ls-files '*.c' '*.h' | wc -l) files follow .clang-format"
