"""How responsive the window stays while a training job runs: the delay of a 0 ms QTimer (how long an input
event would wait for the GUI thread), idle and during a CPU training run started from the Train panel, side by
side in one process.

    python benchmarks/bench_gui_responsiveness.py [--data-dir ../shared/data] [--samples 200]

Prints the median and 95th percentile of each. With no data folder, a synthetic MNIST-format set is written to a
temporary folder. Importing this file runs nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def timer_delays(app, count: int, until=None) -> list[float]:
    """Delays (s) of `count` 0 ms single-shot timers, one after the other (stops early when `until()` is true)."""
    from PySide6 import QtCore
    delays = []
    while len(delays) < count and not (until and until()):
        fired = []
        started = time.perf_counter()
        QtCore.QTimer.singleShot(0, lambda: fired.append(time.perf_counter()))
        while not fired:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        delays.append(fired[0] - started)
        time.sleep(0.01)  # like a person's input: not a tight loop on the GUI thread
    return delays


def summary(delays: list[float]) -> tuple[float, float]:
    ordered = sorted(delays)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def run(data_dir: str | None, samples: int) -> dict[str, tuple[float, float]]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch  # noqa: F401
    from PySide6 import QtCore, QtWidgets

    from explorer.main_window import MainWindow
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench"])
    folder = tempfile.mkdtemp(prefix="cvae-bench-gui-")
    if data_dir is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.formats import make_mnist
        data_dir = str(make_mnist(Path(folder) / "data", train=4000, test=500))
    settings = QtCore.QSettings(str(Path(folder) / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(dialogs=False, settings=settings)
    window.resize(1360, 860)
    window.show()
    idle = timer_delays(app, samples)
    panel = window.train_panel
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist"))
    panel.data_dir_edit.setText(data_dir)
    panel.train_form.set_value("epochs", 50)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.output_edit.setText(str(Path(folder) / "run.pt"))
    panel.start()
    while panel.progress.value() == 0 and window.runner.running("train"):
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
    batches_before = panel.progress.value()
    busy = timer_delays(app, samples, until=lambda: not window.runner.running("train"))
    trained = panel.progress.value() - batches_before
    window.runner.shutdown()
    window.close()
    print(f"the job trained {trained} batches of 100 images while the busy window was measured")
    return {"idle window": summary(idle), "while a CPU training job runs": summary(busy)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    if hasattr(os, "getloadavg"):
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, (median, p95) in run(args.data_dir, args.samples).items():
        print(f"{name:<32} 0 ms timer delay: median {median:6.2f} ms, 95th percentile {p95:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
