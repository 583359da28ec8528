"""Generate for face models: grouped tri-state attribute toggles, presets, one decode per change, and the grid is
exactly the decoder's output for the forced attributes on the same latents."""

from __future__ import annotations

import pytest
import torch

from cvae import latent as L
from explorer.model_list import open_entry
from explorer.panels.generate import GeneratePanel
from explorer.widgets.attributes import ATTRIBUTE_GROUPS
from explorer.widgets.attribute_toggles import OFF, ON, SAMPLED
from tests import fixtures

CELEBA = [name for _, members in ATTRIBUTE_GROUPS for name in members]


def face_checkpoint(path, rows: bool = True):
    """The tests' face model with the labels at every decoder layer, CelebA's names in the toggles' order and (with
    `rows`) 50 attribute rows to draw "like the data" from."""
    generator = torch.Generator().manual_seed(0)
    derived = {"attribute_rows": (torch.rand(50, 40, generator=generator) < 0.3).to(torch.uint8)} if rows else {}
    return fixtures.face_checkpoint(path, names=CELEBA, derived=derived, model={"label_every_layer": True})


@pytest.fixture
def panel(qtbot, tmp_path):
    widget = GeneratePanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    widget.set_entry(open_entry(face_checkpoint(tmp_path / "faces.pt")))
    return widget


def test_a_face_model_gets_grouped_attribute_toggles(panel):
    assert GeneratePanel.unavailable_reason(panel.entry) is None
    assert panel.mode == "attributes" and panel.toggles.isVisible() and not panel.digit_combo.isVisible()
    assert sorted(panel.toggles.boxes) == sorted(CELEBA) and len(CELEBA) == 40
    assert all(box.checkState() == SAMPLED for box in panel.toggles.boxes.values())
    assert panel.grid is not None and panel.decodes == 1


def test_related_attributes_are_adjusted_by_default_and_the_mode_is_label(panel):
    """Generate's defaults for a model with training rows: the forced attributes with their related ones, by label
    (prior samples have no code of their own to move)."""
    assert panel.edit_mode.adjust_related() and panel.edit_mode.mode() == "label"


def test_toggling_an_attribute_redraws_once_with_the_same_faces(panel, qtbot):
    panel.set_adjust_related(False)  # the attribute alone
    panel.flush()
    before, decodes = panel.images.clone(), panel.decodes
    panel.toggles.boxes["Smiling"].setCheckState(ON)
    qtbot.waitUntil(lambda: panel.decodes == decodes + 1, timeout=2000)
    qtbot.wait(100)
    assert panel.decodes == decodes + 1  # one decode for the change
    n = panel.grid_size() ** 2
    generator = torch.Generator().manual_seed(panel.seed.value() + 1)
    rows = open_entry(panel.entry.path).checkpoint.derived["attribute_rows"]  # read again, not the panel's copy
    drawn, source = L.labels_like_data(n, 40, [rows], generator=generator)
    labels = L.edited_labels(drawn, CELEBA, {"Smiling": 1.0})
    assert source == L.LIKE_THE_ROWS and torch.all(labels[:, CELEBA.index("Smiling")] == 1)
    expected, _ = L.sample_prior(panel.model, n, labels, temperature=panel.temperature.value(),
                                 seed=panel.seed.value())
    assert torch.equal(panel.images, expected) and not torch.equal(panel.images, before)
    assert "+Smiling" in panel.caption.text()


def test_a_preset_moves_many_boxes_with_one_decode(panel, qtbot):
    decodes = panel.decodes
    index = panel.toggles.preset_combo.findText("Men with moustache")
    panel.toggles.preset_combo.setCurrentIndex(index)
    panel.toggles._preset_chosen(index)
    qtbot.waitUntil(lambda: panel.decodes > decodes, timeout=2000)
    qtbot.wait(100)
    assert panel.decodes == decodes + 1
    assert panel.toggles.state() == {"Male": True, "Mustache": True, "No_Beard": False}
    assert panel.toggles.boxes["No_Beard"].checkState() == OFF


def test_without_attribute_statistics_the_caption_says_so(qtbot, tmp_path):
    widget = GeneratePanel()
    qtbot.addWidget(widget)
    widget.set_entry(open_entry(face_checkpoint(tmp_path / "bare.pt", rows=False)))
    assert "no attribute statistics" in widget.caption.text()
