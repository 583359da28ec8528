"""Where the Interpolate and Edit panels get their faces (or digits), for one model: FaceSource, composed into both,
holds the encodings a checkpoint ships instead of images (bundled), the first held-out test images of the session's
data folder (loaded off the GUI thread by HeldOutLoader, which Generate uses too) and the image files the user
opened; the functions that make each kind of Face; and prior samples.

A photo opened for a face model (attribute labels, colour, square images) is found and aligned as the training faces
were (cvae.data.image_file.open_face_photo): one face is taken as it is; several, or none, wait in the FaceSource's
picker strip (explorer.widgets.face_picker) for the user to pick one or take the plain centre crop. Its starting
attributes are the session's judge's reading of the aligned face (thresholded: judge.predict), or, with no judge,
the attributes typical of the data, each labelled as what it is (Face.note). Any other model's file is the centre
square, resized (cvae.data.image_file.load_image_file).

Everything here decides by what the model can do (its capabilities and label names), never by its family. The label
arithmetic is cvae.latent's, the image-file decoding cvae.data's, the widgets explorer.widgets'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6 import QtCore

from cvae import data as cvae_data
from cvae import latent as L
from cvae.data.image_file import FacePhoto, load_image_file, open_face_photo
from cvae.derived import Derived
from cvae.errors import CvaeError
from cvae.models.capabilities import ATTRIBUTES, CLASS_LABEL
from explorer.widgets.attributes import pretty
from explorer.widgets.data_folder import DataFolderRow
from explorer.widgets.face_picker import FacePicker

BROWSE_COUNT = 64  # test images offered in a browser
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


# ----- faces: a picture and its label, or an encoding -----
@dataclass
class Face:
    """One source: a picture and the label it is encoded under, or a latent point that needs no encoding."""

    description: str
    label: torch.Tensor | None          # (label_dim,) float vector; None for a model that takes no label
    image: torch.Tensor | None = None   # (C, H, W) float in [0, 1]: the source picture (None for an encoding)
    z: torch.Tensor | None = None       # (latent_dim,): a bundled encoding or a prior sample, used as it is
    kind: str = "test"                  # test, file, generated, bundled
    note: str = ""                      # where its label came from, for the panel ("attributes: as the judge …")


def label_row(model, label) -> torch.Tensor | None:
    """One label as the float vector the networks see (a class index becomes one-hot); None if unconditional."""
    if not model.conditional:
        return None
    if label is None:
        return torch.zeros(model.config.label_dim)
    label = torch.as_tensor(label)
    label = label.reshape(1, -1) if label.is_floating_point() else label.reshape(-1)  # a vector, or a class index
    return model.label_vector(label, 1, torch.device("cpu"))[0].float().cpu()


def encode_face(model, face: Face) -> torch.Tensor:
    """The face's latent point: its own z, or the posterior mean of its picture under its label (1-image batch)."""
    if face.z is not None:
        return face.z.reshape(-1).float()
    labels = None if face.label is None else face.label[None]
    return L.encode_means(model, face.image[None], labels)[0]


def describe_label(entry, label: torch.Tensor | None, most: int = 4) -> str:
    """'digit 3' for a class label, the first attributes that are on for attributes, '' for none."""
    if label is None or entry is None:
        return ""
    caps = entry.checkpoint.capabilities
    names = entry.checkpoint.label_names or []
    if caps.label_kind == CLASS_LABEL:
        index = int(label.argmax())
        name = names[index] if index < len(names) else str(index)
        return name if float(label.max()) >= 0.999 and float(label.sum()) <= 1.001 else f"mostly {name}"
    if caps.label_kind == ATTRIBUTES:
        on = [pretty(names[i]) if i < len(names) else str(i) for i in range(len(label)) if float(label[i]) >= 0.5]
        if not on:
            return "no attributes on"
        return ", ".join(on[:most]) + (f" +{len(on) - most}" if len(on) > most else "")
    return ""


