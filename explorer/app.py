"""`cvae-explorer`: open the bundled models (and any given checkpoints) in the explorer window.

    cvae-explorer [CHECKPOINT ...] [--model NAME] [--panel map|generate] [--screenshot FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PANELS = ("map", "generate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvae-explorer", description="Explore what conditional VAEs learned: latent map, generation.",
        epilog="example: cvae-explorer --panel map --screenshot map.png")
    parser.add_argument("checkpoints", nargs="*", type=Path, help="checkpoints to open besides the bundled ones")
    parser.add_argument("--model", help="select this model on start (file name, stem or part of it)")
    parser.add_argument("--panel", choices=PANELS, default="map", help="the panel shown on start (default map)")
    parser.add_argument("--no-bundled", action="store_true", help="do not open the bundled checkpoints")
    parser.add_argument("--data-dir", type=Path, help="data folder for test images (default: $CVAE_DATA_DIR)")
    parser.add_argument("--digit", type=int, help="digit selected on the latent map")
    parser.add_argument("--pin", action="append", default=[], metavar="X,Y",
                        help="pin this latent-map point on start (repeatable)")
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


def _bundled() -> list[Path]:
    try:
        from resources import bundled_checkpoints
    except ImportError as exc:  # e.g. a stale editable install that sees `resources` as a namespace package
        print(f"cvae-explorer: cannot list the bundled models ({exc}); reinstall the package", file=sys.stderr)
        return []
    return bundled_checkpoints()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = _size(args.size)
    pins = [_pin(p) for p in args.pin]
    if args.screenshot and not os.environ.get("QT_QPA_PLATFORM") and not os.environ.get("DISPLAY") \
            and sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    # torch and numpy before Qt: once PySide6 is imported it reads the source of every module imported after it
    # (its __feature__ check), which costs about a second for torch's thousand modules
    import numpy  # noqa: F401
    import torch  # noqa: F401
    from PySide6 import QtWidgets

    import pyqtgraph as pg  # noqa: F401  (after Qt is chosen)
    from explorer.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["cvae-explorer"])
    app.setApplicationName("cVAE Explorer")
    window = MainWindow(data_dir=args.data_dir, dialogs=args.screenshot is None)
    window.resize(*size)
    if args.screenshot is None:
        window.show()  # error dialogs then appear over the window
    if not args.no_bundled:
        window.open_paths(_bundled(), bundled=True)
    opened = window.open_paths(args.checkpoints)
    if args.model:
        if not window.select_model(args.model):
            window.report_error("No such model", f"no open model matches --model {args.model!r}")
    elif opened and any(p.unavailable_reason(opened[0]) is None for p in window.panels):
        window.select_model(window.model_list.entries.index(opened[0]))
    else:
        window.select_first_explorable()
    if not window.model_list.entries:
        window.statusBar().showMessage("No models: use File › Open… to open a checkpoint")
    if args.digit is not None:
        window.map_panel.set_digit(args.digit)
    for x, y in pins:
        window.map_panel.pin_at(x, y)
    if not window.select_panel(args.panel):
        print(f"cvae-explorer: the {args.panel} panel does not apply to the selected model", file=sys.stderr)

    if args.screenshot is not None:
        return _screenshot(app, window, args.screenshot)
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
