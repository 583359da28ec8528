"""Shared fixtures: tiny random-weight checkpoints in the real on-disk format (no data folder needed)."""

from __future__ import annotations

import pytest
import torch

from cvae.checkpoint import Checkpoint, save_checkpoint
from cvae.models import (AutoencoderConfig, BetaCVAEConfig, ClassifierConfig, ConditionalVAEConfig, VAEConfig,
                         build_model)

TINY = dict(image_size=(28, 28), conv_channels=(4, 8), hidden_dim=16)
CONFIGS = {
    # wired like the bundled cVAE, so the explorer's tests run the same decoder paths
    "cvae": lambda: ConditionalVAEConfig(**TINY, label_channels=True, label_every_layer=True, warp_probability=0.5,
                                         decoder_dropout=0.1),
    "vae": lambda: VAEConfig(latent_dim=6, **TINY),
    "ae": lambda: AutoencoderConfig(latent_dim=4, **TINY),
    "classifier": lambda: ClassifierConfig(**TINY),
}
FACE_CONFIG = lambda: BetaCVAEConfig(image_size=(16, 16), conv_channels=(4, 8), hidden_dim=16,  # noqa: E731
                                     latent_dim=8, num_attributes=40)
ATTRIBUTES = [f"Attribute_{i}" for i in range(40)]


def make_checkpoint(path, family: str = "cvae", seed: int = 0, encodings: int = 200):
    """Write a tiny checkpoint of `family` with random weights and fake test encodings; returns the path."""
    torch.manual_seed(seed)
    if family == "beta-cvae":  # a face model: 16×16 RGB, 40 attributes, no class labels
        model = build_model(FACE_CONFIG()).eval()
        checkpoint = Checkpoint(
            model=model, label_names=ATTRIBUTES,
            dataset={"name": "celeba", "split": "train", "count": 8, "channels": 3, "image_size": [16, 16],
                     "label_kind": "attributes"},
            train_config={"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "beta": 1.0, "seed": seed},
            epoch=1, metrics={"test_nelbo": 1234.5})
        return save_checkpoint(checkpoint, path)
    model = build_model(CONFIGS[family]()).eval()
    derived = {}
    if family != "classifier" and encodings:
        generator = torch.Generator().manual_seed(seed)
        derived = {"test_encodings": torch.randn(encodings, model.latent_dim, generator=generator),
                   "test_labels": torch.arange(encodings) % 10}
    checkpoint = Checkpoint(
        model=model, label_names=[str(d) for d in range(10)],
        dataset={"name": "mnist", "split": "train", "count": 100, "channels": 1, "image_size": [28, 28],
                 "label_kind": "class"},
        train_config={"epochs": 1, "batch_size": 10, "learning_rate": 1e-3, "beta": 1.0, "seed": seed},
        epoch=1, metrics={"test_nelbo": 543.21, "test_accuracy": 0.1} if family == "classifier" else
        {"test_nelbo": 543.21, "test_rec": 540.0, "test_kl": 3.21},
        derived=derived)
    return save_checkpoint(checkpoint, path)


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
