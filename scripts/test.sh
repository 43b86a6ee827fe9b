#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every CTest suite (unit, integration
# with real plugvisord, plugin processes and PostgreSQL, examples, SDK), then the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh dev
ctest --preset dev -j 2 --timeout 900
scripts/demo.sh --no-build
