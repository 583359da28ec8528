#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite headless, on every core. Real-data tests run when
# CVAE_DATA_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
# pytest keeps its assertion-rewritten test modules in __pycache__ (git ignores it); where the environment says
# not to write bytecode, every run rewrites and compiles them all again: about a fifth of the inner loop's time
unset PYTHONDONTWRITEBYTECODE
# every core (pytest-xdist, one worker per core, each with its share of torch threads: tests/conftest.py); the
# caller's own -n comes later on the line and wins (-n 0: one process, as a debugger wants); at most 8 by default,
# since each worker loads its own torch and Qt
cores=$(nproc 2>/dev/null || echo 1)
workers=${CVAE_TEST_WORKERS:-$(( cores < 8 ? cores : 8 ))}
exec .venv/bin/python -m pytest -ra -n "$workers" "$@"
