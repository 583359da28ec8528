"""Generate: a grid of samples for a chosen class (or unconditional samples), with temperature and seed; for
attribute (face) models, 40 grouped attribute toggles (on / off / as sampled) and presets, the unforced attributes
drawn like the data (cvae.latent.labels_like_data), the forced ones applied by label, by latent attribute direction
(the prior's codes moved along the checkpoint's directions) or both, at a strength, optionally with their related
attributes (cvae.attribute_edits: edit_inputs, implied_edit); for the autoencoder, test images of the session's data
folder (loaded off the GUI thread) beside their reconstructions. Save the grid as PNG."""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch
from PySide6 import QtCore, QtWidgets

from cvae import attribute_edits as AE
from cvae import latent as L
from cvae.data import DATA_DIR_ENV
from cvae.derived import Derived
from explorer.images import ImageView, save_png
from explorer.panels import GENERATIVE, Panel, label_word, takes_class
from explorer.widgets.attribute_rows import StrengthSlider
from explorer.widgets.attribute_toggles import AttributeToggles
from explorer.widgets.edit_mode import EditModeBox, edit_support

DECODE_DELAY_MS = 30  # toggles and presets within this time make one decode

ALL_DIGITS = -1
DRAWN = {L.LIKE_THE_ROWS: "unforced attributes drawn like the training faces",  # labels_like_data's sources
         L.AT_THE_RATES: "unforced attributes drawn at the data's rates",
         L.EVEN_ODDS: "this checkpoint carries no attribute statistics: unforced attributes are drawn 50/50"}


