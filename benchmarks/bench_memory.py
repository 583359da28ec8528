"""Memory over a long interactive session: thousands of live-preview moves (and pins, digit switches and
backdrop redraws) on the latent map must not grow the process's memory without bound.

    python benchmarks/bench_memory.py [--moves 5000] [--checkpoint PATH]

Runs the explorer's main window off-screen on the bundled cVAE (or a given checkpoint), drives the map panel
the way the mouse does, and prints the resident set size (RSS, from /proc/self/statm) every 500 moves: after the
first thousand moves (caches warm) it should stay flat. Importing this file runs nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def run(moves: int, checkpoint: str | None, report_every: int = 500) -> list[tuple[int, float]]:
    """(moves so far, RSS in MB) samples over a scripted session."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch  # noqa: F401  (before Qt, as the app does)
    from PySide6 import QtWidgets

    from explorer.main_window import MainWindow
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench"])
    window = MainWindow(dialogs=False)
    window.resize(1360, 860)
    window.show()
    if checkpoint is None:
        from cvae_explorer_resources import bundled_checkpoints
        paths = [p for p in bundled_checkpoints() if p.name == "mnist-cvae.pt"]
    else:
        paths = [Path(checkpoint)]
    window.open_paths(paths)
    window.select_panel("map")
    panel = window.map_panel
    rng = random.Random(0)
    samples = [(0, rss_mb())]
    for move in range(1, moves + 1):
        panel.preview_at(rng.uniform(-3, 3), rng.uniform(-3, 3))
        if move % 97 == 0:
            panel.pin_at(rng.uniform(-3, 3), rng.uniform(-3, 3))
        if move % 400 == 0:
            panel.clear_pins()
            panel.set_digit(rng.randrange(10))  # re-decodes preview, pins and the backdrop
        if move % 50 == 0:
            app.processEvents()
        if move % report_every == 0:
            samples.append((move, rss_mb()))
    window.close()
    window.deleteLater()  # gone before the interpreter finalises (PySide6 can crash tearing down live widgets)
    app.sendPostedEvents(None, 0)
    app.processEvents()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=5000)
    parser.add_argument("--checkpoint")
    args = parser.parse_args(argv)
    samples = run(args.moves, args.checkpoint)
    for moves, mb in samples:
        print(f"{moves:>7} moves  RSS {mb:8.1f} MB")
    warm = [mb for moves, mb in samples if moves >= 1000]
    if len(warm) >= 2:
        print(f"growth after the first 1,000 moves: {warm[-1] - warm[0]:+.1f} MB over {samples[-1][0] - 1000} moves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
