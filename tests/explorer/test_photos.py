"""A photo the user opens in Edit or Interpolate (issue 19 item 1): a face model's photo is found and aligned like the
training faces (several faces: the user picks one in the picker strip; none: said so, the plain centre crop offered);
too small and grayscale photos get one line each and nothing else changes; the starting attributes are the session
judge's thresholded reading of the aligned face (without a judge: the data's typical attributes, said so), and the
user can correct them; a digit model's file keeps the plain centre square."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6 import QtCore

from cvae import latent as L
from cvae.data.align import FoundFace, align_face, centre_crop
from cvae.data.image_file import load_image_file
from explorer import faces as FX
from explorer.model_list import open_entry
from explorer.panels.edit import EditPanel
from explorer.panels.interpolate import InterpolatePanel
from explorer.session import Session
from tests.explorer.test_interpolate import ini_settings, wait_for_test_set
from tests.fixtures import face_checkpoint, face_folder, face_judge, held_out
from tests.formats import ATTRIBUTES, CELEBA_NAMES

cv2 = pytest.importorskip("cv2")
REAL_DATA = os.environ.get("CVAE_DATA_DIR")


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))


class FakeJudge:
    """A judge that reads every face the same known way (its columns in reverse order of the model's, so that the
    panel must match them by name), and remembers what it was shown."""

    def __init__(self, names, reading: torch.Tensor):
        self.label_names = list(reversed(names))
        self.reading = reading.bool()
        self.seen: list[torch.Tensor] = []

    def predict(self, images):
        self.seen.append(images.clone())
        return self.reading.flip(0)[None].expand(len(images), -1)

    def __call__(self, images):  # probabilities, for Edit's readings under each face
        return self.predict(images).float() * 0.8 + 0.1


def known_reading(count=40) -> torch.Tensor:
    return torch.tensor([i % 3 == 0 for i in range(count)])


def save_rgb(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def textured(height=120, width=160, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def one_face_at(box):
    """find_faces replaced by one that finds a face at `box` (x, y, w, h) with eyes where the box puts them."""
    x, y, w, h = box

    def found(image):
        return [FoundFace(box, (x + 0.3 * w, y + 0.37 * h), (x + 0.7 * w, y + 0.37 * h), True)]
    return found


def edit_panel(qtbot, tmp_path, judge=None, data=True):
    root = face_folder(tmp_path / "data", "celeba-hq") if data else None
    session = Session(ini_settings(tmp_path, root))
    session.judge = judge
    panel = EditPanel(session)
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face_checkpoint(tmp_path / "face.pt")))
    if data:
        wait_for_test_set(qtbot, panel)
    return panel, root


# ----- one face, several, none -----
def test_one_face_is_aligned_and_read_by_the_judge(qtbot, tmp_path, monkeypatch):
    box = (40, 20, 60, 60)
    monkeypatch.setattr("cvae.data.image_file.find_faces", one_face_at(box))
    judge = FakeJudge(ATTRIBUTES, known_reading())
    panel, _ = edit_panel(qtbot, tmp_path, judge)
    photo = textured()
    path = save_rgb(tmp_path / "me.png", photo)
    assert panel.open_files([path]) == 1
    assert panel.source == "file" and panel.message.text() == "" and panel.faces_from.picker.text() == ""
    expected = torch.from_numpy(align_face(photo, one_face_at(box)(photo)[0], 16)).permute(2, 0, 1).float() / 255
    assert torch.equal(panel.originals[0], expected)
    # the judge read the aligned face, and its reading (matched by name) is the face's own labels
    assert any(torch.equal(seen[0], expected) for seen in judge.seen)
    assert torch.equal(panel.labels[0], known_reading().float())
    face = panel.faces[0]
    assert face.note == FX.JUDGE_READS and "as the judge reads this photo" in panel.tiles[0].caption.text()
    model = panel.model
    assert torch.equal(panel.reconstructions[0], L.decode(model, L.encode_means(model, expected[None],
                                                                                known_reading().float()[None]),
                                                          known_reading().float()[None])[0])


def test_the_readings_attributes_can_be_corrected(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr("cvae.data.image_file.find_faces", one_face_at((40, 20, 60, 60)))
    panel, _ = edit_panel(qtbot, tmp_path, FakeJudge(ATTRIBUTES, known_reading()))
    assert not panel.own_button.isEnabled()  # test images: their labels are the data set's
    panel.open_files([save_rgb(tmp_path / "me.png", textured())])
    assert not panel.own_button.isHidden() and panel.own_button.isEnabled()
    before = panel.reconstructions.clone()
    dialog = panel.own_attributes_dialog(run=False)
    qtbot.addWidget(dialog)
    assert dialog.boxes["Attr_0"].isChecked() and not dialog.boxes["Attr_1"].isChecked()
    assert "as the judge reads this photo" in dialog.findChildren(type(panel.caption))[0].text()
    dialog.boxes["Attr_1"].setChecked(True)
    dialog.accept()
    corrected = known_reading().float()
    corrected[1] = 1
    assert torch.equal(panel.labels[0], corrected) and not torch.equal(panel.reconstructions, before)
    assert "corrected by hand" in panel.faces[0].description


def test_without_a_judge_the_attributes_are_the_datas_and_say_so(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr("cvae.data.image_file.find_faces", one_face_at((40, 20, 60, 60)))
    panel, root = edit_panel(qtbot, tmp_path, judge=None)
    assert panel.open_files([save_rgb(tmp_path / "me.png", textured())]) == 1
    assert torch.equal(panel.labels[0], L.typical_attributes(held_out(root).labels, 40))
    assert panel.faces[0].note == FX.NO_JUDGE and "no attribute judge" in panel.tiles[0].caption.text()


def test_a_blank_image_says_no_face_and_offers_the_centre_crop(qtbot, tmp_path):
    panel, _ = edit_panel(qtbot, tmp_path)
    shown = panel.originals.clone()
    blank = np.zeros((300, 400, 3), np.uint8)
    blank[:] = (200, 170, 140)  # a colour, so it is not refused as grayscale
    assert panel.open_files([save_rgb(tmp_path / "wall.png", blank)]) == 0
    picker = panel.faces_from.picker
    assert "No face found in wall.png" in picker.text() and "centre crop" in picker.text()
    assert "\n" not in picker.text() and picker.centre_button is not None and not picker.buttons
    assert panel.source == "test" and torch.equal(panel.originals, shown)  # nothing changed meanwhile
    qtbot.mouseClick(picker.centre_button, QtCore.Qt.MouseButton.LeftButton)
    assert picker.text() == "" and picker.isHidden()
    assert panel.source == "file" and len(panel.faces) == 1
    expected = torch.from_numpy(centre_crop(blank, 16)).permute(2, 0, 1).float() / 255
    assert torch.equal(panel.originals[0], expected)
    assert "centre crop (no face found)" in panel.faces[0].description


def test_skip_drops_a_photo_without_a_face(qtbot, tmp_path):
    panel, _ = edit_panel(qtbot, tmp_path)
    blank = np.zeros((100, 100, 3), np.uint8)
    blank[:] = (30, 90, 200)
    panel.open_files([save_rgb(tmp_path / "sky.png", blank)])
    qtbot.mouseClick(panel.faces_from.picker.skip_button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.faces_from.picker.isHidden() and panel.source == "test" and not panel.faces_from.opened


def test_several_faces_let_the_user_pick_one(qtbot, tmp_path, monkeypatch):
    photo = textured(200, 300, seed=4)
    faces = [FoundFace((150, 40, 100, 100), (180, 77), (220, 77), True),
             FoundFace((20, 60, 80, 80), (44, 90), (76, 90), False)]
    monkeypatch.setattr("cvae.data.image_file.find_faces", lambda image: list(faces))
    judge = FakeJudge(ATTRIBUTES, known_reading())
    panel, _ = edit_panel(qtbot, tmp_path, judge)
    assert panel.open_files([save_rgb(tmp_path / "two.png", photo)]) == 0
    picker = panel.faces_from.picker
    assert "2 faces in two.png" in picker.text() and len(picker.buttons) == 2 and picker.centre_button is None
    assert "eyes placed from the face box" in picker.buttons[1].toolTip()
    assert panel.source == "test"
    qtbot.mouseClick(picker.buttons[1], QtCore.Qt.MouseButton.LeftButton)
    assert picker.isHidden() and panel.source == "file" and len(panel.faces) == 1
    expected = torch.from_numpy(align_face(photo, faces[1], 16)).permute(2, 0, 1).float() / 255
    assert torch.equal(panel.originals[0], expected)
    assert "face 2 of 2" in panel.faces[0].description
    assert torch.equal(panel.labels[0], known_reading().float())


def test_photos_that_cannot_work_get_one_line_and_nothing_else_changes(qtbot, tmp_path):
    panel, _ = edit_panel(qtbot, tmp_path)
    shown = panel.originals.clone()
    tiny = save_rgb(tmp_path / "tiny.png", textured(10, 10))
    assert panel.open_files([tiny]) == 0
    assert panel.message.text() == ("tiny.png is 10×10 pixels, smaller than the model's 16×16 faces; open a larger "
                                    "photo")
    assert panel.source == "test" and torch.equal(panel.originals, shown) and panel.isEnabled()
    grey = np.repeat(textured(120, 160)[..., :1], 3, axis=2)
    Image.fromarray(grey[..., 0]).save(tmp_path / "grey.jpg")  # a one-channel JPEG, as a grayscale photo is
    assert panel.open_files([tmp_path / "grey.jpg"]) == 0
    assert panel.message.text() == "grey.jpg is grayscale but the model draws colour faces; open a colour photo"
    assert panel.source == "test" and torch.equal(panel.originals, shown)
    panel.set_attribute("Attr_3", "on", 2.0)  # the panel keeps working
    panel.flush()
    assert not torch.equal(panel.edited, panel.reconstructions)


def test_a_digit_models_file_keeps_the_centre_square(qtbot, tmp_path, tiny_checkpoints):
    panel = EditPanel(Session(ini_settings(tmp_path)))
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(tiny_checkpoints["cvae"]))
    path = save_rgb(tmp_path / "digit.png", textured(10, 10))  # smaller than 28×28 is fine for a digit model
    assert panel.open_files([path]) == 1
    assert torch.equal(panel.originals[0], load_image_file(path, (1, 28, 28)))
    assert panel.faces_from.picker.isHidden() and panel.own_button.isHidden()


# ----- Interpolate -----
def test_interpolate_opens_a_photo_as_edit_does(qtbot, tmp_path, monkeypatch):
    root = face_folder(tmp_path / "data", "celeba-hq")
    session = Session(ini_settings(tmp_path, root))
    session.judge = FakeJudge(ATTRIBUTES, known_reading())
    panel = InterpolatePanel(session)
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face_checkpoint(tmp_path / "face.pt")))
    wait_for_test_set(qtbot, panel)
    monkeypatch.setattr("cvae.data.image_file.find_faces", one_face_at((40, 20, 60, 60)))
    photo = textured()
    assert panel.open_file(1, save_rgb(tmp_path / "me.png", photo))
    face = panel.endpoints[1]
    assert torch.equal(face.label, known_reading().float()) and face.note == FX.JUDGE_READS
    assert torch.equal(face.image, torch.from_numpy(align_face(photo, one_face_at((40, 20, 60, 60))(photo)[0], 16))
                       .permute(2, 0, 1).float() / 255)
    dialog = panel.attributes_dialog(1, run=False)
    qtbot.addWidget(dialog)
    dialog.boxes["Attr_0"].setChecked(False)
    dialog.accept()
    assert panel.endpoints[1].label[0] == 0 and "set by hand" in panel.endpoints[1].description
    # no face: the endpoint waits for the user's answer in the picker, then takes the centre crop
    monkeypatch.setattr("cvae.data.image_file.find_faces", lambda image: [])
    assert not panel.open_file(0, save_rgb(tmp_path / "wall.png", textured(seed=2)))
    assert panel.endpoints[0].kind == "test" and "No face found in wall.png" in panel.faces_from.picker.text()
    qtbot.mouseClick(panel.faces_from.picker.centre_button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.endpoints[0].description.startswith("wall.png, centre crop")
    assert panel.user_chosen[0]


def test_the_window_judge_predicts_at_its_own_thresholds(tmp_path):
    from cvae.checkpoint import load_checkpoint
    from explorer.judges import JudgeReader
    model = load_checkpoint(face_judge(tmp_path / "judge.pt")).model
    reader = JudgeReader(model, list(CELEBA_NAMES))
    images = torch.rand(4, 3, 16, 16)
    logits = model.logits(images)
    model.thresholds.copy_(logits[0])  # face 0 sits exactly at every threshold: all "no"
    assert torch.equal(reader.predict(images), logits > logits[0])
    assert not reader.predict(images)[0].any()


# ----- real faces -----
def real_faces(indices):
    if not REAL_DATA or not (Path(REAL_DATA) / "celebahq64" / "images").is_dir():
        pytest.skip("needs the real faces: set CVAE_DATA_DIR to a folder with celebahq64/ (../shared/data)")
    return [np.asarray(Image.open(Path(REAL_DATA) / "celebahq64" / "images" / f"{4501 + i}.jpg").convert("RGB"))
            for i in indices]


def face64_checkpoint(path):
    return face_checkpoint(path, names=CELEBA_NAMES, size=64)  # the real faces' size


@pytest.mark.real_data
def test_a_held_out_face_pasted_into_a_photo_is_aligned_in_edit(qtbot, tmp_path):
    """Held-out CelebA-HQ faces (4506-4508: turned +7°, −6° and 0°, enlarged 4-5×, at an offset in a 720×540
    photo), opened in Edit: the panel's input is each face's own crop again, within 2 pixels."""
    from tests.cvae.test_align import best_shift, paste

    judge = FakeJudge(list(CELEBA_NAMES), known_reading())
    session = Session(ini_settings(tmp_path))
    session.judge = judge
    panel = EditPanel(session)
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face64_checkpoint(tmp_path / "face64.pt")))
    indices = (5, 6, 7)  # the parameters test_align gives faces 5, 6 and 7 of its twenty
    paths = []
    for index, face in zip(indices, real_faces(indices)):
        photo = paste(face, 4.0 + 0.5 * (index % 3), (-6, 0, 7)[index % 3], (60 + 7 * index, 40 + 3 * index))
        paths.append(save_rgb(tmp_path / f"photo{index}.png", photo))
    assert panel.open_files(paths) == 3 and panel.faces_from.picker.isHidden()
    for face, original in zip(panel.originals, real_faces(indices)):
        aligned = (face.permute(1, 2, 0) * 255).round().byte().numpy()
        error, (dy, dx) = best_shift(original, aligned)
        assert max(abs(dy), abs(dx)) <= 2 and error < 15, (error, dy, dx)
    assert all(torch.equal(label, known_reading().float()) for label in panel.labels)
    assert all("as the judge reads this photo" in tile.caption.text() for tile in panel.tiles)


@pytest.mark.real_data
def test_two_real_faces_in_one_photo_are_both_offered(qtbot, tmp_path):
    left, right = real_faces((5, 7))
    photo = np.full((540, 960, 3), (90, 110, 130), np.uint8)
    for face, x in ((left, 60), (right, 560)):
        photo[100:100 + 320, x:x + 320] = cv2.resize(face, (320, 320), interpolation=cv2.INTER_CUBIC)
    session = Session(ini_settings(tmp_path))
    panel = EditPanel(session)
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face64_checkpoint(tmp_path / "face64.pt")))
    assert panel.open_files([save_rgb(tmp_path / "pair.png", photo)]) == 0
    picker = panel.faces_from.picker
    assert "2 faces in pair.png" in picker.text() and len(picker.buttons) == 2
    qtbot.mouseClick(picker.buttons[1], QtCore.Qt.MouseButton.LeftButton)
    chosen = panel.faces_from.opened[0]
    from tests.cvae.test_align import best_shift

    aligned = (chosen.image.permute(1, 2, 0) * 255).round().byte().numpy()
    errors = [best_shift(face, aligned)[0] for face in (left, right)]
    assert min(errors) < 15 and chosen.note == FX.NO_JUDGE_NO_DATA
