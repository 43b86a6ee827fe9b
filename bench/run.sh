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
  runner=build/release/plugin-runner/plugvisor-runner
  driver=build/release/plugin-runner/tests/plugvisor-runner-driver
  netns_args=()
  # plugvisord shares one empty network namespace between plugins where Landlock scopes abstract
  # unix sockets (ABI >= 6); the bench does what plugvisord would do on this machine.
  abi=$("$runner" --probe 2>/dev/null | sed -n 's/.*"landlock_abi":\([0-9]*\).*/\1/p' | head -1)
  if [ "${abi:-0}" -ge 6 ]; then
    netns=$(mktemp /tmp/plugvisor-bench-netns.XXXXXX)
    trap 'umount "$netns" 2>/dev/null; rm -f "$netns"' EXIT
    "$runner" --make-netns "$netns"
    netns_args=(--netns "$netns")
  fi
  echo
  echo "sandbox cost: plugvisor-runner sandboxed vs unsandboxed, noop fixture (goal: <= 2 ms added at p50)"
  if [ ${#netns_args[@]} -gt 0 ]; then
    echo "network namespace: one shared by every sandboxed run (Landlock ABI $abi scopes abstract sockets)"
  else
    echo "network namespace: one per spawn (Landlock ABI ${abi:-0} cannot scope abstract sockets)"
  fi
  "$driver" "${netns_args[@]}" bench 60 2>/dev/null | grep -v '^{'
fi
