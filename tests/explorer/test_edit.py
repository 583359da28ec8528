"""The Edit panel: held-out faces of both CelebA layouts encoded under their own labels and decoded under edited ones;
unchanged labels give the plain reconstruction exactly; the strength moves the output monotonically; one batched
decode per change; presets only where the attribute names exist; class targets; bundled encodings without data; a
judge's readings; bad attribute files reported in the panel; the test set loaded off the GUI thread."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from cvae import latent as L
from explorer.model_list import open_entry
from explorer.panels.edit import KEEP, OFF, ON, EditPanel
from explorer.session import Session
from tests.explorer.test_interpolate import (LAYOUTS, SlowLoads, bad_attribute_file, ini_settings, record_dialogs,
                                             wait_for_test_set)
from tests.fixtures import face_checkpoint, face_folder, face_judge, held_out
from tests.formats import CELEBA_NAMES, make_mnist



@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))


def make_panel(qtbot, tmp_path, data_dir=None, judge=None) -> EditPanel:
    session = Session(ini_settings(tmp_path, data_dir))
    session.judge = judge
    panel = EditPanel(session)
    qtbot.addWidget(panel)
    return panel


def loaded_panel(qtbot, tmp_path, layout="celeba-hq", names=None, judge=None):
    root = face_folder(tmp_path / "data", layout)
    entry = open_entry(face_checkpoint(tmp_path / "face.pt", **({"names": names} if names else {})))
    panel = make_panel(qtbot, tmp_path, root, judge)
    panel.set_entry(entry)
    wait_for_test_set(qtbot, panel)
    return panel, entry, root


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unchanged_labels_give_the_reconstruction_exactly(layout, qtbot, tmp_path):
    panel, entry, root = loaded_panel(qtbot, tmp_path, layout)
    assert panel.message.text() == "" and panel.source == "test"
    data = held_out(root)
    k = min(panel.count.value(), len(data))
    assert len(panel.faces) == k >= 2
    model = entry.checkpoint.model
    images, labels = data.images[:k].float() / 255, data.labels[:k].float()
    reconstruction = L.decode(model, L.encode_means(model, images, labels), labels)
    assert torch.equal(panel.originals, images)
    assert torch.equal(panel.reconstructions, reconstruction)
    assert torch.equal(panel.edited, reconstruction)
    panel.set_attribute("Attr_3", ON, 2.0)  # edit, then back: the reconstruction again
    panel.flush()
    assert not torch.equal(panel.edited, reconstruction)
    panel.set_attribute("Attr_3", KEEP)
    panel.flush()
    assert torch.equal(panel.edited, reconstruction)
    assert len(panel.tiles) == k and len(panel.tiles[0].views) == 3


def test_strength_moves_the_output_monotonically(qtbot, tmp_path):
    panel, _, _ = loaded_panel(qtbot, tmp_path)
    outputs = {}
    for strength in (0.0, 1.0, 2.0):
        panel.set_attribute("Attr_7", ON, strength)
        panel.flush()
        assert torch.all(panel.edited_labels[:, 7] == strength)
        outputs[strength] = panel.edited.clone()
    distance = {s: (outputs[s] - outputs[0.0]).norm().item() for s in outputs}
    assert distance[0.0] == 0 < distance[1.0] < distance[2.0]
    panel.set_attribute("Attr_7", OFF)  # off is the value 0
    panel.flush()
    assert torch.equal(panel.edited, outputs[0.0])
    assert panel.attribute_state("Attr_7") == (OFF, 2.0)
    assert not panel.rows["Attr_7"].strength.isEnabled()


def test_one_batched_decode_per_change(qtbot, tmp_path, monkeypatch):
    panel, entry, _ = loaded_panel(qtbot, tmp_path)
    model = entry.checkpoint.model
    calls = []
    real = model.decode
    monkeypatch.setattr(model, "decode", lambda z, labels=None: calls.append(len(z)) or real(z, labels))
    before = panel.decodes
    panel.set_attribute("Attr_1", ON)
    panel.set_attribute("Attr_2", OFF)
    for value in (20, 60, 120, 150):  # a slider dragged
        panel.rows["Attr_1"].strength.slider.setValue(value)
    qtbot.waitUntil(lambda: panel.decodes > before, timeout=2000)
    qtbot.wait(80)
    assert panel.decodes == before + 1 and calls == [len(panel.faces)]
    assert torch.all(panel.edited_labels[:, 1] == 1.5) and torch.all(panel.edited_labels[:, 2] == 0)


def test_presets_need_their_attribute_names(qtbot, tmp_path):
    panel, _, _ = loaded_panel(qtbot, tmp_path)  # attributes called Attr_0 …: no presets
    assert panel.preset_combo.count() == 1 and panel.preset_combo.itemData(0) is None

    names = CELEBA_NAMES
    root = face_folder(tmp_path / "celeba-names", "celeba-hq")
    annotations = root / "celebahq64" / "CelebAMask-HQ-attribute-anno.txt"
    lines = annotations.read_text().splitlines()
    annotations.write_text("\n".join([lines[0], " ".join(names), *lines[2:]]) + "\n")
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(open_entry(face_checkpoint(tmp_path / "celeba.pt", names=names)))
    wait_for_test_set(qtbot, panel)
    assert [panel.preset_combo.itemData(i) for i in range(1, panel.preset_combo.count())] == [
        "All smiling", "Wearing eyeglasses", "Men with moustache", "Young blond women", "Grey-haired men, no beard"]
    panel.apply_preset("Men with moustache")
    panel.flush()
    labels = panel.edited_labels
    assert torch.all(labels[:, names.index("Male")] == 1) and torch.all(labels[:, names.index("Mustache")] == 1)
    assert torch.all(labels[:, names.index("No_Beard")] == 0)
    assert sorted(panel.changed_attributes()) == ["Male", "Mustache", "No_Beard"]
    kept = [i for i, n in enumerate(names) if n not in ("Male", "Mustache", "No_Beard")]
    assert torch.equal(labels[:, kept], panel.labels[:, kept])
    assert panel.preset_combo.currentData() == "Men with moustache"
    panel.apply_preset("All smiling")  # a preset replaces the previous one
    panel.flush()
    assert panel.changed_attributes() == ["Smiling"]
    panel.set_attribute("Smiling", ON, 1.5)  # changed by hand: no longer the preset
    assert panel.preset_combo.currentData() is None
    panel.reset()
    panel.flush()
    assert torch.equal(panel.edited, panel.reconstructions)


def test_class_models_get_a_target_class(qtbot, tmp_path, tiny_checkpoints):
    root = tmp_path / "data"
    make_mnist(root, train=20, test=20)
    entry = open_entry(tiny_checkpoints["cvae"])
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(entry)
    wait_for_test_set(qtbot, panel)
    assert panel.class_box.isVisibleTo(panel) and not panel.attribute_scroll.isVisibleTo(panel)
    assert torch.equal(panel.edited, panel.reconstructions)
    panel.set_target_class(3, 1.0)
    panel.flush()
    assert torch.all(panel.edited_labels.argmax(1) == 3) and torch.all(panel.edited_labels.sum(1) == 1)
    expected = L.decode(entry.checkpoint.model, panel.z, panel.edited_labels)
    assert torch.equal(panel.edited, expected)
    panel.set_target_class(3, 0.0)  # strength 0: each digit's own label
    panel.flush()
    assert torch.equal(panel.edited, panel.reconstructions)


def test_bundled_encodings_stand_in_without_data(qtbot, tmp_path):
    means = torch.randn(7, 8, generator=torch.Generator().manual_seed(5))
    labels = (torch.rand(7, 40, generator=torch.Generator().manual_seed(6)) > 0.5).float()
    entry = open_entry(face_checkpoint(tmp_path / "face.pt", derived={"sample_means": means,
                                                                       "sample_labels": labels}))
    panel = make_panel(qtbot, tmp_path)  # no data folder anywhere
    panel.set_entry(entry)
    panel.flush()
    k = panel.count.value()
    assert panel.source == "bundled" and panel.originals is None and len(panel.faces) == k
    assert torch.equal(panel.z, means[:k])
    assert torch.equal(panel.reconstructions, L.decode(entry.checkpoint.model, means[:k], labels[:k]))
    assert len(panel.tiles[0].views) == 2  # decoded encoding | edited
    panel.set_attribute("Attr_0", ON)
    panel.flush()
    assert torch.all(panel.edited_labels[:, 0] == 1)
    panel.count.setValue(7)
    assert len(panel.faces) == 7
    png = panel.export_png(tmp_path / "faces")
    with Image.open(png) as image:
        assert image.size == (2 * 18 + 2, 7 * 18 + 2)


def test_a_judge_reads_the_edited_attribute(qtbot, tmp_path):
    seen = []

    def judge(images):  # "Attr_5" is the mean brightness; the other columns a constant
        seen.append(len(images))
        out = torch.full((len(images), 40), 0.5)
        out[:, 5] = images.mean((1, 2, 3))
        return out

    panel, entry, _ = loaded_panel(qtbot, tmp_path, judge=judge)
    assert panel.tiles[0].caption.text() == "test image 1"  # nothing edited: nothing to read
    panel.set_attribute("Attr_5", ON, 2.0)
    panel.flush()
    before = panel.reconstructions[0].mean().item()
    after = panel.edited[0].mean().item()
    assert f"Attr 5 {before:.2f}→{after:.2f}" in panel.tiles[0].caption.text()
    assert seen and all(n == len(panel.faces) for n in seen)

    broken = make_panel(qtbot, tmp_path, tmp_path / "data", judge=lambda images: 1 / 0)
    broken.set_entry(entry)
    wait_for_test_set(qtbot, broken)
    assert "judge failed" in broken.message.text() and broken.edited is not None


@pytest.mark.parametrize("problem", ["short row", "value", "names"])
def test_a_bad_attribute_file_is_one_line_in_the_panel(problem, qtbot, tmp_path, monkeypatch):
    shown = record_dialogs(monkeypatch)
    if problem == "names":
        root = face_folder(tmp_path / "data", "celeba")
        path = face_checkpoint(tmp_path / "face.pt", names=[f"Other_{i}" for i in range(40)])
        expected = "Other_0"
    else:
        root = bad_attribute_file(tmp_path / "data", problem)
        path = face_checkpoint(tmp_path / "face.pt")
        expected = "fields" if problem == "short row" else "expected 1 or -1"
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(open_entry(path))
    wait_for_test_set(qtbot, panel)
    text = panel.message.text()
    assert expected in text and "\n" not in text and not panel.message.isHidden()
    assert panel.faces == [] and shown == []


def test_loading_does_not_block_the_window(qtbot, tmp_path, monkeypatch):
    root = face_folder(tmp_path / "data", "celeba")
    loads = SlowLoads(monkeypatch, 0.5)
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(open_entry(face_checkpoint(tmp_path / "face.pt")))
    loads.timer.start()
    wait_for_test_set(qtbot, panel)
    loads.timer.stop()
    assert panel.source == "test"
    assert loads.off_the_gui_thread()  # set_entry only starts the load
    assert loads.turns[0] >= 10  # the event loop kept turning while the faces loaded


def test_opened_files_are_edited(qtbot, tmp_path, monkeypatch):
    from cvae.data.align import FoundFace  # one face in each (finding faces: tests/explorer/test_photos.py)

    monkeypatch.setattr("cvae.data.image_file.find_faces",
                        lambda image: [FoundFace((5, 5, 20, 20), (11, 12), (19, 12), True)])
    panel, _, root = loaded_panel(qtbot, tmp_path)
    files = []
    for i in range(3):
        files.append(tmp_path / f"face{i}.jpg")
        Image.fromarray((torch.rand(40, 30, 3) * 255).byte().numpy()).save(files[-1])
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert panel.open_files([*files, tmp_path / "broken.jpg"]) == 3
    assert "broken.jpg" in panel.message.text()
    assert panel.source == "file" and len(panel.faces) == 3
    typical = L.typical_attributes(held_out(root).labels, 40)  # no judge: the data's typical attributes, said so
    assert all(torch.equal(label, typical) for label in panel.labels)
    assert all("no attribute judge" in face.description for face in panel.faces)
    assert torch.equal(panel.edited, panel.reconstructions)
    assert panel.source_combo.findData("file") >= 0
    panel.source_combo.activated.emit(panel.source_combo.findData("test"))  # back to the test images …
    assert panel.source == "test" and len(panel.faces) == 4
    panel.source_combo.activated.emit(panel.source_combo.findData("file"))  # … and to the files again
    assert panel.source == "file" and panel.faces[0].description.startswith("face0.jpg")


def test_which_models_it_applies_to(tiny_checkpoints, tmp_path):
    assert EditPanel.unavailable_reason(open_entry(tiny_checkpoints["cvae"])) is None
    assert EditPanel.unavailable_reason(open_entry(face_checkpoint(tmp_path / "f.pt"))) is None
    for family in ("vae", "ae"):
        assert "nothing to edit" in EditPanel.unavailable_reason(open_entry(tiny_checkpoints[family]))
    assert "classifier" in EditPanel.unavailable_reason(open_entry(tiny_checkpoints["classifier"]))


def test_the_window_gives_the_edit_panel_the_open_attribute_judge(qtbot, tmp_path):
    """A face model's readings come from the open attribute judge (same image shape, shared attribute names), the
    judge's 0.5 being its own tuned threshold; a model with no fitting judge open gets none."""
    from explorer.judges import JudgeReader
    from explorer.main_window import MainWindow
    from cvae.checkpoint import load_checkpoint
    face = face_checkpoint(tmp_path / "face.pt", names=CELEBA_NAMES)
    judge_path = face_judge(tmp_path / "judge.pt")  # 16×16, CelebA's 40 names
    other = face_checkpoint(tmp_path / "other.pt")  # the fixture's Attr_i names: no judge reads those
    win = MainWindow(dialogs=False, settings=ini_settings(tmp_path))
    qtbot.addWidget(win)
    win.open_paths([face, other, judge_path])
    win.select_model("face")
    reader = win.edit_panel.judge
    assert isinstance(reader, JudgeReader) and reader.label_names == CELEBA_NAMES
    judge = load_checkpoint(judge_path).model.float().eval()
    judge.thresholds.fill_(0.25)
    reader.model.thresholds.fill_(0.25)
    images = torch.rand(3, 3, 16, 16)
    assert torch.allclose(reader(images), torch.sigmoid(judge(images) - 0.25))
    win.select_model("other")
    assert win.edit_panel.judge is None


def test_a_digit_judge_never_reads_the_face_model_shown_next(qtbot, tmp_path, tiny_checkpoints):
    """Selecting a face model after a digit model: the digit judge is gone before the faces are decoded (it used
    to read them and fail: 'expected input to have 1 channels')."""
    from explorer.main_window import MainWindow
    face = face_checkpoint(tmp_path / "face.pt", names=CELEBA_NAMES,
                           derived={"sample_means": torch.randn(6, 8), "sample_labels": torch.zeros(6, 40)})
    win = MainWindow(dialogs=False, settings=ini_settings(tmp_path))
    qtbot.addWidget(win)
    win.open_paths([tiny_checkpoints["cvae"], tiny_checkpoints["classifier"], face, face_judge(tmp_path / "j.pt")])
    win.select_model("tiny-cvae")
    win.select_panel("edit")
    win.select_model("face")
    win.edit_panel.set_attribute("Smiling", ON)
    win.edit_panel.flush()
    assert win.edit_panel.edited is not None and len(win.edit_panel.faces) == 6
    assert "judge failed" not in win.edit_panel.message.text()
    assert "judge: Smiling" in win.edit_panel.tiles[0].caption.text()
