"""The Help menu: mouse gestures, keyboard shortcuts, where the documentation is, and About (versions, device).

The texts are built from the running window and installation (its menus' shortcuts, the installed packages'
versions, the devices torch sees), so they cannot drift from what the explorer does.
"""

from __future__ import annotations

import html
import importlib.metadata
import platform
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

# the project's own documents, relative to its source folder (a checkout, where `pip install -e` runs from)
DOCUMENTS = (("README.md", "setup, the explorer, training (cvae-train), evaluation (cvae-eval), benchmarks"),
             ("docs/explorer.md", "the explorer panel by panel, with screenshots"))


def _source_root() -> Path:
    return Path(__file__).resolve().parent.parent


def menu_shortcuts(window: QtWidgets.QMainWindow) -> list[tuple[str, str]]:
    """(shortcut, "Menu › Action") for every menu action of `window` that has a shortcut, in menu order."""
    rows = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for action in menu.actions():
            keys = action.shortcut()
            if keys.isEmpty():
                continue
            name = menu.title().replace("&", "") + " › " + action.text().replace("&", "")
            rows.append((keys.toString(QtGui.QKeySequence.SequenceFormat.NativeText), name))
    return rows


def shortcuts_text(window: QtWidgets.QMainWindow) -> str:
    rows = menu_shortcuts(window)
    rows.append(("0 – 9", "Latent map › choose the digit or class (models with a class label)"))
    cells = "".join(f"<tr><td><b>{html.escape(keys)}</b>&nbsp;&nbsp;</td><td>{html.escape(name)}</td></tr>"
                    for keys, name in rows)
    return f"<table>{cells}</table><p>Mouse gestures on the latent map: Help › Mouse gestures.</p>"


def documents() -> list[tuple[Path, str, bool]]:
    """(path, what it covers, whether it is on this machine) for README.md and docs/explorer.md."""
    root = _source_root()
    return [(root / name, what, (root / name).is_file()) for name, what in DOCUMENTS]


def documentation_text() -> str:
    lines = []
    for path, what, present in documents():
        if present:
            lines.append(f'<li><a href="{QtCore.QUrl.fromLocalFile(str(path)).toString()}">{html.escape(str(path))}'
                         f"</a>: {html.escape(what)}</li>")
        else:
            lines.append(f"<li>{html.escape(path.relative_to(_source_root()).as_posix())} in the project's source "
                         f"folder (not installed with the package): {html.escape(what)}</li>")
    commands = ("<p>On the command line: <code>cvae-explorer --help</code>, <code>cvae-train --help</code>, "
                "<code>cvae-eval --help</code>.</p>")
    return f"<p>The documentation:</p><ul>{''.join(lines)}</ul>{commands}"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """What the About box names: the explorer, Python, torch (and its CUDA), torchvision, PySide6/Qt, pyqtgraph."""
    import pyqtgraph
    import PySide6
    import torch
    cuda = f" (CUDA {torch.version.cuda})" if torch.version.cuda else ""
    return {"cvae-explorer": _version("cvae-explorer"), "Python": platform.python_version(),
            "torch": f"{torch.__version__}{cuda}", "torchvision": _version("torchvision"),
            "PySide6": PySide6.__version__, "Qt": QtCore.qVersion(), "pyqtgraph": pyqtgraph.__version__}


def devices() -> dict[str, str]:
    """Where the explorer's models run (the CPU: checkpoints open there), and what training and evaluation with
    device `auto` would use on this machine."""
    import torch

    from cvae.device import resolve_device
    auto = resolve_device("auto")
    if auto.type == "cuda":
        count = torch.cuda.device_count()
        name = torch.cuda.get_device_name(0)
        trained = f"CUDA GPU: {name}" + (f" (and {count - 1} more)" if count > 1 else "")
    elif auto.type == "mps":
        trained = "Apple GPU (MPS)"
    else:
        trained = "CPU (no CUDA or MPS device found)"
    return {"Explorer previews, samples and edits": f"CPU ({torch.get_num_threads()} threads)",
            "Train and Evaluate with device auto": trained}


def about_text() -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                   for k, v in {**versions(), **devices()}.items())
    return ("<h3>cVAE Explorer</h3><p>Train conditional VAEs on labelled images and explore what they learned.</p>"
            f"<table>{rows}</table>")


def _show(parent, title: str, text: str) -> None:
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Information, title, text,
                                QtWidgets.QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(QtCore.Qt.TextFormat.RichText)
    box.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextBrowserInteraction)  # links open, text copies
    box.exec()


def add_help_menu(window, gestures) -> QtWidgets.QMenu:
    """Help › Mouse gestures, Keyboard shortcuts, Documentation, About. `gestures()` is the map's gesture text."""
    menu = window.menuBar().addMenu("&Help")
    menu.addAction("Mouse gestures").triggered.connect(
        lambda: QtWidgets.QMessageBox.information(window, "Latent map gestures", gestures().replace("  ·  ", "\n")))
    menu.addAction("Keyboard shortcuts").triggered.connect(
        lambda: _show(window, "Keyboard shortcuts", shortcuts_text(window)))
    menu.addAction("Documentation").triggered.connect(
        lambda: _show(window, "Documentation", documentation_text()))
    about = menu.addAction("About cVAE Explorer")
    about.setMenuRole(QtGui.QAction.MenuRole.AboutRole)
    about.triggered.connect(lambda: _show(window, "About cVAE Explorer", about_text()))
    return menu
