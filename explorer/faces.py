"""Where the Interpolate and Edit panels get their faces (or digits): held-out test images of the model's data set,
loaded off the GUI thread; image files the user opens, preprocessed as the model's data was; prior samples; and the
encodings a checkpoint may ship instead of images (`derived["sample_means"]`, `derived["sample_labels"]`). Also the
CelebA attributes in groups, and the edit presets.

Everything here decides by what the model can do (its capabilities and label names), never by its family.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6 import QtCore, QtGui, QtWidgets

from cvae import data as cvae_data
from cvae import latent as L
from cvae.data.faces import decode_face
from cvae.derived import Derived
from cvae.errors import CvaeError, DatasetError
from cvae.models.capabilities import ATTRIBUTES, CLASS_LABEL
from explorer.images import to_qimage

DATA_DIR_KEY = "train/data_dir"  # the data folder the Train panel remembers; these panels share it
BROWSE_COUNT = 64                 # test images offered in a browser

# CelebA's 40 attributes, grouped as a person would look for them; names a model has beyond these go to "Other"
ATTRIBUTE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Hair", ("Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Receding_Hairline",
              "Straight_Hair", "Wavy_Hair")),
    ("Face shape", ("Chubby", "Double_Chin", "High_Cheekbones", "Oval_Face", "Pointy_Nose", "Big_Nose",
                    "Rosy_Cheeks")),
    ("Facial hair", ("5_o_Clock_Shadow", "Goatee", "Mustache", "No_Beard", "Sideburns")),
    ("Eyes and brows", ("Arched_Eyebrows", "Bags_Under_Eyes", "Bushy_Eyebrows", "Narrow_Eyes")),
    ("Mouth and expression", ("Big_Lips", "Mouth_Slightly_Open", "Smiling")),
    ("Accessories and make-up", ("Eyeglasses", "Heavy_Makeup", "Wearing_Earrings", "Wearing_Hat",
                                 "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie")),
    ("Overall look", ("Attractive", "Blurry", "Male", "Pale_Skin", "Young")),
)

# the seed report's edits: title → {attribute: value}; offered only when the model has every name it uses
PRESETS: tuple[tuple[str, dict[str, float]], ...] = (
    ("all smiling", {"Smiling": 1.0}),
    ("wearing eyeglasses", {"Eyeglasses": 1.0}),
    ("men with moustache", {"Male": 1.0, "Mustache": 1.0, "No_Beard": 0.0}),
)


def group_attributes(names: list[str]) -> list[tuple[str, list[str]]]:
    """The model's attribute names in ATTRIBUTE_GROUPS' order; the rest (another data set's) under "Other"."""
    present = set(names)
    out, placed = [], set()
    for title, members in ATTRIBUTE_GROUPS:
        found = [n for n in members if n in present]
        if found:
            out.append((title, found))
            placed.update(found)
    rest = [n for n in names if n not in placed]
    if rest:
        out.append(("Other" if out else "Attributes", rest))
    return out


def presets_for(names: list[str]) -> list[tuple[str, dict[str, float]]]:
    """The presets whose attributes the model has, all of them."""
    present = set(names)
    return [(title, values) for title, values in PRESETS if present.issuperset(values)]


def pretty(name: str) -> str:
    return name.replace("_", " ").replace("5 o Clock", "5 o'clock")


# ----- faces: a picture and its label, or an encoding -----
@dataclass
class Face:
    """One source: a picture and the label it is encoded under, or a latent point that needs no encoding."""

    description: str
    label: torch.Tensor | None          # (label_dim,) float vector; None for a model that takes no label
    image: torch.Tensor | None = None   # (C, H, W) float in [0, 1]: the source picture (None for an encoding)
    z: torch.Tensor | None = None       # (latent_dim,): a bundled encoding or a prior sample, used as it is
    kind: str = "test"                  # test, file, generated, bundled


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


def as_sampled(labels: torch.Tensor | None, label_dim: int) -> torch.Tensor:
    """The attribute vector given to a picture that has none (an opened file, a prior sample): each attribute on
    where it is on for most of the data (the means thresholded at ½), all off when there is no data."""
    if labels is None or labels.numel() == 0 or labels.dim() != 2 or labels.shape[1] != label_dim:
        return torch.zeros(label_dim)
    return (labels.float().mean(0) > 0.5).float()


@torch.no_grad()
def guess_class(model, image: torch.Tensor) -> int:
    """The class under which the model reconstructs `image` best (one batched encode and decode over the K
    classes): the label an opened file of a class-label model is encoded under."""
    classes = model.config.label_dim
    batch = image[None].expand(classes, -1, -1, -1)
    labels = torch.arange(classes)
    recon = L.decode(model, L.encode_means(model, batch, labels), labels)
    return int(((recon - batch) ** 2).flatten(1).mean(1).argmin())


def load_image_file(path: str | os.PathLike, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file as (C, H, W) float in [0, 1], prepared as the face loader prepares a data set's images: the
    centre square cut out and resized with antialiasing (cvae.data.faces.decode_face); one channel (luminance) for
    a grayscale model. Raises DatasetError with one line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} does not exist or is not a file; expected an image (PNG, JPEG, ...)")
    channels, height, width = image_shape
    side = max(height, width)
    image = decode_face(path, side, crop_square=True)  # (3, side, side) uint8
    if (height, width) != (side, side):  # a non-square model: cut its aspect ratio out of the centre square
        top, left = (side - height) // 2, (side - width) // 2
        image = image[:, top:top + height, left:left + width]
    picture = image.float() / 255
    if channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        picture = (picture * weights).sum(0, keepdim=True)
        picture = (picture * 255).round() / 255  # the 8-bit grey a grayscale data set holds
    elif channels != 3:
        raise DatasetError(f"the model takes {channels}-channel images; an image file can only give 1 or 3")
    return picture.contiguous()


def file_faces(entry, paths, labels_like: torch.Tensor | None) -> tuple[list[Face], list[str]]:
    """Faces from image files (label: the best-reconstructing class, or the attributes as sampled), and one
    message per file that could not be read."""
    model = entry.checkpoint.model
    caps = entry.checkpoint.capabilities
    faces, errors = [], []
    for path in paths:
        try:
            image = load_image_file(path, caps.image_shape)
        except CvaeError as exc:
            errors.append(str(exc))
            continue
        if caps.takes_class:
            label = label_row(model, guess_class(model, image))
            how = "read as " + describe_label(entry, label)
        elif caps.takes_attributes:
            label = as_sampled(labels_like, caps.label_count)
            how = "attributes as sampled"
        else:
            label, how = None, ""
        faces.append(Face(Path(path).name + (f" ({how})" if how else ""), label, image=image, kind="file"))
    return faces, errors


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
    def __init__(self, relay: _Relay, key: tuple, name: str, folder: str, image_size: int, limit: int):
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
    def key_for(name: str, folder, image_size: int, limit: int = BROWSE_COUNT) -> tuple:
        return (name, str(Path(folder).expanduser()), int(image_size), int(limit))

    def cached(self, key: tuple):
        return self._done.get(key)

    def request(self, name: str, folder, image_size: int, limit: int = BROWSE_COUNT) -> tuple:
        """Start loading (unless done or under way); returns the key the answer will carry."""
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

    def _finished(self, key, data, message) -> None:
        self.pending.discard(key)
        if data is not None:
            self._done[key] = data
            self.loaded.emit(key, data)
        else:
            self.failed.emit(key, message or "the test images could not be loaded")


def resolve_data_dir(explicit, settings: QtCore.QSettings | None) -> Path | None:
    """The folder chosen in this panel, else the remembered one (QSettings train/data_dir), else $CVAE_DATA_DIR."""
    if explicit:
        return Path(explicit).expanduser()
    remembered = settings.value(DATA_DIR_KEY, "") if settings is not None else ""
    if remembered:
        return Path(str(remembered)).expanduser()
    env = os.environ.get(cvae_data.DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


# ----- small widgets -----
def thumbnail_icon(image: torch.Tensor, size: int) -> QtGui.QIcon:
    qimage = to_qimage(image).scaled(size, size, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                     QtCore.Qt.TransformationMode.FastTransformation)
    return QtGui.QIcon(QtGui.QPixmap.fromImage(qimage))


class FaceBrowser(QtWidgets.QListWidget):
    """A grid of thumbnails; `picked(index)` when one is clicked."""

    picked = QtCore.Signal(int)

    def __init__(self, thumbnail: int = 50, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.thumbnail = thumbnail
        self.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.setIconSize(QtCore.QSize(thumbnail, thumbnail))
        self.setGridSize(QtCore.QSize(thumbnail + 8, thumbnail + 8))
        self.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.setMovement(QtWidgets.QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.itemClicked.connect(lambda item: self.picked.emit(self.row(item)))

    def set_pictures(self, pictures: list[torch.Tensor], tooltips: list[str]) -> None:
        self.clear()
        for picture, tip in zip(pictures, tooltips):
            item = QtWidgets.QListWidgetItem(thumbnail_icon(picture, self.thumbnail), "")
            item.setToolTip(tip)
            self.addItem(item)


class DataFolderRow(QtWidgets.QWidget):
    """'Data folder: …' with a Choose button, and a one-line message under it (hidden when empty)."""

    choose = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.folder_label = QtWidgets.QLabel("")
        self.folder_label.setStyleSheet("color: #666")
        self.folder_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.folder_label, 1)
        self.choose_button = QtWidgets.QPushButton("Choose data folder…")
        self.choose_button.clicked.connect(self.choose.emit)
        row.addWidget(self.choose_button)
        layout.addLayout(row)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a33")
        self.message.hide()
        layout.addWidget(self.message)

    def set_folder(self, folder: Path | None, state: str = "") -> None:
        text = f"Data folder: {folder}" if folder else "No data folder (choose one, or set CVAE_DATA_DIR)"
        self.folder_label.setText(text + (f"  ·  {state}" if state else ""))

    def set_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))


def choose_folder(parent: QtWidgets.QWidget, start: Path | None) -> Path | None:
    folder = QtWidgets.QFileDialog.getExistingDirectory(parent, "Choose the data folder", str(start or Path.home()))
    return Path(folder) if folder else None


IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


__all__ = ["ATTRIBUTE_GROUPS", "BROWSE_COUNT", "DATA_DIR_KEY", "PRESETS", "DataFolderRow", "Face", "FaceBrowser",
           "HeldOutFolder", "HeldOutLoader", "as_sampled", "bundled_faces", "check_test_set", "describe_label", "encode_face",
           "file_faces", "generated_face", "group_attributes", "guess_class", "held_out_faces", "label_row",
           "load_image_file", "presets_for", "resolve_data_dir"]


class HeldOutFolder:
    """The data folder of a panel that loads held-out test images (Interpolate, Edit): its own choice, else the
    one every panel shares. The panel provides `chosen_dir`, `settings`, `entry`, `folder_row` and
    `_start_loading()`."""

    @property
    def data_dir(self) -> Path | None:
        return resolve_data_dir(self.chosen_dir, self.settings)

    def set_data_dir(self, path: str | os.PathLike | None) -> None:
        """Use this folder (and remember it for the other panels); reloads the test images."""
        self.chosen_dir = Path(path) if path else None
        if path:
            self.settings.setValue(DATA_DIR_KEY, str(path))
        if self.entry is not None:
            self._start_loading()

    def choose_data_folder(self) -> None:
        folder = choose_folder(self, self.data_dir)
        if folder:
            self.set_data_dir(folder)

    def show_message(self, text: str) -> None:
        self.folder_row.set_message(one_line(text) if text else "")

