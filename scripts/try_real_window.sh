#!/usr/bin/env bash
# Drive the explorer in a real X window (Xvfb) the way a hand does, and keep screenshots of each step:
#   bash scripts/try_real_window.sh [OUT_DIR]      (needs: apt-get install xvfb xdotool imagemagick)
# Moves then clicks twice on the map (two pins), drags a sweep, presses 7 (pins and backdrop re-decoded as 7s).
# Coordinates assume the default 1360x860 window at the top-left of the screen.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/cvae-real-window}
mkdir -p "$OUT"
DISPLAY_NUMBER=${DISPLAY_NUMBER:-:91}
Xvfb "$DISPLAY_NUMBER" -screen 0 1600x1000x24 >/dev/null 2>&1 &
XVFB=$!
export DISPLAY=$DISPLAY_NUMBER
trap 'kill $APP $XVFB 2>/dev/null || true' EXIT
sleep 1
.venv/bin/cvae-explorer --size 1360x860 >"$OUT/app.log" 2>&1 &
APP=$!
for _ in $(seq 1 60); do xdotool search --name '^cVAE Explorer$' >/dev/null 2>&1 && break; sleep 0.5; done
sleep ${SETTLE:-8}  # the bundled models open after the window shows; clicks before that land on the empty state
import -window root "$OUT/1-start.png"
for target in "620 320" "820 520"; do  # arrive, then click: the cursor marker is under the pointer by then
  set -- $target
  xdotool mousemove $(($1 - 20)) $(($2 - 20)); sleep 0.3; xdotool mousemove "$1" "$2"; sleep 0.5; xdotool click 1
  sleep 0.8
done
import -window root "$OUT/2-two-pins.png"
xdotool mousemove 500 250; sleep 0.3; xdotool mousedown 1
for i in $(seq 1 10); do xdotool mousemove $((500 + i * 25)) $((250 + i * 15)); sleep 0.1; done
xdotool mouseup 1; sleep 0.5
import -window root "$OUT/3-after-sweep.png"
WINDOW=$(xdotool search --name '^cVAE Explorer$' | tail -1)
xdotool windowfocus "$WINDOW"; xdotool key 7; sleep 1
import -window root "$OUT/4-digit-7.png"
echo "screenshots in $OUT: 1-start, 2-two-pins (two pins in the strip), 3-after-sweep (no third pin, view not moved),"
echo "4-digit-7 (pins, preview and backdrop decoded as 7s)"
