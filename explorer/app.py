"""`cvae-explorer`: open the bundled models (and any given checkpoints) in the explorer window.

    cvae-explorer [CHECKPOINT ...] [--model NAME] [--panel map|generate|interpolate|edit|train|evaluate]
                  [--attributes NAME=1,NAME=0,...] [--screenshot FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PANELS = ("map", "generate", "interpolate", "edit", "train", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvae-explorer", description="Explore what conditional VAEs learned: latent map, generation.",
        epilog="example: cvae-explorer --panel map --screenshot map.png")
    parser.add_argument("checkpoints", nargs="*", type=Path, help="checkpoints to open besides the bundled ones")
    parser.add_argument("--model", help="select this model on start (file name, stem or part of it)")
    parser.add_argument("--panel", choices=PANELS,
                        help="the panel shown on start (default: map, or the first that applies to the model)")
    parser.add_argument("--no-bundled", action="store_true", help="do not open the bundled checkpoints")
    parser.add_argument("--data-dir", type=Path, help="data folder of every panel for this session, not remembered "
                        "(default: the remembered folder, else $CVAE_DATA_DIR)")
    parser.add_argument("--digit", type=int, help="digit selected on the latent map")
    parser.add_argument("--pin", action="append", default=[], metavar="X,Y",
                        help="pin this latent-map point on start (repeatable)")
    parser.add_argument("--attributes", metavar="NAME=V,...",
                        help="face models: force these attributes on start (Generate: 1 on, 0 off; Edit: the value, "
                        "e.g. Smiling=1.5), e.g. Smiling=1,Eyeglasses=1")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="render the window off-screen to this PNG and exit")
    parser.add_argument("--size", default="1360x860", metavar="WxH", help="window size (default 1360x860)")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"cvae-explorer: --size must look like 1360x860, got {text!r}") from None
    return max(400, width), max(300, height)


def _pin(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"cvae-explorer: --pin must look like 0.5,-1.2, got {text!r}") from None
    return x, y


def _attributes(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"cvae-explorer: --attributes must look like Smiling=1,Male=0, got {part!r}") from None
    return out


def _force_attributes(window, forced: dict[str, float]) -> str | None:
    """Set the Generate toggles and the Edit rows of a face model; a reason when they cannot be set."""
    entry = window.current_entry()
    if entry is None or not entry.checkpoint.capabilities.takes_attributes:
        return "--attributes applies to face models (attribute-conditioned) only"
    names = set(entry.checkpoint.label_names or [])
    unknown = sorted(set(forced) - names)
    if unknown:
        return f"--attributes: {', '.join(unknown)} not among the model's attributes"
    window.generate_panel.toggles.set_state({name: value > 0 for name, value in forced.items()})
    from explorer.panels.edit import OFF, ON
    for name, value in forced.items():
        window.edit_panel.set_attribute(name, ON if value > 0 else OFF, value if value > 0 else None)
    return None


def _bundled() -> list[Path]:
    try:
        from cvae_explorer_resources import bundled_checkpoints
    except ImportError as exc:  # e.g. an install from before the package was named so
        print(f"cvae-explorer: cannot list the bundled models ({exc}); reinstall the package", file=sys.stderr)
        return []
    return bundled_checkpoints()


EXIT_NOT_SHOWN = 2  # what was asked for (a checkpoint, --model, --panel) could not be shown


def _splash(app):
    """A plain splash with a status line, shown before the heavy imports (torch alone takes seconds)."""
    import time

    from PySide6 import QtCore, QtGui, QtWidgets

    class Splash(QtWidgets.QSplashScreen):
        """QSplashScreen without its own waits. Qt's blocks in show() and in finish() until the window is
        reported exposed, for up to a second each, in processEvents(..., 1000 ms), which keeps waiting for more
        events after the expose event came: every start lost a second before the splash (and another before the
        window). Here the splash waits for its own expose event only, and finish() closes it."""

        def event(self, event):  # noqa: N802 (Qt naming)
            if event.type() == QtCore.QEvent.Type.Show:
                return QtWidgets.QWidget.event(self, event)  # skips QSplashScreen's wait for the window
            return super().event(event)

        def finish(self, window):  # noqa: N802
            self.close()

    pixmap = QtGui.QPixmap(460, 150)
    pixmap.fill(QtGui.QColor("#20242b"))
    painter = QtGui.QPainter(pixmap)
    painter.setPen(QtGui.QColor("white"))
    font = painter.font()
    font.setPointSize(18)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(QtCore.QRect(24, 24, 420, 40), QtCore.Qt.AlignmentFlag.AlignLeft, "cVAE Explorer")
    font.setPointSize(10)
    font.setBold(False)
    painter.setFont(font)
    painter.setPen(QtGui.QColor("#b0b8c4"))
    painter.drawText(QtCore.QRect(24, 62, 420, 24), QtCore.Qt.AlignmentFlag.AlignLeft,
                     "latent maps, samples and edits of conditional VAEs")
    painter.end()
    splash = Splash(pixmap)
    splash.show()
    handle = splash.windowHandle()
    deadline = time.perf_counter() + 1.0  # a display that never says: go on after a second, as Qt did
    while handle is not None and not handle.isExposed() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.002)
    splash.repaint()
    return splash


def _say(app, splash, text: str) -> None:
    if splash is not None:
        from PySide6 import QtCore, QtGui

        splash.showMessage(text, QtCore.Qt.AlignmentFlag.AlignBottom | QtCore.Qt.AlignmentFlag.AlignLeft,
                           QtGui.QColor("white"))
    app.processEvents()
    if os.environ.get(STARTUP_LOG_ENV):
        print(f"startup: {text}", file=sys.stderr, flush=True)


STARTUP_LOG_ENV = "CVAE_EXPLORER_STARTUP_LOG"  # print each start-up step on stderr (benchmarks/bench_explorer.py)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = _size(args.size)
    pins = [_pin(p) for p in args.pin]
    forced = _attributes(args.attributes)
    if args.screenshot and not os.environ.get("QT_QPA_PLATFORM") and not os.environ.get("DISPLAY") \
            and sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    # Qt first, for something on screen at once; then torch (seconds) behind a splash that says so
    from PySide6 import QtWidgets

    from explorer.pyside_hooks import disable_feature_source_check
    disable_feature_source_check()  # before torch: PySide6 would read the source of every module imported next
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["cvae-explorer"])
    app.setApplicationName("cVAE Explorer")
    splash = None if args.screenshot is not None else _splash(app)
    _say(app, splash, "Loading PyTorch…")
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import pyqtgraph as pg  # noqa: F401  (after Qt is chosen)
    from explorer.main_window import MainWindow

    _say(app, splash, "Building the window…")
    window = MainWindow(data_dir=args.data_dir, dialogs=args.screenshot is None)
    window.resize(*size)
    if not args.no_bundled:
        window.show_loading("Loading the bundled models…")  # not "No model is open" for the second they take
    if args.screenshot is None:
        window.show()  # error dialogs then appear over the window
        if splash is not None:
            splash.finish(window)
        _say(app, None, "window shown")
    failures = []
    if not args.no_bundled:
        window.statusBar().showMessage("Opening the bundled models…")
        app.processEvents()
        window.open_paths(_bundled(), bundled=True)
        window.show_loading(None)
    errors_before = len(window.errors)
    opened = window.open_paths(args.checkpoints)
    failures += window.errors[errors_before:]
    if args.model:
        if not window.select_model(args.model):
            message = f"no open model matches --model {args.model!r}"
            window.report_error("No such model", message)
            failures.append(message)
    elif opened:
        window.select_model(window.model_list.entries.index(opened[0]))  # the first file given, as documented
    else:
        window.select_first_explorable()
    if not window.model_list.entries:
        failures.append("no model is open")
    if args.digit is not None:
        window.map_panel.set_digit(args.digit)
    for x, y in pins:
        window.map_panel.pin_at(x, y)
    if forced:
        problem = _force_attributes(window, forced)
        if problem:
            print(f"cvae-explorer: {problem}", file=sys.stderr)
            failures.append(problem)
    if args.panel is None:
        window.select_panel("map")  # when the map does not apply, the first panel that does stays shown
    elif window.current_entry() is not None and not window.select_panel(args.panel):
        reason = window.panel(args.panel).unavailable_reason(window.current_entry())
        message = f"the {args.panel} panel does not apply to {window.current_entry().name}: {reason}"
        print(f"cvae-explorer: {message}", file=sys.stderr)
        failures.append(message)
    _say(app, None, "models open")

    if args.screenshot is not None:
        code = _screenshot(app, window, args.screenshot)
        if failures and code == 0:
            print("cvae-explorer: wrote the screenshot, but not all that was asked for could be shown (exit 2)",
                  file=sys.stderr)
            return EXIT_NOT_SHOWN
        return code
    if os.environ.get(STARTUP_LOG_ENV) == "exit":  # benchmarks: measure start-up, then leave
        return 0
    return app.exec()


def _screenshot(app, window, path: Path) -> int:
    window.show()
    for _ in range(3):
        app.processEvents()
    window.flush()
    app.processEvents()
    pixmap = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True) if str(path.parent) else None
    ok = pixmap.save(str(path), "PNG")
    window.close()
    window.deleteLater()
    app.processEvents()
    if not ok:
        print(f"cvae-explorer: could not write the screenshot {path}", file=sys.stderr)
        return 1
    print(f"cvae-explorer: wrote {path} ({pixmap.width()}×{pixmap.height()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
