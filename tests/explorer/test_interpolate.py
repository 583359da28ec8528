"""The Interpolate panel: endpoints from held-out faces in both CelebA layouts, files, prior samples and bundled
encodings; the path decoded in one batch with the encodings at its ends; PNG and GIF export; bad attribute files
reported in the panel; the test set loaded off the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from PIL import Image
from PySide6 import QtCore, QtWidgets

from cvae import data as cvae_data
from cvae import latent as L
from explorer import faces as FX
from explorer.model_list import open_entry
from explorer.panels.interpolate import InterpolatePanel
from explorer.session import DATA_DIR_KEY, Session
from tests.fixtures import face_checkpoint, face_folder, held_out
from tests.formats import make_celeba_hq, make_mnist

LAYOUTS = ("celeba-hq", "celeba")


# ----- helpers shared with the other explorer tests -----
def ini_settings(tmp_path, data_dir=None) -> QtCore.QSettings:
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    if data_dir is not None:
        settings.setValue(DATA_DIR_KEY, str(data_dir))
    return settings


class SlowLoads:
    """cvae.data.load_dataset made `seconds` slower, and a 0 ms GUI timer (start it) counting the event loop's
    turns: `threads` holds the thread of each load, `turns` the timer's count when each load returned."""

    def __init__(self, monkeypatch, seconds: float):
        real = cvae_data.load_dataset
        self.threads, self.turns, self.ticks = [], [], 0

        def slow(*args, **kwargs):
            self.threads.append(threading.current_thread())
            time.sleep(seconds)
            try:
                return real(*args, **kwargs)
            finally:
                self.turns.append(self.ticks)

        monkeypatch.setattr(cvae_data, "load_dataset", slow)
        self.timer = QtCore.QTimer()
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.ticks += 1

    def off_the_gui_thread(self) -> bool:
        return bool(self.threads) and threading.main_thread() not in self.threads


def record_dialogs(monkeypatch) -> list:
    """Every QMessageBox the code opens, recorded instead of shown."""
    shown = []
    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QtWidgets.QMessageBox, kind,
                            staticmethod(lambda *args, k=kind: shown.append((k, args)) or
                                         QtWidgets.QMessageBox.StandardButton.Ok))
    return shown


def wait_for_test_set(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: bool(panel.faces_from.test_faces) or bool(panel.message.text()), timeout=10000)
    panel.flush()


def bad_attribute_file(root, problem: str):
    """A CelebA-HQ fixture whose attribute file has a short row or a value that is not ±1."""
    make_celeba_hq(root / "celebahq64", count=20, size=16)
    path = root / "celebahq64" / "CelebAMask-HQ-attribute-anno.txt"
    lines = path.read_text().splitlines()
    fields = lines[4].split()
    if problem == "short row":
        lines[4] = " ".join(fields[:-1])
    else:
        lines[4] = " ".join([fields[0], "2", *fields[2:]])
    path.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))


def make_panel(qtbot, tmp_path, data_dir=None) -> InterpolatePanel:
    panel = InterpolatePanel(Session(ini_settings(tmp_path, data_dir)))
    qtbot.addWidget(panel)
    return panel


# ----- tests -----
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_path_starts_and_ends_at_the_two_encodings(layout, qtbot, tmp_path):
    root = face_folder(tmp_path / "data", layout)
    entry = open_entry(face_checkpoint(tmp_path / "face.pt"))
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(entry)
    wait_for_test_set(qtbot, panel)
    assert panel.message.text() == ""
    assert panel.model is entry.checkpoint.model

    data = held_out(root)
    model = entry.checkpoint.model
    images, labels = data.images.float() / 255, data.labels.float()
    z0 = L.encode_means(model, images[0:1], labels[0:1])[0]
    z1 = L.encode_means(model, images[1:2], labels[1:2])[0]
    assert torch.equal(panel.latents[0], z0) and torch.equal(panel.latents[1], z1)
    for method in ("linear", "spherical"):
        panel.method.setCurrentIndex(panel.method.findData(method))
        panel.steps.setValue(7)
        panel.flush()
        n = 7
        assert panel.path_images.shape == (n, 3, 16, 16)
        assert torch.equal(panel.path_z[0], z0) and torch.equal(panel.path_z[-1], z1)
        expected_z = L.interpolate(z0, z1, n, method)
        expected_labels = L.path_labels(labels[0], labels[1], n)
        # the same model object, the same batch: bit for bit
        assert torch.equal(panel.path_images, L.decode(model, expected_z, expected_labels))
        ends = L.decode(model, torch.stack([z0, z1]), labels[:2])  # decoded alone: the same to float rounding
        assert torch.allclose(panel.path_images[[0, -1]], ends, atol=1e-6)


