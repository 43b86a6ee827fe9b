#!/usr/bin/env bash
# Builds the release preset and runs the full dispatch bench. Extra arguments go to the bench,
# e.g. bench/run.sh --json, bench/run.sh --duration-s 5 --samples 40.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release
cmake --build --preset release
exec build/release/bench/plugvisor-bench-dispatch "$@"
