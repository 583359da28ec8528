"""Edit and Generate's edit modes (issue 20, items 2 and 3): by label, by latent attribute direction or both, with
the directions a checkpoint ships (cvae.derived), decoding exactly what cvae.attribute_edits.edit_inputs gives;
"adjust related attributes" sets the partners cvae.attribute_edits.implied_labels gives and lists them; a file
written before directions were derived keeps the direction modes disabled, saying why."""

from __future__ import annotations

import pytest
import torch

from cvae import latent as L
from cvae.attribute_edits import edit_inputs, implied_labels
from cvae.checkpoint import load_checkpoint
from cvae.data import ImageDataset
from cvae.derived import Derived, derive
from explorer.model_list import open_entry
from explorer.panels.edit import ON, EditPanel
from explorer.panels.generate import GeneratePanel
from explorer.session import Session
from explorer.widgets.attributes import ATTRIBUTE_GROUPS, pretty
from explorer.widgets.attribute_toggles import ON as TOGGLE_ON
from explorer.widgets.edit_mode import NO_DIRECTIONS, NO_ROWS
from tests.explorer.test_interpolate import ini_settings
from tests.fixtures import face_checkpoint

CELEBA = [name for _, members in ATTRIBUTE_GROUPS for name in members]
MALE, MAKEUP, LIPSTICK = (CELEBA.index(n) for n in ("Male", "Heavy_Makeup", "Wearing_Lipstick"))


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))


def training_faces(count: int, split: str) -> ImageDataset:
    """Random 16×16 faces whose labels go together as CelebA's do: make-up and lipstick almost never with Male."""
    generator = torch.Generator().manual_seed(len(split))
    labels = (torch.rand(count, 40, generator=generator) < 0.2).to(torch.uint8)
    male = torch.rand(count, generator=generator) < 0.5
    labels[:, MALE] = male.to(torch.uint8)
    labels[:, MAKEUP] = (~male & (torch.rand(count, generator=generator) < 0.9)).to(torch.uint8)
    labels[:, LIPSTICK] = (~male & (torch.rand(count, generator=generator) < 0.8)).to(torch.uint8)
    images = torch.randint(0, 256, (count, 3, 16, 16), generator=generator, dtype=torch.uint8)
    return ImageDataset("celeba", split, images, labels, list(CELEBA), "attributes")


def face_file(path, directions: bool = True, rows: bool = True):
    """A tiny face model whose derived data is derive()'s on the faces above; without `directions` (or `rows`)
    as a file written before they were derived."""
    def derived(model) -> dict:
        values = derive(model, training_faces(200, "train"), training_faces(20, "test"), sample_faces=6).to_dict()
        if not directions:
            values.pop("attribute_directions")
        if not rows:
            values.pop("attribute_rows")
        return values
    return face_checkpoint(path, names=CELEBA, derived=derived)


def edit_panel(qtbot, tmp_path, **kinds) -> EditPanel:
    tmp_path.mkdir(parents=True, exist_ok=True)
    panel = EditPanel(Session(ini_settings(tmp_path)))
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face_file(tmp_path / "face.pt", **kinds)))
    assert panel.source == "bundled" and len(panel.faces) == 6  # no data folder: the shipped encodings
    return panel


def generate_panel(qtbot, tmp_path, **kinds) -> GeneratePanel:
    tmp_path.mkdir(parents=True, exist_ok=True)
    panel = GeneratePanel(Session(ini_settings(tmp_path)))
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face_file(tmp_path / "face.pt", **kinds)))
    return panel


def shipped(tmp_path) -> Derived:
    return Derived.of(load_checkpoint(tmp_path / "face.pt"))  # read again, not the panel's copy


@pytest.mark.parametrize("mode", ["direction", "both"])
def test_an_edit_by_direction_decodes_exactly_what_edit_inputs_gives(mode, qtbot, tmp_path):
    panel = edit_panel(qtbot, tmp_path)
    directions = shipped(tmp_path).attribute_directions
    assert directions.shape == (40, 8) and panel.edit_mode.mode_enabled(mode)
    panel.set_edit_mode(mode)
    panel.set_attribute("Smiling", ON, 1.5)
    panel.flush()
    target = L.edited_labels(panel.labels, CELEBA, {"Smiling": 1.5})
    codes, labels = edit_inputs(panel.z, panel.labels, target, mode, directions)
    with torch.no_grad():
        expected = panel.model.decode(codes, labels)
    assert torch.equal(panel.edited, expected)
    assert not torch.equal(codes, panel.z)  # the codes moved along Smiling's direction
    assert torch.equal(labels, panel.labels if mode == "direction" else target)
    assert "(by " + mode + ")" in panel.caption.text()
    panel.set_edit_mode("label")  # back to the label edit: the same codes, the target labels
    panel.flush()
    with torch.no_grad():
        assert torch.equal(panel.edited, panel.model.decode(*edit_inputs(panel.z, panel.labels, target, "label")))