def test_the_path_is_one_batched_decode_per_change(qtbot, tmp_path, monkeypatch):
    root = face_folder(tmp_path / "data", "celeba-hq")
    entry = open_entry(face_checkpoint(tmp_path / "face.pt"))
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(entry)
    wait_for_test_set(qtbot, panel)
    model = entry.checkpoint.model
    calls = []
    real = model.decode
    monkeypatch.setattr(model, "decode", lambda z, labels=None: calls.append(len(z)) or real(z, labels))
    before = panel.decodes
    for value in (5, 9, 12):  # three quick changes: gathered into one decode
        panel.steps.setValue(value)
    panel.method.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.decodes > before, timeout=2000)
    qtbot.wait(60)
    assert panel.decodes == before + 1
    assert calls == [12] and panel.path_images.shape[0] == 12


def test_class_endpoints_carry_their_labels(qtbot, tmp_path, tiny_checkpoints):
    root = tmp_path / "data"
    make_mnist(root, train=20, test=20)
    entry = open_entry(tiny_checkpoints["cvae"])
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(entry)
    wait_for_test_set(qtbot, panel)
    data = cvae_data.load_dataset("mnist", root, "test")
    first, second = int(data.labels[0]), int(data.labels[1])
    a, b = panel.endpoints
    assert int(a.label.argmax()) == first and a.label.sum() == 1
    assert int(b.label.argmax()) == second
    assert panel.boxes[0].class_combo.currentIndex() == first
    panel.steps.setValue(5)
    panel.flush()
    if first != second:
        middle = panel.path_labels[2]
        assert middle[first] == pytest.approx(0.5) and middle[second] == pytest.approx(0.5)
    panel.interpolate_labels.setChecked(False)
    panel.flush()
    assert panel.path_labels.shape == (1, 10) and torch.equal(panel.path_labels[0], a.label)
    # another class for A: encoded again under it
    other = (first + 1) % 10
    panel.boxes[0].class_combo.setCurrentIndex(other)
    panel.flush()
    image = data.images[0:1].float() / 255
    expected = L.encode_means(entry.checkpoint.model, image, torch.tensor([other]))[0]
    assert torch.equal(panel.latents[0], expected)
    # the browser: a click sets A, the next one B
    panel.browser.itemClicked.emit(panel.browser.item(3))
    panel.browser.itemClicked.emit(panel.browser.item(4))
    panel.flush()
    assert panel.endpoints[0].description == "test image 4" and panel.endpoints[1].description == "test image 5"


