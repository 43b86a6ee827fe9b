#!/usr/bin/env bash
# Builds the release preset and runs the full dispatch bench, then (as root, where the sandbox
# can be built) the runner's sandboxed vs unsandboxed spawn-to-ready, interleaved in one run.
# Extra arguments go to the dispatch bench, e.g. bench/run.sh --json, bench/run.sh --samples 40.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release
cmake --build --preset release
build/release/bench/plugvisor-bench-dispatch "$@"
if [ "$(id -u)" -eq 0 ]; then
  echo
  echo "sandbox cost: plugvisor-runner sandboxed vs unsandboxed, noop fixture (goal: <= 2 ms added at p50)"
  build/release/plugin-runner/tests/plugvisor-runner-driver bench 20 2>/dev/null | grep -v '^{'
fi
