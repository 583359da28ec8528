"""Shared pytest fixtures for every test folder (cvae/, trainer/, explorer/ and the cross-cutting tests here): a
private data cache, the four tiny checkpoints and the main window on them. The builders they use, and that tests
import, are in tests/fixtures.py; tiny files in the real on-disk formats in tests/formats.py."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    """Under pytest-xdist (-n N) each worker takes its share of the cores: N workers with every core's worth of
    torch threads each spin against one another and run slower than one process alone."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(autouse=True)
def private_data_cache(tmp_path_factory, monkeypatch):
    """Decoded-image caches of the tests go to a folder of the test session, never the user's ~/.cache."""
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "data-cache"))


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """{family: path} for cvae, vae (latent 6), ae (latent 4) and classifier tiny checkpoints."""
    from tests.fixtures import CONFIGS, make_checkpoint  # here, not at the top: under -n N the controlling
    #                                                     process runs no test and need not import torch (4 s)
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
