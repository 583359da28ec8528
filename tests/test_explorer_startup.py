"""Start-up: something is on screen before the seconds-long torch import, and the steps come in that order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
import explorer.app as app
said = []
original = app._say
def say(qt_app, splash, text):
    said.append((text, splash is not None and splash.isVisible(), "torch" in sys.modules))
    original(qt_app, splash, text)
app._say = say
code = app.main(sys.argv[1:])
for text, splash_visible, torch_loaded in said:
    print(f"{text}|{splash_visible}|{torch_loaded}")
sys.exit(code)
"""


def test_splash_is_on_screen_before_torch_is_imported(tiny_checkpoints):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CVAE_EXPLORER_STARTUP_LOG="exit")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tiny_checkpoints["cvae"]), "--no-bundled"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    steps = [line.split("|") for line in done.stdout.splitlines() if "|" in line]
    assert steps[0] == ["Loading PyTorch…", "True", "False"]  # the splash shows before torch is imported
    names = [name for name, _, _ in steps]
    assert names.index("window shown") < names.index("models open")
    assert [line for line in done.stderr.splitlines() if line.startswith("startup: ")][-1] == "startup: models open"