@torch.no_grad()
def guess_class(model, image: torch.Tensor) -> int:
    """The class under which the model reconstructs `image` best (one batched encode and decode over the K
    classes): the label an opened file of a class-label model is encoded under."""
    classes = model.config.label_dim
    batch = image[None].expand(classes, -1, -1, -1)
    labels = torch.arange(classes)
    recon = L.decode(model, L.encode_means(model, batch, labels), labels)
    return int(((recon - batch) ** 2).flatten(1).mean(1).argmin())


def aligns_faces(caps) -> bool:
    """Whether an opened photo is searched for a face and aligned: a model of attribute-labelled colour faces,
    square (the training faces were aligned crops); a digit model's file is its centre square, resized."""
    channels, height, width = caps.image_shape
    return caps.takes_attributes and channels == 3 and height == width


JUDGE_READS = "attributes: as the judge reads this photo"
NO_JUDGE = "attributes: typical of the data (no attribute judge is open to read this photo)"
NO_JUDGE_NO_DATA = "attributes: all off (no attribute judge is open to read this photo, and no data to go by)"


def open_tip(entry, verb: str) -> str:
    """The tooltip of a panel's Open button for `entry`'s model: what happens to an opened file."""
    if entry is not None and aligns_faces(entry.checkpoint.capabilities):
        return (f"{verb} your own photos: the face is found and aligned like the training faces (several faces: you "
                "pick one; none: the centre crop if you say so); its attributes are the judge's reading")
    return f"{verb} your own image files: centre square, resized as the model's data was"


def judged_attributes(entry, image: torch.Tensor, judge, labels_like: torch.Tensor | None) -> tuple[torch.Tensor,
                                                                                                     str]:
    """An opened face's starting attributes and what they are: the judge's yes/no reading of the (aligned) picture
    at its own thresholds (`judge.predict`, else its probabilities at ½), its columns matched to the model's
    attributes by name; attributes the judge does not read, or every one when there is no judge (or it fails),
    are those typical of the data (cvae.latent.typical_attributes of `labels_like`), and the note says so."""
    count = entry.checkpoint.capabilities.label_count
    fallback = L.typical_attributes(labels_like, count)
    without = NO_JUDGE if labels_like is not None else NO_JUDGE_NO_DATA
    if judge is None:
        return fallback, without
    try:
        with torch.no_grad():
            predict = getattr(judge, "predict", None)
            reading = (predict(image[None]) if predict is not None else torch.as_tensor(judge(image[None])) > 0.5)
        reading = torch.as_tensor(reading).reshape(-1).float().cpu()
    except Exception as exc:  # noqa: BLE001 (a judge that fails costs its reading, nothing else)
        return fallback, f"{without.split(' (')[0]} (the judge failed: {type(exc).__name__})"
    names = list(entry.checkpoint.label_names or [])
    columns = list(getattr(judge, "label_names", None) or [])
    if not columns and len(reading) == count:
        columns = names or [str(i) for i in range(count)]
    label = fallback.clone()
    read = 0
    for i, name in enumerate(names or [str(i) for i in range(count)]):
        if name in columns and columns.index(name) < len(reading):
            label[i] = reading[columns.index(name)]
            read += 1
    if read == 0:
        return fallback, f"{without.split(' (')[0]} (the judge reads none of the model's attributes)"
    if read < count:
        return label, f"{JUDGE_READS} ({count - read} it does not read: typical of the data)"
    return label, JUDGE_READS


def photo_face(entry, photo: FacePhoto, index: int | None, judge, labels_like: torch.Tensor | None) -> Face:
    """Face `index` of an opened photo, aligned (None: the photo's plain centre crop), with the judge's reading as
    its attributes (judged_attributes)."""
    if index is None:
        image, where = photo.centre(), ", centre crop (no face found)"
    else:
        image = photo.aligned(index)
        where = f", face {index + 1} of {len(photo.faces)}" if len(photo.faces) > 1 else ""
        if not photo.faces[index].eyes_detected:
            where += ", eyes placed from the face box"
    label, note = judged_attributes(entry, image, judge, labels_like)
    return Face(f"{photo.name}{where} ({note})", label, image=image, kind="file", note=note)


