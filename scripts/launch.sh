#!/usr/bin/env bash
# Set up (scripts/setup.sh) and open the explorer on its bundled models; extra arguments go to cvae-explorer.
# On Linux, scripts/check_display.py first makes sure Qt can open a window here (a display, and the system
# libraries of Qt's X11/Wayland plugin); if not, it says what to install and the explorer is not started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
.venv/bin/python scripts/check_display.py "$@" || status=$?
case $status in
  0) ;;
  10) export QT_QPA_PLATFORM=offscreen ;;  # --screenshot, and the on-screen plugin cannot load: render off-screen
  *) exit "$status" ;;
esac
exec .venv/bin/cvae-explorer "$@"