def test_adjust_related_attributes_sets_the_implied_partners_and_lists_them(qtbot, tmp_path):
    panel = edit_panel(qtbot, tmp_path)
    rows = shipped(tmp_path).attribute_rows
    assert panel.edit_mode.adjust_related() and panel.edit_mode.mode() == "both"  # the defaults: the best edits
    panel.set_edit_mode("label")
    panel.set_adjust_related(False)
    panel.set_attribute("Male", ON, 1.0)
    panel.flush()
    assert panel.implied == {} and not panel.edit_mode.implied_label.text()  # the single flip
    panel.set_adjust_related(True)
    panel.flush()
    expected, partners = implied_labels(panel.labels, MALE, 1.0, rows)
    assert MAKEUP in partners and LIPSTICK in partners  # what goes with Male in the shipped rows
    assert torch.equal(panel.edited_labels, expected)
    assert panel.implied == {CELEBA[j]: float(expected[0, j]) for j in partners}
    assert panel.implied["Heavy_Makeup"] == 0 and panel.implied["Wearing_Lipstick"] == 0
    line = panel.edit_mode.implied_label.text()
    assert line.startswith("also set: ") and "no Heavy Makeup" in line and "no Wearing Lipstick" in line
    assert all(pretty(CELEBA[j]) in line for j in partners) and line in panel.caption.text()
    with torch.no_grad():
        assert torch.equal(panel.edited, panel.model.decode(panel.z, panel.labels + (expected - panel.labels)))
    panel.set_attribute("Heavy_Makeup", ON, 1.0)  # an attribute the user sets wins over a partner's value
    panel.flush()
    assert torch.all(panel.edited_labels[:, MAKEUP] == 1) and "Heavy_Makeup" not in panel.implied


def test_a_generate_toggle_by_direction_moves_the_prior_codes(qtbot, tmp_path):
    panel = generate_panel(qtbot, tmp_path)
    derived = shipped(tmp_path)
    panel.set_edit_mode("direction")
    panel.strength.set_value(1.5)
    panel.toggles.boxes["Smiling"].setCheckState(TOGGLE_ON)
    panel.flush()
    n, seed, temperature = panel.grid_size() ** 2, panel.seed.value(), panel.temperature.value()
    drawn, _ = L.labels_like_data(n, 40, [derived.attribute_rows], generator=torch.Generator().manual_seed(seed + 1))
    target = L.edited_labels(drawn, CELEBA, {"Smiling": 1.0})
    z = torch.randn(n, 8, generator=torch.Generator().manual_seed(seed)) * temperature  # the prior's codes
    with torch.no_grad():
        expected = panel.model.decode(*edit_inputs(z, drawn, target, "direction", derived.attribute_directions, 1.5))
    assert torch.equal(panel.images, expected)
    assert "+Smiling, by direction ×1.50" in panel.caption.text()
    panel.set_adjust_related(True)
    panel.toggles.boxes["Male"].setCheckState(TOGGLE_ON)
    panel.flush()
    assert "Heavy_Makeup" in panel.implied and "no Heavy Makeup" in panel.caption.text()


def test_old_files_keep_to_labels_and_say_why(qtbot, tmp_path):
    for panel in (edit_panel(qtbot, tmp_path / "e", directions=False, rows=False),
                  generate_panel(qtbot, tmp_path / "g", directions=False, rows=False)):
        box = panel.edit_mode
        assert box.mode() == "label" and box.mode_enabled("label")
        for index, mode in enumerate(("direction", "both")):
            assert not box.mode_enabled(mode)
            assert box.mode_combo.itemData(index + 1, 3) == NO_DIRECTIONS  # 3: Qt's tooltip role
            with pytest.raises(ValueError, match="ships no latent attribute directions"):
                panel.set_edit_mode(mode)
        assert NO_DIRECTIONS in box.mode_combo.toolTip()
        assert not box.related.isEnabled() and box.related.toolTip() == NO_ROWS and not box.adjust_related()
        with pytest.raises(ValueError, match="no training attribute rows"):
            panel.set_adjust_related(True)
    panel = generate_panel(qtbot, tmp_path / "n", directions=False)  # rows but no directions: related works
    assert panel.edit_mode.related.isEnabled() and not panel.edit_mode.mode_enabled("direction")
    panel.set_entry(open_entry(face_file(tmp_path / "new.pt")))  # a newer file next: the modes come back
    assert panel.edit_mode.mode_enabled("direction") and panel.edit_mode.mode_combo.toolTip() != NO_DIRECTIONS