def file_faces(entry, paths, labels_like: torch.Tensor | None, judge=None) -> tuple[list[Face], list[str],
                                                                                    list[FacePhoto]]:
    """Faces from image files, one message per file that could not be read (or cannot work: too small, grayscale
    for a colour face model), and the face photos that wait for the user (several faces found, or none).

    A face model's photo (aligns_faces) is found and aligned, labelled by the judge (photo_face); any other
    model's file is its centre square, resized, under the class it reconstructs best (class models)."""
    model = entry.checkpoint.model
    caps = entry.checkpoint.capabilities
    faces, errors, undecided = [], [], []
    for path in paths:
        if aligns_faces(caps):
            try:
                photo = open_face_photo(path, caps.image_shape[1])
            except CvaeError as exc:
                errors.append(str(exc))
                continue
            if len(photo.faces) == 1:
                faces.append(photo_face(entry, photo, 0, judge, labels_like))
            else:
                undecided.append(photo)
            continue
        try:
            image = load_image_file(path, caps.image_shape)
        except CvaeError as exc:
            errors.append(str(exc))
            continue
        if caps.takes_class:
            label = label_row(model, guess_class(model, image))
            how = "read as " + describe_label(entry, label)
        elif caps.takes_attributes:  # a grayscale or non-square attribute model: not aligned, still judged
            label, how = judged_attributes(entry, image, judge, labels_like)
        else:
            label, how = None, ""
        faces.append(Face(Path(path).name + (f" ({how})" if how else ""), label, image=image, kind="file", note=how))
    return faces, errors, undecided


def generated_face(entry, seed: int, label: torch.Tensor | None, temperature: float = 1.0) -> Face:
    """A prior sample z ~ N(0, T² I) with `seed` (the z cvae.latent.sample_prior draws for one image with that
    seed, without decoding it), under `label`."""
    model = entry.checkpoint.model
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    z = torch.randn((1, model.latent_dim), generator=generator, device=device) * temperature
    return Face(f"prior sample, seed {seed}", label, z=z[0].cpu(), kind="generated")


def bundled_faces(entry) -> tuple[list[Face], str | None]:
    """The encodings a checkpoint ships instead of images (derived sample_means and sample_labels), as faces; and a
    message when they are there but unusable. ([], None) when the checkpoint has none."""
    derived = Derived.of(entry.checkpoint)
    means, labels = derived.sample_means, derived.sample_labels
    if means is None:
        return [], None
    model = entry.checkpoint.model
    means = torch.as_tensor(means).float()
    if means.dim() != 2 or means.shape[1] != model.latent_dim:
        return [], (f"The checkpoint's sample_means are {tuple(means.shape)}; expected (K, {model.latent_dim}) for "
                    "this model's latent size, so they are not used.")
    rows: list[torch.Tensor | None] = [None] * len(means)
    if model.conditional:
        if labels is None:
            return [], "The checkpoint has sample_means but no sample_labels for this conditional model."
        labels = torch.as_tensor(labels)
        try:
            vectors = model.label_vector(labels, len(means), torch.device("cpu")).float()
        except (CvaeError, RuntimeError) as exc:
            return [], f"The checkpoint's sample_labels do not fit the model: {str(exc).splitlines()[0]}"
        rows = list(vectors)
    return [Face(f"bundled encoding {i + 1}", rows[i], z=means[i], kind="bundled") for i in range(len(means))], None


# ----- the test set, off the GUI thread -----
def dataset_name(entry) -> str | None:
    return (entry.checkpoint.dataset or {}).get("name") if entry is not None else None


