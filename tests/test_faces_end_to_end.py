"""A face model from end to end: a CelebA-HQ-style folder on disk → the training loop → a checkpoint → the
explorer."""

from __future__ import annotations

import math

import torch

from cvae.checkpoint import load_checkpoint
from cvae.data import load_dataset
from tests.fixtures import face_model
from tests.formats import ATTRIBUTES, make_celeba_hq
from trainer.config import TrainConfig
from trainer.loop import Trainer


def test_beta_cvae_trained_on_faces_reloads_and_opens_in_the_explorer(tmp_path, qtbot):
    faces = make_celeba_hq(tmp_path / "faces", count=10, size=16)  # the last image is the held-out test set
    train = load_dataset("celeba", faces, "train", image_size=16)
    test = load_dataset("celeba", faces, "test", image_size=16)
    assert train.images.shape == (9, 3, 16, 16) and train.labels.shape == (9, 40) and len(test) == 1

    torch.manual_seed(0)
    model = face_model(latent_dim=4)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / "faces-beta.pt"
    config = TrainConfig(epochs=1, batch_size=4, beta=2.0, device="cpu", sample_count=4)
    result = Trainer(model, train, test, config, path).run()
    assert result.status == "finished" and result.epoch == 1 and path.is_file()

    loaded = load_checkpoint(path, device="cpu")
    assert loaded.family == "beta-cvae" and loaded.epoch == 1 and loaded.label_names == ATTRIBUTES
    assert loaded.model.config.image_channels == 3 and loaded.model.config.num_attributes == 40
    assert loaded.dataset["name"] == "celeba" and loaded.dataset["label_kind"] == "attributes"
    assert loaded.dataset["image_size"] == [16, 16] and loaded.dataset["count"] == 9
    assert loaded.train_config["beta"] == 2.0 and math.isfinite(loaded.metrics["test_nelbo"])
    assert loaded.derived["test_encodings"].shape == (1, 4)
    saved = loaded.model.state_dict()
    assert any(not torch.equal(saved[k], initial[k]) for k in initial)  # one epoch of training moved the weights
    z, attributes = torch.randn(3, 4), test.labels[:1].float()
    model.eval()
    with torch.no_grad():
        decoded = loaded.model.decode(z, attributes)
        assert decoded.shape == (3, 3, 16, 16)
        assert torch.allclose(decoded, model.decode(z, attributes), atol=1e-5)  # the trained model, not another

    from explorer.main_window import MainWindow
    window = MainWindow(dialogs=False)
    qtbot.addWidget(window)
    opened = window.open_paths([path])
    assert len(opened) == 1 and window.errors == []
    assert window.current_entry() is opened[0]
    card = window.card.text()
    assert "faces-beta" in card and "β-CVAE" in card and "celeba, 9 train images, 16×16, 3 channels" in card
    assert "40: Attr_0, Attr_1" in card
    map_tab = window.tabs.indexOf(window.map_panel)
    assert not window.tabs.isTabEnabled(map_tab)
    assert "attribute" in window.tabs.tabToolTip(map_tab) and "class" in window.tabs.tabToolTip(map_tab)
    assert window.map_panel.entry is None and not window.select_panel("map")
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    window.flush()
    assert window.errors == []


def test_a_face_set_smaller_than_the_sample_preview_trains(tmp_path):
    """The per-epoch preview draws 16 attribute rows; a test split of 3 faces repeats them instead of failing."""
    from cvae.data import load_dataset
    from trainer import TrainConfig, Trainer
    root = make_celeba_hq(tmp_path / "faces", count=12, size=16)
    train = load_dataset("celeba", root, "train", image_size=16)
    test = load_dataset("celeba", root, "test", image_size=16)
    assert len(test) < 16
    model = face_model(latent_dim=4)
    result = Trainer(model, train, test, TrainConfig(epochs=1, batch_size=4, device="cpu"), tmp_path / "f.pt").run()
    assert result.status == "finished" and result.epoch == 1
