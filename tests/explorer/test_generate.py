"""The generate panel: same seed → same grid, PNG export, unconditional VAE, autoencoder reconstructions."""

from __future__ import annotations

import pytest
import torch
from PySide6 import QtGui

from cvae import latent as L
from explorer.images import to_qimage
from explorer.panels.generate import GeneratePanel
from explorer.model_list import open_entry
from explorer.session import Session
from tests.explorer.test_interpolate import ini_settings


@pytest.fixture
def panel(qtbot, monkeypatch, tmp_path):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    widget = GeneratePanel(Session(ini_settings(tmp_path)))
    qtbot.addWidget(widget)
    return widget


def test_same_seed_same_grid_and_digit_samples(panel, tiny_checkpoints):
    entry = open_entry(tiny_checkpoints["cvae"])
    panel.set_entry(entry)
    panel.digit_combo.setCurrentIndex(panel.digit_combo.findData(3))
    panel.seed.setValue(42)
    first = panel.grid.clone()
    expected, _ = L.sample_prior(entry.checkpoint.model, 64, torch.tensor([3]), temperature=1.0, seed=42)
    assert torch.equal(panel.images, expected)
    panel.seed.setValue(43)
    assert not torch.equal(panel.grid, first)
    panel.seed.setValue(42)
    assert torch.equal(panel.grid, first)


def shown(panel) -> QtGui.QImage:
    """The picture the panel's view paints (a copy)."""
    return panel.view._image.copy()


def test_resample_redraws_the_grid_with_the_new_seed(panel, tiny_checkpoints):
    entry = open_entry(tiny_checkpoints["cvae"])
    panel.set_entry(entry)
    panel.digit_combo.setCurrentIndex(panel.digit_combo.findData(3))
    panel.seed.setValue(42)
    panel.resize(500, 400)
    before, painted_before = shown(panel), panel.view.grab().toImage()
    panel.resample_button.click()
    seed = panel.seed.value()
    assert seed != 42
    after, painted_after = shown(panel), panel.view.grab().toImage()
    assert after != before and painted_after != painted_before  # the grid on screen changed
    fresh, _ = L.sample_prior(entry.checkpoint.model, 64, torch.tensor([3]), temperature=1.0, seed=seed)
    assert after == to_qimage(L.tile(fresh, 8, padding=2, pad_value=0.5))  # ... to the samples of the new seed
    assert str(seed) in panel.caption.text()


def test_all_digits_and_temperature(panel, tiny_checkpoints):
    entry = open_entry(tiny_checkpoints["cvae"])
    panel.set_entry(entry)
    panel.temperature.setValue(0.5)
    panel.digit_combo.setCurrentIndex(panel.digit_combo.findData(-1))
    labels = torch.arange(10).repeat_interleave(8)
    expected, _ = L.sample_prior(entry.checkpoint.model, 80, labels, temperature=0.5, seed=panel.seed.value())
    assert torch.equal(panel.images, expected)


def test_save_png(panel, tiny_checkpoints, tmp_path):
    panel.set_entry(open_entry(tiny_checkpoints["cvae"]))
    path = panel.save_png(tmp_path / "grid.png")
    image = QtGui.QImage(str(path))
    assert path.stat().st_size > 0 and image.width() == panel.grid.shape[2] and image.height() == panel.grid.shape[1]


def test_vae_samples_unconditionally(panel, tiny_checkpoints):
    entry = open_entry(tiny_checkpoints["vae"])
    panel.set_entry(entry)
    assert not panel.digit_combo.isEnabled() and "unconditional" in panel.digit_combo.toolTip()
    expected, _ = L.sample_prior(entry.checkpoint.model, 64, None, seed=panel.seed.value())
    assert torch.equal(panel.images, expected)


def test_autoencoder_without_data_folder_asks_for_one(panel, tiny_checkpoints, tmp_path):
    panel.set_entry(open_entry(tiny_checkpoints["ae"]))
    assert not panel.message_box.isHidden()
    assert "data folder" in panel.message.text() and panel.grid is None
    assert not panel.save_button.isEnabled()
    panel.session.set_data_dir(tmp_path)  # an empty folder: a clear message, no crash
    assert panel.wait_for_test_set()
    assert not panel.message_box.isHidden() and "Cannot read" in panel.message.text()


def test_autoencoder_reconstructs_test_images(panel, tiny_checkpoints, tmp_path):
    from tests.formats import make_mnist  # the core tests' writer of a tiny MNIST in torchvision's layout
    make_mnist(tmp_path, train=10, test=40)
    panel.set_entry(open_entry(tiny_checkpoints["ae"]))
    panel.session.set_data_dir(tmp_path)
    assert panel.wait_for_test_set()
    assert panel.message_box.isHidden()
    assert panel.images.shape[0] == 64 and panel.grid is not None