def check_test_set(data, entry) -> str | None:
    """None when the test images fit the model; otherwise one sentence saying what does not."""
    caps = entry.checkpoint.capabilities
    model_names = list(entry.checkpoint.label_names or [])
    shape = tuple(data.images.shape[1:])
    if shape != tuple(caps.image_shape):
        fmt = "×".join
        return (f"The {data.name} test images are {fmt(map(str, shape))} (channels×height×width), but the model "
                f"takes {fmt(map(str, caps.image_shape))}.")
    if caps.takes_attributes:
        if data.label_kind != ATTRIBUTES:
            return f"The {data.name} test set has class labels, but the model takes {caps.label_count} attributes."
        names = list(data.label_names)
        if len(names) != caps.label_count:
            return (f"The attribute file lists {len(names)} attributes, but the model takes {caps.label_count}; "
                    "they must be the attributes it was trained on.")
        if model_names and names != model_names:
            column = next(i for i, (a, b) in enumerate(zip(names, model_names)) if a != b)
            return (f"The attribute file's names differ from the model's: column {column + 1} is {names[column]!r} "
                    f"where the model has {model_names[column]!r}.")
    elif caps.takes_class:
        if data.label_kind != CLASS_LABEL:
            return f"The {data.name} test set has attributes, but the model takes one of {caps.label_count} classes."
        if len(data.labels) and int(data.labels.max()) >= caps.label_count:
            return (f"The {data.name} test set has class {int(data.labels.max())}, but the model knows only "
                    f"{caps.label_count} classes.")
    return None


def held_out_faces(data, entry, count: int = BROWSE_COUNT) -> list[Face]:
    """The first `count` test images with their own labels."""
    model = entry.checkpoint.model
    n = min(count, len(data))
    images = data.images[:n].float() / 255
    labels = None
    if model.conditional:
        labels = model.label_vector(data.labels[:n], n, torch.device("cpu")).float()
    return [Face(f"test image {i + 1}", None if labels is None else labels[i], image=images[i], kind="test")
            for i in range(n)]


class _Relay(QtCore.QObject):
    """Carries a finished load from a pool thread to the GUI thread (queued: it lives in the GUI thread)."""

    done = QtCore.Signal(object, object, object)  # key, ImageDataset or None, message or None


class _LoadTask(QtCore.QRunnable):
    def __init__(self, relay: _Relay, key: tuple, name: str, folder: str, image_size: int, limit: int | None):
        super().__init__()
        self.relay, self.key = relay, key
        self.args = (name, folder, image_size, limit)

    def run(self) -> None:  # on a pool thread
        name, folder, image_size, limit = self.args
        data, message = None, None
        try:
            data = cvae_data.load_dataset(name, folder, "test", image_size=image_size, limit=limit)
        except CvaeError as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 (whatever went wrong, the window must only report it)
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unexpected failure'}"
        try:
            self.relay.done.emit(self.key, data, message)
        except RuntimeError:  # the window is gone
            pass


