"""The Help menu: mouse gestures, keyboard shortcuts, where the documentation is, About (versions and device)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

import pyqtgraph
import PySide6
import torch

from explorer import help as help_menu
from explorer.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def boxes(monkeypatch):
    """Record the Help menu's message boxes (title, text) instead of showing them."""
    shown = []
    monkeypatch.setattr(help_menu, "_show", lambda parent, title, text: shown.append((title, text)))
    monkeypatch.setattr(QtWidgets.QMessageBox, "information",
                        lambda parent, title, text, *a, **k: shown.append((title, text)))
    return shown


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    return win


def trigger(window, text: str) -> None:
    actions = {action.text(): action for action in window.help_menu.actions()}
    actions[text].trigger()


def plain(html_text: str) -> str:
    document = QtGui.QTextDocument()
    document.setHtml(html_text)
    return document.toPlainText()


def test_the_help_menu_has_its_four_entries(window):
    assert [a.text() for a in window.help_menu.actions()] == [
        "Mouse gestures", "Keyboard shortcuts", "Documentation", "About cVAE Explorer"]


def test_mouse_gestures(window, boxes):
    trigger(window, "Mouse gestures")
    title, text = boxes[-1]
    assert title == "Latent map gestures" and "Click: pin" in text and "Drag: sweep" in text


def test_keyboard_shortcuts_lists_every_menu_shortcut(window, boxes):
    trigger(window, "Keyboard shortcuts")
    title, text = boxes[-1]
    text = plain(text)
    assert title == "Keyboard shortcuts"
    expected = []
    for menu_action in window.menuBar().actions():  # read back from the menus, not from a copy of the list
        for action in menu_action.menu().actions():
            if not action.shortcut().isEmpty():
                expected.append(action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText))
    assert len(expected) >= 7  # Ctrl+O and the six panels at least
    for keys in expected:
        assert keys in text
    assert "View › Latent map" in text and "View › Evaluate" in text and "File › Open…" in text
    assert "0 – 9" in text  # the latent map's class keys


def test_a_shortcut_added_to_a_menu_shows_up(window):
    action = window.menuBar().actions()[0].menu().addAction("Something new")
    action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+K"))
    keys = action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
    assert (keys, "File › Something new") in help_menu.menu_shortcuts(window)


def test_documentation_names_the_readme_and_the_explorer_guide(window, boxes):
    trigger(window, "Documentation")
    title, text = boxes[-1]
    assert title == "Documentation"
    for name in ("README.md", "docs/explorer.md"):
        path = ROOT / name
        assert path.is_file()
        assert str(path) in plain(text)
        assert QtCore.QUrl.fromLocalFile(str(path)).toString() in text  # a link that opens it
    assert "cvae-train --help" in plain(text)


def test_documentation_without_the_source_folder_says_where_it_is(monkeypatch, tmp_path):
    monkeypatch.setattr(help_menu, "_source_root", lambda: tmp_path)  # an install without the checkout
    text = plain(help_menu.documentation_text())
    assert "README.md in the project's source folder" in text and "docs/explorer.md" in text


def test_about_names_the_versions_and_the_device(window, boxes):
    trigger(window, "About cVAE Explorer")
    title, text = boxes[-1]
    text = plain(text)
    assert title == "About cVAE Explorer"
    assert importlib.metadata.version("cvae-explorer") in text
    assert torch.__version__ in text and PySide6.__version__ in text and QtCore.qVersion() in text
    assert pyqtgraph.__version__ in text
    assert "Explorer previews, samples and edits" in text and "CPU" in text
    assert "Train and Evaluate with device auto" in text


@pytest.mark.parametrize("kind, expected", [("cuda", "CUDA GPU: Fake GPU 9000"), ("mps", "Apple GPU (MPS)"),
                                            ("cpu", "CPU (no CUDA or MPS device found)")])
def test_about_names_the_training_device_auto_picks(monkeypatch, kind, expected):
    import cvae.device
    monkeypatch.setattr(cvae.device, "resolve_device", lambda name="auto": torch.device(kind))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU 9000")
    assert help_menu.devices()["Train and Evaluate with device auto"] == expected
