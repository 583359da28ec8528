"""Shared pytest fixtures for every test folder (cvae/, trainer/, explorer/ and the cross-cutting tests here): a
private data cache, the four tiny checkpoints and the main window on them. The builders they use, and that tests
import, are in tests/fixtures.py; tiny files in the real on-disk formats in tests/formats.py."""

from __future__ import annotations

import pytest

from tests.fixtures import CONFIGS, make_checkpoint


@pytest.fixture(autouse=True)
def private_data_cache(tmp_path_factory, monkeypatch):
    """Decoded-image caches of the tests go to a folder of the test session, never the user's ~/.cache."""
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "data-cache"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """{family: path} for cvae, vae (latent 6), ae (latent 4) and classifier tiny checkpoints."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return {family: make_checkpoint(folder / f"tiny-{family}.pt", family, seed=i)
            for i, family in enumerate(CONFIGS)}


@pytest.fixture
def main_window(qtbot, tiny_checkpoints, tmp_path):
    """The explorer's main window on the four tiny checkpoints, shown; its settings in a file of the test's own."""
    from PySide6 import QtCore

    from explorer.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=True, settings=settings)
    qtbot.addWidget(win)
    win.open_paths([tiny_checkpoints[f] for f in ("cvae", "vae", "ae", "classifier")])
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    return win
