#!/usr/bin/env bash
# The demo: builds (unless --no-build), starts plugvisord with the example plugins on its
# embedded PostgreSQL, dispatches sample hooks that show blocking, mutation and a timeout,
# prints `plugvisorctl status`, and stops cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

build=1
[ "${1:-}" = "--no-build" ] && build=0
[ $build -eq 1 ] && scripts/build.sh dev
bin="$root/build/dev"

state="${PLUGVISOR_DEMO_STATE:-/tmp/plugvisor-demo}"
mkdir -p "$state"
export PLUGVISOR_STATE_DIR="$state"
export PLUGVISOR_LISTEN="unix:$state/plugvisord.sock"
export PLUGVISOR_PLUGIN_DIR="$bin/plugins"
export PLUGVISOR_ADDRESS="$PLUGVISOR_LISTEN"
ctl="$bin/cli/plugvisorctl"

log="$state/plugvisord.log"
echo "==> starting plugvisord (log: $log)"
"$bin/supervisor/plugvisord" --config examples/plugvisor.yaml >"$log" 2>&1 &
pid=$!
cleanup() { kill -9 "$pid" 2>/dev/null || true; }
trap cleanup EXIT

echo "==> waiting for the plugins to be ready"
if ! "$ctl" wait --for 90; then
  echo "plugvisord did not become ready; its log:" >&2
  tail -n 50 "$log" >&2
  exit 1
fi

step() { echo; echo "==> $*"; }
expect_exit() {  # expect_exit CODE command...
  local want=$1; shift
  set +e; "$@"; local got=$?; set -e
  if [ "$got" -ne "$want" ]; then echo "demo: expected exit $want from: $*, got $got" >&2; exit 1; fi
}

step "message.enrich: the linkifier adds enrichments (mutation)"
expect_exit 0 "$ctl" dispatch message.enrich --data '{"text": "PV-12 breaks the build, see https://ci.example.com/runs/7"}'

step "tool.pre_exec: the policy guard blocks a destructive shell command"
expect_exit 3 "$ctl" dispatch tool.pre_exec --data '{"tool": "shell", "arguments": {"command": "rm -rf / --no-preserve-root"}}'

step "tool.pre_exec: a harmless command goes through"
expect_exit 0 "$ctl" dispatch tool.pre_exec --data '{"tool": "shell", "arguments": {"command": "ls -l"}}'

step "tool.post_exec: the redactor masks secrets in tool output (mutation)"
expect_exit 0 "$ctl" dispatch tool.post_exec --data '{"tool": "shell", "output": "OPENAI_API_KEY=sk-live1234567890abcdefghij mail bob@example.com"}'

step "response.pre_deliver: slowpoke overruns its 300 ms timeout (TIMEOUT, fail_open: delivery goes on)"
expect_exit 0 "$ctl" dispatch response.pre_deliver --data '{"content": "contact alice@example.com", "_sleep_ms": 2000}'

# Receipts are written in batches; give the writer a moment so the listing below shows this run's.
for _ in $(seq 50); do
  "$ctl" --json status | grep -q '"receiptsQueued"' || break  # proto3 JSON omits a zero
  sleep 0.1
done

step "plugvisorctl status"
"$ctl" status

step "plugvisorctl receipts --limit 8"
"$ctl" receipts --limit 8

step "stopping plugvisord (SIGTERM)"
kill -TERM "$pid"
set +e; wait "$pid"; code=$?; set -e
trap - EXIT
echo "plugvisord exited with code $code"
[ "$code" -eq 0 ] || { tail -n 30 "$log" >&2; exit 1; }
echo "demo: ok"