class GeneratePanel(Panel):
    key = "generate"
    title = "Generate"

    requirements = ((GENERATIVE, "This model is a classifier: it reads images, it does not generate them."),)

    def __init__(self, session=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, parent)
        self.grid: torch.Tensor | None = None       # (C, H, W) mosaic in [0, 1]
        self.images: torch.Tensor | None = None     # (N, C, H, W)
        self.columns = 8
        self._load_key = None                       # the test set being loaded for reconstructions
        self._building = False
        self.session.loader.loaded.connect(self._test_set_loaded)
        self.session.loader.failed.connect(self._test_set_failed)
        self.session.data_dir_changed.connect(self._data_dir_changed)

        controls = QtWidgets.QHBoxLayout()
        self.digit_label = QtWidgets.QLabel("Digit:")
        controls.addWidget(self.digit_label)
        self.digit_combo = QtWidgets.QComboBox()
        self.digit_combo.setMinimumWidth(110)
        controls.addWidget(self.digit_combo)
        self.temperature_label = QtWidgets.QLabel("Temperature:")
        controls.addWidget(self.temperature_label)
        self.temperature = QtWidgets.QDoubleSpinBox()
        self.temperature.setRange(0.0, 3.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.temperature.setToolTip("Scale of z ~ N(0, T² I): below 1 gives cleaner, less varied samples")
        controls.addWidget(self.temperature)
        controls.addWidget(QtWidgets.QLabel("Seed:"))
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setValue(0)
        self.seed.setToolTip("The same seed gives the same grid")
        controls.addWidget(self.seed)
        self.resample_button = QtWidgets.QPushButton("Resample")
        self.resample_button.setToolTip("Draw a new seed and generate again")
        self.resample_button.clicked.connect(self.resample)
        controls.addWidget(self.resample_button)
        controls.addWidget(QtWidgets.QLabel("Grid:"))
        self.size_combo = QtWidgets.QComboBox()
        for n in (4, 6, 8, 10, 12, 16):
            self.size_combo.addItem(f"{n}×{n}", n)
        self.size_combo.setCurrentIndex(2)
        controls.addWidget(self.size_combo)
        controls.addStretch(1)
        self.save_button = QtWidgets.QPushButton("Save PNG…")
        self.save_button.clicked.connect(self.save_dialog)
        controls.addWidget(self.save_button)

        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.choose_button = QtWidgets.QPushButton("Choose data folder…")
        self.choose_button.clicked.connect(lambda: self.session.choose_data_dir(self))
        message_row = QtWidgets.QHBoxLayout()
        message_row.addWidget(self.message, 1)
        message_row.addWidget(self.choose_button)
        self.message_box = QtWidgets.QWidget()
        self.message_box.setLayout(message_row)
        self.message_box.hide()

        self.view = ImageView("Select a generative model", minimum=240)
        self.caption = QtWidgets.QLabel("")
        self.caption.setStyleSheet("color: #666")

        self.toggles = AttributeToggles()
        self.toggles.changed.connect(self._schedule)
        # how forced attributes are applied to the prior samples: label / direction / both, strength, related ones
        # (adjusted by default: the Male gap by both judges, 0.16-0.25 alone, 0.98-0.99 with them)
        self.edit_mode = EditModeBox()
        self.edit_mode.changed.connect(self._schedule)
        self.strength = StrengthSlider(1.0)
        self.strength.setToolTip("How far a forced attribute moves each sample: 1 is the attribute as in the data "
                                 "(by label: its value; by direction: one direction's length per unit of change)")
        self.strength.changed.connect(self._schedule)
        self.directions: torch.Tensor | None = None    # (A, latent) the checkpoint's attribute directions
        self.implied_rows: torch.Tensor | None = None  # (R, A) its training attribute rows
        self.implied: dict[str, float] = {}            # attributes "adjust related attributes" set, and to what
        self.attribute_box = QtWidgets.QWidget()
        self.attribute_box.setMinimumWidth(330)
        self.attribute_box.setMaximumWidth(420)
        side = QtWidgets.QVBoxLayout(self.attribute_box)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.edit_mode)
        strength_row = QtWidgets.QHBoxLayout()
        strength_row.addWidget(QtWidgets.QLabel("Strength:"))
        strength_row.addWidget(self.strength, 1)
        side.addLayout(strength_row)
        side.addWidget(self.toggles, 1)
        self.attribute_box.hide()
        self.decodes = 0  # batched decodes so far (one per change, however many widgets moved)
        self.decode_timer = self.debounce(DECODE_DELAY_MS, self.generate)

        body = QtWidgets.QHBoxLayout()
        body.addWidget(self.attribute_box)
        body.addWidget(self.view, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.message_box)
        layout.addLayout(body, 1)
        layout.addWidget(self.caption)

        for signal in (self.digit_combo.currentIndexChanged, self.temperature.valueChanged, self.seed.valueChanged,
                       self.size_combo.currentIndexChanged):
            signal.connect(self._controls_changed)
        self.setEnabled(False)

    # ----- model -----
    @property
    def mode(self) -> str:
        """"reconstruct" for the autoencoder; "attributes", "conditional" (class) or "unconditional" sampling."""
        if self.entry is None:
            return ""
        if not self.model.variational:
            return "reconstruct"
        if self.entry.checkpoint.capabilities.takes_attributes:
            return "attributes"
        return "conditional" if takes_class(self.entry) else "unconditional"

    def set_entry(self, entry) -> None:
        self.entry = entry
        self.model = None if entry is None else entry.checkpoint.model
        self.grid = self.images = None
        self._load_key = None
        self.setEnabled(entry is not None)
        self.message_box.hide()  # a message about the previous model (e.g. the autoencoder's data folder) goes
        self.view.set_placeholder("Select a generative model")
        self.decode_timer.stop()
        if entry is None:
            self.view.set_image(None)
            self.caption.setText("")
            self.attribute_box.hide()
            return
        self._building = True
        attributes = self.mode == "attributes"
        self.attribute_box.setVisible(attributes)
        if attributes:
            self.toggles.set_names(entry.checkpoint.label_names)
        self.directions, self.implied_rows = edit_support(entry.checkpoint) if attributes else (None, None)
        self.edit_mode.set_support(self.directions is not None, self.implied_rows is not None)
        self.implied = {}
        self.digit_combo.clear()
        word = label_word(entry)
        self.digit_label.setText(f"{word.capitalize()}:")
        if self.mode == "conditional":
            self.digit_combo.addItem(f"All {word}{'es' if word == 'class' else 's'}", ALL_DIGITS)
            for index, name in enumerate(entry.checkpoint.label_names):
                self.digit_combo.addItem(name, index)
            self.digit_combo.setCurrentIndex(0)
            tip = f"One {word} for the whole grid, or one row per {word}"
        else:
            self.digit_combo.addItem("—", None)
            tip = ("This model has no prior to sample from: it reconstructs test images; it takes no label."
                   if self.mode == "reconstruct" else "This model is unconditional: it takes no label.")
        self.digit_combo.setEnabled(self.mode == "conditional")
        self.digit_label.setEnabled(self.mode == "conditional")
        self.digit_combo.setVisible(self.mode != "attributes")  # faces get their toggles instead
        self.digit_label.setVisible(self.mode != "attributes")
        self.digit_combo.setToolTip(tip)
        sampling = self.mode != "reconstruct"
        self.temperature.setEnabled(sampling)
        self.temperature_label.setEnabled(sampling)
        self.temperature.setToolTip("Scale of z ~ N(0, T² I)" if sampling else
                                    "This model has no prior to sample from: it reconstructs test images.")
        self.seed.setToolTip("The same seed gives the same grid" if sampling else
                             "The seed picks which test images are shown")
        self._building = False
        self.generate()

    def _controls_changed(self) -> None:
        if not self._building and self.entry is not None:
            self.generate()

    def _schedule(self) -> None:
        """Toggles and presets: decode once after the burst of signals a click or preset makes."""
        if not self._building and self.entry is not None:
            self.decode_timer.start()

    def attribute_rows(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, str]:
        """`count` attribute vectors drawn like the data (rows the checkpoint ships, else its per-attribute
        rates, else 50/50), and a note on where they came from."""
        derived = Derived.of(self.entry.checkpoint)
        rows, source = L.labels_like_data(count, len(self.entry.checkpoint.label_names),
                                          (derived.attribute_rows, derived.sample_labels), derived.attribute_rates,
                                          generator)
        return rows, DRAWN[source]

    # ----- generation -----
    def resample(self) -> None:
        self.seed.setValue(random.randrange(0, 2 ** 31 - 1))  # triggers generate()

    def grid_size(self) -> int:
        return int(self.size_combo.currentData())

    def generate(self) -> torch.Tensor | None:
        """Fill the grid from the current controls; returns the (C, H, W) mosaic (None if nothing to show)."""
        if self.model is None:
            return None
        n = self.grid_size()
        seed = self.seed.value()
        if self.mode == "reconstruct":
            return self._reconstruct(n, seed)
        self.message_box.hide()
        temperature = self.temperature.value()
        labels = None
        if self.mode == "attributes":
            return self._generate_faces(n, seed, temperature)
        elif self.mode == "conditional":
            digit = self.digit_combo.currentData()
            if digit == ALL_DIGITS:
                classes = len(self.entry.checkpoint.label_names)
                labels = torch.arange(classes).repeat_interleave(n)
                count, columns = classes * n, n
                what = f"{n} samples per {label_word(self.entry)}, one row each"
            else:
                labels = torch.tensor([int(digit)])
                count, columns = n * n, n
                what = f"{n * n} samples of {label_word(self.entry)} {self.entry.checkpoint.label_names[int(digit)]}"
        else:
            count, columns = n * n, n
            what = f"{n * n} unconditional samples"
        self.decode_timer.stop()
        images, _ = L.sample_prior(self.model, count, labels, temperature=temperature, seed=seed)
        self.decodes += 1
        self._show(images, columns, f"{what}, temperature {temperature:g}, seed {seed}")
        return self.grid

    def set_edit_mode(self, mode: str) -> None:
        """Apply forced attributes by "label", "direction" or "both" (cvae.attribute_edits.edit_inputs); a
        checkpoint without directions refuses the last two with the reason. Redrawn after the debounce."""
        self.edit_mode.set_mode(mode)

    def set_adjust_related(self, on: bool) -> None:
        """Also set the attributes implied by each forced one (cvae.attribute_edits.implied_edit)."""
        self.edit_mode.set_adjust_related(on)

    def face_inputs(self, n: int, seed: int, temperature: float):
        """What a face grid decodes: (codes, labels, the drawn labels, where they came from). The prior's codes
        (seed) and attribute rows drawn like the data (seed + 1: toggles keep the same faces) are edited toward the
        forced attributes (and with "adjust related attributes" their partners) by the mode and strength chosen."""
        count = n * n
        generator = torch.Generator().manual_seed(seed + 1)  # not z's generator: toggles keep the same faces
        drawn, source = self.attribute_rows(count, generator)
        names = list(self.entry.checkpoint.label_names)
        values = {name: 1.0 if on else 0.0 for name, on in self.toggles.state().items()}
        self.implied = {}
        if values and self.edit_mode.adjust_related():
            target, implied = AE.implied_edit(drawn, {names.index(k): v for k, v in values.items()},
                                              self.implied_rows)
            self.implied = {names[j]: value for j, value in implied.items()}
        else:
            target = L.edited_labels(drawn, names, values)
        z = L.prior_codes(self.model, count, temperature, seed)
        codes, labels = AE.edit_inputs(z, drawn.to(z.device), target.to(z.device), self.edit_mode.mode(),
                                       self.directions, self.strength.value())
        return codes, labels, drawn, source

    def _generate_faces(self, n: int, seed: int, temperature: float) -> torch.Tensor:
        codes, labels, _, source = self.face_inputs(n, seed, temperature)
        self.decode_timer.stop()
        images = L.decode(self.model, codes, labels)
        self.decodes += 1
        forced = self.toggles.state()
        shown = ", ".join(f"{'+' if on else '−'}{name}" for name, on in forced.items()) or "nothing forced"
        how = ""
        if forced:
            how = f", by {self.edit_mode.mode()}" + (f" ×{self.strength.value():.2f}"
                                                   if self.strength.value() != 1.0 else "")
        also = self.edit_mode.show_implied(self.implied)
        what = f"{n * n} faces ({shown}{how}{'; ' + also if also else ''}; {source})"
        self._show(images, n, f"{what}, temperature {temperature:g}, seed {seed}")
        return self.grid

    def _show(self, images: torch.Tensor, columns: int, caption: str) -> None:
        self.images = images
        self.columns = columns
        self.grid = L.tile(images, columns, padding=2, pad_value=0.5)
        self.view.set_image(self.grid)
        self.caption.setText(caption)
        self.save_button.setEnabled(True)

    def _reconstruct(self, n: int, seed: int) -> torch.Tensor | None:
        data = self._test_set()
        if data is None:
            return None
        self.message_box.hide()
        pairs = max(1, n * n // 2)
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(data.images), generator=generator)[:pairs]
        originals = data.images[index].float() / 255
        recon = L.decode(self.model, L.encode_means(self.model, originals))
        columns = n if n % 2 == 0 else n + 1
        half = columns // 2
        ordered = []  # each row: `half` originals, then their reconstructions
        for start in range(0, pairs, half):
            chunk = slice(start, min(start + half, pairs))
            ordered.extend([originals[chunk], recon[chunk]])
            missing = half - (chunk.stop - chunk.start)
            if missing:
                ordered.insert(-1, torch.ones(missing, *originals.shape[1:]))
                ordered.append(torch.ones(missing, *originals.shape[1:]))
        self._show(torch.cat(ordered), columns,
                   f"{pairs} test images (left half of each row) and their reconstructions (right half), seed {seed}")
        return self.grid

    @property
    def data_dir(self) -> Path | None:
        return self.session.data_dir

    def _test_set(self):
        """The model's test set from the session's data folder, or None: a message and a folder button when there
        is none, or "loading" while it is read off the GUI thread (the grid follows when it arrives)."""
        name = (self.entry.checkpoint.dataset or {}).get("name", "mnist")
        if self.data_dir is None:
            self._need_data(f"Reconstructions need the {name} test images, and no data folder is set. "
                            f"Choose the folder that holds them (or set {DATA_DIR_ENV}).")
            return None
        image_size = self.entry.checkpoint.capabilities.image_shape[1]
        key = self.session.loader.key_for(name, self.data_dir, image_size, None)
        data = self.session.loader.cached(key)
        if data is None:
            if self._load_key != key:
                self._load_key = self.session.loader.request(name, self.data_dir, image_size, None)
            self._need_data(f"Loading the {name} test images from {self.data_dir} …", loading=True)
            return None
        size = tuple(self.model.config.image_size)
        if tuple(data.images.shape[1:]) != (self.model.config.image_channels, *size):
            self._need_data(f"The images in {self.data_dir} are {tuple(data.images.shape[1:])}, but the model "
                            f"expects {(self.model.config.image_channels, *size)}.")
            return None
        return data

    def _test_set_loaded(self, key, data) -> None:
        if key == self._load_key and self.mode == "reconstruct":
            self._load_key = None
            self.generate()

    def _test_set_failed(self, key, message: str) -> None:
        if key == self._load_key and self.mode == "reconstruct":
            self._load_key = None
            name = (self.entry.checkpoint.dataset or {}).get("name", "mnist")
            self._need_data(f"Cannot read the {name} test images: {message}")

    def _need_data(self, text: str, loading: bool = False) -> None:
        self.message.setText(text)
        self.message_box.show()
        self.choose_button.setVisible(not loading)
        self.images = self.grid = None
        self.view.set_image(None)
        self.view.set_placeholder("Loading the test images …" if loading else "No test images to reconstruct yet")
        self.caption.setText("")
        self.save_button.setEnabled(False)

    def _data_dir_changed(self, folder) -> None:
        if self.entry is not None and self.mode == "reconstruct" and self.refresh_when_shown():
            self._load_key = None
            self.generate()

    def wait_for_test_set(self, msecs: int = 30000) -> bool:
        """Wait until a test set being loaded has arrived (and the grid with it): tests, screenshots."""
        return self.session.loader.settle(msecs)

    # ----- saving -----
    def save_png(self, path: str | os.PathLike) -> Path:
        """Write the current grid (native resolution) as a PNG; raises OSError if there is none or it fails."""
        if self.grid is None:
            raise OSError("there is no grid to save yet")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        save_png(self.grid, path)
        return path

    def save_dialog(self) -> None:
        name = (self.entry.name if self.entry else "samples") + f"-seed{self.seed.value()}.png"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the grid as PNG", name, "PNG images (*.png)")
        if path:
            try:
                saved = self.save_png(path)
            except OSError as exc:
                QtWidgets.QMessageBox.critical(self, "Cannot save", str(exc))
            else:
                self.caption.setText(f"Saved {saved}")
