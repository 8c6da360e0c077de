#!/usr/bin/env bash
# Runs the whole test suite through ctest; exits non-zero on any failure.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -L unit or -R eval]
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d build ]] || { echo "test: no build/ folder; run scripts/setup.sh first" >&2; exit 2; }
# Tests that read the shipped datasets find them in data/ (skipped, visibly, when absent).
scripts/get-data.sh --quiet || true
cmake --build build -j "${JOBS:-$(nproc)}"
ctest --test-dir build --output-on-failure -j "${JOBS:-$(nproc)}" "$@"
