#!/usr/bin/env bash
# Set up (scripts/setup.sh) and open the explorer on its bundled models; extra arguments go to cvae-explorer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/cvae-explorer "$@"
