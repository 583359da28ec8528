#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite headless. Real-data tests run when CVAE_DATA_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
# pytest keeps its assertion-rewritten test modules in __pycache__ (git ignores it); where the environment says
# not to write bytecode, every run rewrites and compiles them all again: about a fifth of the inner loop's time
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest -ra "$@"