class HeldOutLoader(QtCore.QObject):
    """Loads the first few test images of a data set on a worker thread; `loaded(key, data)` or `failed(key,
    message)` arrive on the GUI thread. Successful loads are kept (by data set, folder, size and count)."""

    loaded = QtCore.Signal(object, object)
    failed = QtCore.Signal(object, str)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._relay = _Relay()  # unparented: outlives this loader if a load finishes after the window is gone
        self._relay.done.connect(self._finished)
        self._done: dict[tuple, object] = {}
        self.pending: set[tuple] = set()

    @staticmethod
    def key_for(name: str, folder, image_size: int, limit: int | None = BROWSE_COUNT) -> tuple:
        return (name, str(Path(folder).expanduser()), int(image_size), None if limit is None else int(limit))

    def cached(self, key: tuple):
        return self._done.get(key)

    def request(self, name: str, folder, image_size: int, limit: int | None = BROWSE_COUNT) -> tuple:
        """Start loading the first `limit` test images (None: all; unless done or under way); returns the key the
        answer will carry."""
        key = self.key_for(name, folder, image_size, limit)
        if key in self._done:
            QtCore.QTimer.singleShot(0, self, lambda: self.loaded.emit(key, self._done.get(key)))  # as if loaded
        elif key not in self.pending:
            self.pending.add(key)
            self.pool.start(_LoadTask(self._relay, key, *key))
        return key

    def busy(self) -> bool:
        return bool(self.pending)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the worker is idle (tests, shutdown); the answers still arrive through the event loop."""
        return self.pool.waitForDone(msecs)

    def settle(self, msecs: int = 30000) -> bool:
        """Block until the worker is idle and its answers have arrived (tests, screenshots); False on timeout."""
        deadline = time.monotonic() + msecs / 1000
        while self.pending and time.monotonic() < deadline:
            self.pool.waitForDone(max(1, int((deadline - time.monotonic()) * 1000)))
            QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        return not self.pending

    def _finished(self, key, data, message) -> None:
        self.pending.discard(key)
        if data is not None:
            self._done[key] = data
            self.loaded.emit(key, data)
        else:
            self.failed.emit(key, message or "the test images could not be loaded")


# ----- one model's faces, from wherever they come -----
class FaceSource(QtCore.QObject):
    """The faces a panel offers for one model: `bundled` (the checkpoint's encodings), `test_faces` (the first
    `count` held-out test images of the session's data folder, with their labels; loaded on a worker thread) and
    `opened` (the image files opened last). `folder_row` is its widget: the folder, what was found there, and a
    one-line message (`show_message`); `picker` (the panel places it) asks about an opened photo with several faces
    or none, one photo at a time; `chosen(face, context)` when the user has answered (the face is in `opened`
    already; `context` is what `open_files` was given, e.g. which endpoint).

    `loaded()` when test faces have arrived; `unavailable(message)` when the folder has none (the message is shown
    already); `folder_changed()` when the session's data folder changed while a model is shown and the panel
    (`parent`, an explorer.panels.Panel) is in view: time to `load()` again (a hidden panel shows its model afresh
    when shown). The panel says what the faces are for (`purpose`, e.g. "to browse test images"), for the
    messages."""

    loaded = QtCore.Signal()
    unavailable = QtCore.Signal(str)
    folder_changed = QtCore.Signal()
    chosen = QtCore.Signal(object, object)  # Face, the context open_files was given

    def __init__(self, session, purpose: str, count: int = BROWSE_COUNT, parent=None):
        super().__init__(parent)
        self.session = session
        session.data_dir_changed.connect(self._data_dir_changed)
        self.purpose = purpose
        self.count = count
        self.entry = None
        self.bundled: list[Face] = []
        self.test_faces: list[Face] = []
        self.test_labels: torch.Tensor | None = None   # the loaded test set's attribute rows (attribute models)
        self.opened: list[Face] = []
        self.loader = session.loader
        self.loader.loaded.connect(self._loaded)
        self.loader.failed.connect(self._failed)
        self.folder_row = DataFolderRow(session)
        self.message = self.folder_row.message
        self.picker = FacePicker()
        self.picker.picked.connect(self._picked)
        self.picker.centre_chosen.connect(lambda: self._picked(None))
        self.picker.skipped.connect(self._skipped)
        self._waiting: list[tuple[FacePhoto, object]] = []   # photos that wait for the user, the first one asked
        self._batch: list[Face] = []   # the faces of the last open_files, in order answered
        self._keep: int | None = None
        self._key = None

    def set_entry(self, entry) -> str | None:
        """Start over for `entry` (or None): its bundled encodings, nothing loaded or opened yet. Returns the
        message when its bundled encodings are unusable (shown already)."""
        self.entry = entry
        self.bundled, self.test_faces, self.test_labels, self.opened = [], [], None, []
        self._key = None
        self._waiting, self._batch = [], []
        self.picker.clear()
        self.show_message("")
        self.folder_row.set_state("")
        if entry is None:
            return None
        self.bundled, problem = bundled_faces(entry)
        if problem:
            self.show_message(problem)
        return problem

    def load(self, alternatives: str = "open image files") -> bool:
        """Start loading the test faces from the session's data folder (any loaded before are dropped); True when a
        load started. Without a folder, or when the checkpoint names no data set, says so (unless bundled
        encodings stand in), suggesting `alternatives`."""
        self.test_faces, self.test_labels = [], None
        name, folder = dataset_name(self.entry), self.session.data_dir
        if folder is None or not name:
            self._key = None
            self.folder_row.set_state("")
            if not self.bundled:
                self.show_message(f"No data folder: choose one {self.purpose}, or {alternatives}." if folder is None
                                  else "The checkpoint does not say which data set it was trained on, so there are "
                                  f"no test images; {alternatives} instead.")
            return False
        self.folder_row.set_state("loading test images …")
        self._key = self.loader.request(name, folder, self.entry.checkpoint.capabilities.image_shape[1], self.count)
        return True

    @property
    def loading(self) -> bool:
        return self._key is not None and self._key in self.loader.pending

    def settle(self, msecs: int = 30000) -> bool:
        """Wait until a load under way has answered (tests, screenshots)."""
        return self.loader.settle(msecs)

    def labels_like(self) -> torch.Tensor | None:
        """Label rows like the data's, for a picture that has none: the test set's, else the bundled faces'."""
        if self.test_labels is not None:
            return self.test_labels
        if self.bundled and self.bundled[0].label is not None:
            return torch.stack([f.label for f in self.bundled])
        return None

    def open_files(self, paths, keep: int | None = None, context=None) -> tuple[list[Face], list[str]]:
        """Faces from image files (the first `keep` of them become `opened`), and one message per file that could
        not be read or cannot work; the first problem is shown, nothing else changes for it. A face photo with
        several faces or none is not among the faces returned: the picker asks about it (the photos of an earlier
        call that still wait are dropped), and `chosen(face, context)` follows the answer."""
        faces, errors, undecided = file_faces(self.entry, list(paths), self.labels_like(), self.session.judge)
        self.show_message(errors[0] + (f" (and {len(errors) - 1} more files)" if len(errors) > 1 else "")
                          if errors else "")
        self._batch, self._keep = list(faces), keep
        if faces:
            self.opened = faces[:keep]
        self._waiting = [(photo, context) for photo in undecided]
        self._ask()
        return faces, errors

    @property
    def waiting(self) -> list[FacePhoto]:
        """The opened photos that wait for the user to pick a face (or take the centre crop), the first one asked."""
        return [photo for photo, _ in self._waiting]

    def _ask(self) -> None:
        if not self._waiting:
            self.picker.clear()
            return
        photo, _ = self._waiting[0]
        more = f" ({len(self._waiting) - 1} more photos wait)" if len(self._waiting) > 1 else ""
        if photo.faces:
            candidates = [photo.aligned(i) for i in range(len(photo.faces))]
            tips = [f"face {i + 1}: {int(f.box[2])}×{int(f.box[3])} pixels at ({int(f.box[0])}, {int(f.box[1])})"
                    + ("" if f.eyes_detected else "; eyes placed from the face box") for i, f in enumerate(photo.faces)]
            self.picker.ask(f"{len(photo.faces)} faces in {photo.name}: click the one to use{more}", candidates, tips)
        else:
            self.picker.ask(f"No face found in {photo.name}; use its plain centre crop instead (not aligned like "
                            f"the training faces), or skip it{more}", [], [], centre=photo.centre())

    def _picked(self, index: int | None) -> None:
        """The user's answer about the first photo waiting: face `index`, or None for the centre crop."""
        if not self._waiting or self.entry is None:
            return
        photo, context = self._waiting.pop(0)
        face = photo_face(self.entry, photo, index, self.session.judge, self.labels_like())
        self._batch.append(face)
        self.opened = self._batch[:self._keep]
        self._ask()
        self.chosen.emit(face, context)

    def _skipped(self) -> None:
        if self._waiting:
            self._waiting.pop(0)
        self._ask()

    def show_message(self, text: str) -> None:
        self.folder_row.set_message(text)

    def _data_dir_changed(self, folder) -> None:
        panel = self.parent()
        if self.entry is not None and (panel is None or panel.refresh_when_shown()):
            self.folder_changed.emit()

    def _loaded(self, key, data) -> None:
        if key != self._key or self.entry is None:
            return
        self.folder_row.set_state(f"{min(len(data), self.count)} test images")
        problem = check_test_set(data, self.entry)
        if problem:
            self.show_message(problem)
            self.unavailable.emit(problem)
            return
        self.show_message("")
        self.test_faces = held_out_faces(data, self.entry, self.count)
        self.test_labels = data.labels if self.entry.checkpoint.capabilities.takes_attributes else None
        self.loaded.emit()

    def _failed(self, key, message: str) -> None:
        if key != self._key or self.entry is None:
            return
        self.folder_row.set_state("no test images")
        self.show_message(message)
        self.unavailable.emit(message)