def test_bundled_encodings_need_no_data_folder(qtbot, tmp_path):
    means = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    labels = (torch.rand(5, 40, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    entry = open_entry(face_checkpoint(tmp_path / "face.pt", derived={"sample_means": means,
                                                                       "sample_labels": labels}))
    panel = make_panel(qtbot, tmp_path)  # no settings folder, no $CVAE_DATA_DIR
    panel.set_entry(entry)
    panel.flush()
    assert panel.browser.count() == 5 and "Bundled" in panel.browser_title.text()
    assert torch.equal(panel.latents[0], means[0]) and torch.equal(panel.latents[1], means[1])
    n = panel.steps.value()
    z = L.interpolate(means[0], means[1], n)
    assert torch.equal(panel.path_images, L.decode(entry.checkpoint.model, z, L.path_labels(labels[0], labels[1], n)))
    assert panel.message.text() == ""


def test_prior_samples_without_any_data(qtbot, tmp_path):
    entry = open_entry(face_checkpoint(tmp_path / "face.pt"))
    panel = make_panel(qtbot, tmp_path)
    panel.set_entry(entry)
    panel.flush()
    assert [f.kind for f in panel.endpoints] == ["generated", "generated"]
    _, z = L.sample_prior(entry.checkpoint.model, 1, torch.zeros(1, 40), seed=1)
    assert torch.equal(panel.latents[1], z[0])
    assert "No data folder" in panel.message.text()
    panel.boxes[0].seed.setValue(7)  # a generated endpoint follows its seed
    panel.flush()
    assert torch.equal(panel.latents[0], L.sample_prior(entry.checkpoint.model, 1, torch.zeros(1, 40), seed=7)[1][0])


def test_gif_and_png_export(qtbot, tmp_path):
    entry = open_entry(face_checkpoint(tmp_path / "face.pt"))
    panel = make_panel(qtbot, tmp_path)
    panel.set_entry(entry)
    label = torch.zeros(40)
    # far-apart ends, so that no two neighbouring frames of the untrained model are the same picture
    panel.set_endpoint(0, FX.Face("a", label, z=torch.full((8,), -30.0), kind="generated"))
    panel.set_endpoint(1, FX.Face("b", label, z=torch.full((8,), 30.0), kind="generated"))
    panel.steps.setValue(6)
    gif = panel.export_gif(tmp_path / "path.gif", duration_ms=80, there_and_back=False, scale=3)
    with Image.open(gif) as image:
        assert image.n_frames == 6 and image.size == (48, 48)
        assert image.info["duration"] == 80 and image.info.get("loop") == 0
    back = panel.export_gif(tmp_path / "back", there_and_back=True)
    assert back.suffix == ".gif"
    with Image.open(back) as image:
        assert image.n_frames == 2 * 6 - 2 and image.size == (16, 16)
    png = panel.export_png(tmp_path / "strip.png")
    with Image.open(png) as image:
        assert image.size == (6 * 18 + 2, 16 + 4)


@pytest.mark.parametrize("problem", ["short row", "value", "names"])
def test_a_bad_attribute_file_is_one_line_in_the_panel(problem, qtbot, tmp_path, monkeypatch):
    shown = record_dialogs(monkeypatch)
    if problem == "names":  # the model's attributes are called otherwise than the file's
        root = face_folder(tmp_path / "data", "celeba-hq")
        path = face_checkpoint(tmp_path / "face.pt", names=[f"Other_{i}" for i in range(40)])
        expected = "Attr_0"
    else:
        root = bad_attribute_file(tmp_path / "data", problem)
        path = face_checkpoint(tmp_path / "face.pt")
        expected = "41" if problem == "short row" else "'2'"
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(open_entry(path))
    wait_for_test_set(qtbot, panel)
    text = panel.message.text()
    assert expected in text and "\n" not in text and not panel.message.isHidden()
    assert panel.faces_from.test_faces == [] and panel.browser.count() == 0
    assert shown == []
    assert panel.path_images is not None  # still usable: prior samples at both ends


def test_loading_does_not_block_the_window(qtbot, tmp_path, monkeypatch):
    root = face_folder(tmp_path / "data", "celeba-hq")
    loads = SlowLoads(monkeypatch, 0.6)
    panel = make_panel(qtbot, tmp_path, root)
    entry = open_entry(face_checkpoint(tmp_path / "face.pt"))
    panel.set_entry(entry)
    loads.timer.start()
    wait_for_test_set(qtbot, panel)
    loads.timer.stop()
    assert panel.faces_from.test_faces
    assert loads.off_the_gui_thread()  # set_entry only starts the load
    assert loads.turns[0] >= 10  # the event loop kept turning while the faces loaded
    count = len(panel.faces_from.test_faces)
    panel.set_entry(entry)  # the same model again: the faces loaded before, without reading them again
    assert panel.faces_from.test_faces == []
    wait_for_test_set(qtbot, panel)
    assert len(panel.faces_from.test_faces) == count and len(loads.threads) == 1


def test_an_opened_file_is_prepared_like_the_data(qtbot, tmp_path, tiny_checkpoints, monkeypatch):
    import numpy as np
    from cvae.data.align import centre_crop
    from cvae.data.image_file import to_picture

    monkeypatch.setattr("cvae.data.image_file.find_faces", lambda image: [])  # (faces: tests/explorer/test_photos)
    root = face_folder(tmp_path / "data", "celeba-hq")
    entry = open_entry(face_checkpoint(tmp_path / "face.pt"))
    panel = make_panel(qtbot, tmp_path, root)
    panel.set_entry(entry)
    wait_for_test_set(qtbot, panel)
    picture = tmp_path / "portrait.png"
    Image.fromarray((torch.rand(30, 20, 3) * 255).byte().numpy()).save(picture)
    assert not panel.open_file(1, picture)  # no face found: it waits for the user to take the centre crop
    qtbot.mouseClick(panel.faces_from.picker.centre_button, QtCore.Qt.MouseButton.LeftButton)
    face = panel.endpoints[1]
    assert torch.equal(face.image, to_picture(centre_crop(np.array(Image.open(picture).convert("RGB")), 16)))
    assert torch.equal(face.label, L.typical_attributes(held_out(root).labels, 40))  # no judge: the data's
    assert panel.user_chosen[1]
    assert not panel.open_file(0, tmp_path / "missing.png")
    assert "missing.png" in panel.message.text()
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    assert not panel.open_file(0, tmp_path / "junk.png")
    assert "junk.png" in panel.message.text() and panel.endpoints[0].description == "test image 1"

    gray = InterpolatePanel(Session(ini_settings(tmp_path)))  # a grayscale model gets one channel
    qtbot.addWidget(gray)
    gray.set_entry(open_entry(tiny_checkpoints["vae"]))
    assert gray.open_file(0, picture)
    assert gray.endpoints[0].image.shape == (1, 28, 28) and gray.endpoints[0].label is None


def test_which_models_it_applies_to(tiny_checkpoints, tmp_path):
    for family in ("cvae", "vae", "ae"):
        assert InterpolatePanel.unavailable_reason(open_entry(tiny_checkpoints[family])) is None
    assert InterpolatePanel.unavailable_reason(open_entry(face_checkpoint(tmp_path / "f.pt"))) is None
    assert "classifier" in InterpolatePanel.unavailable_reason(open_entry(tiny_checkpoints["classifier"]))


def test_the_autoencoder_cannot_sample_but_interpolates_files(qtbot, tmp_path, tiny_checkpoints):
    panel = make_panel(qtbot, tmp_path)
    panel.set_entry(open_entry(tiny_checkpoints["ae"]))
    assert not panel.boxes[0].generate_button.isEnabled()
    assert panel.endpoints == [None, None] and "open image files" in panel.message.text()
    for which in (0, 1):
        picture = tmp_path / f"{which}.png"
        Image.fromarray((torch.rand(28, 28) * 255).byte().numpy()).save(picture)
        assert panel.open_file(which, picture)
    panel.flush()
    assert panel.path_images.shape == (panel.steps.value(), 1, 28, 28)


def test_the_folder_comes_from_the_environment_too(qtbot, tmp_path, monkeypatch):
    root = face_folder(tmp_path / "data", "celeba")
    monkeypatch.setenv("CVAE_DATA_DIR", str(root))
    panel = make_panel(qtbot, tmp_path)  # settings without a folder
    panel.set_entry(open_entry(face_checkpoint(tmp_path / "face.pt")))
    wait_for_test_set(qtbot, panel)
    assert len(panel.faces_from.test_faces) == 2 and panel.endpoints[0].kind == "test"
    panel.session.set_data_dir(tmp_path / "nowhere")  # chosen in the session: wins, and is remembered
    wait_for_test_set(qtbot, panel)
    qtbot.waitUntil(lambda: "nowhere" in panel.message.text(), timeout=5000)
    assert panel.settings.value(DATA_DIR_KEY) == str(tmp_path / "nowhere")
