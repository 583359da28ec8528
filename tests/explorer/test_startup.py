"""Start-up: something is on screen before the seconds-long torch import, and the steps come in that order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import explorer.app as app
said = []
original = app._say
def say(qt_app, splash, text):
    exposed = splash is not None and splash.windowHandle() is not None and splash.windowHandle().isExposed()
    said.append((text, splash is not None and splash.isVisible() and exposed, "torch" in sys.modules))
    original(qt_app, splash, text)
app._say = say
code = app.main(sys.argv[1:])
for text, splash_shown, torch_loaded in said:
    print(f"{text}|{splash_shown}|{torch_loaded}")
sys.exit(code)
"""


@pytest.mark.slow  # a fresh process: the point is what it imports before the splash
def test_splash_is_on_screen_before_torch_is_imported(tiny_checkpoints):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CVAE_EXPLORER_STARTUP_LOG="exit")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tiny_checkpoints["cvae"]), "--no-bundled"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    steps = [line.split("|") for line in done.stdout.splitlines() if "|" in line]
    # the splash is shown, and its window exposed (drawn), before torch is imported
    assert steps[0] == ["Loading PyTorch…", "True", "False"]
    names = [name for name, _, _ in steps]
    assert names.index("window shown") < names.index("models open")
    assert [line for line in done.stderr.splitlines() if line.startswith("startup: ")][-1] == "startup: models open"


THREAD_IMPORT_PROBE = """
import sys, time
from PySide6 import QtCore, QtWidgets
import explorer.jobs  # switches PySide6's source check off
feature = sys.modules["shibokensupport.feature"]
assert feature._mod_uses_pyside(sys.modules["explorer.jobs"]) is False
assert "torch._dynamo" not in sys.modules  # the worker's optimizer will import it, off the GUI thread
from trainer.jobs import TrainJob, TrainSpec
app = QtWidgets.QApplication([])
runner = explorer.jobs.JobRunner()
ended = []
runner.ended.connect(lambda kind, result: ended.append(result))
spec = TrainSpec("mnist", sys.argv[2], sys.argv[1], "cvae", {"conv_channels": (4, 8), "hidden_dim": 16},
                 {"epochs": 2, "batch_size": 16, "device": "cpu"})
runner.start("train", lambda callbacks, cancel: TrainJob(spec, callbacks, cancel))
deadline = time.time() + 120
while not ended and time.time() < deadline:
    app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)  # the GUI thread busy meanwhile
print(ended[0].status, "torch._dynamo" in sys.modules)
"""


@pytest.mark.slow  # GUI training in a fresh process
def test_a_job_importing_modules_on_its_thread_does_not_crash_the_gui_thread(tmp_path):
    """A fresh process, as a user's: the worker's first lazy imports (torch._dynamo, when the optimizer is built)
    run while the GUI thread processes events. With PySide6 6.12.0 this aborted the interpreter
    (none_dealloc: every void-returning call drops a reference to None; see tests/test_qt_binding.py)."""
    from tests.formats import make_mnist
    data = make_mnist(tmp_path / "data", train=64, test=16)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", THREAD_IMPORT_PROBE, str(data), str(tmp_path / "run.pt")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["finished", "True"]


def test_the_splash_is_on_screen_when_it_returns_and_gone_after_finish(qapp):
    """Qt's QSplashScreen.show() (and finish()) wait in processEvents(..., 1000 ms) for the window to be reported
    exposed, and that call keeps waiting for more events after it is: a whole second before torch even starts to
    load. The explorer's splash waits for its expose event alone; how long it takes to be on screen is
    benchmarks/bench_explorer.py's figure (README, "Benchmarks")."""
    from explorer.app import _splash
    splash = _splash(qapp)
    try:
        assert splash.isVisible() and splash.windowHandle().isExposed()
        splash.finish(None)
        assert not splash.isVisible()
    finally:
        splash.close()
        splash.deleteLater()
