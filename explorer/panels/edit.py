"""Edit: real images encoded under their own labels and decoded under edited ones. Attribute models get a keep / on /
off switch and a strength slider (−1 … 2) per attribute, and the seed report's presets where the model has those
attributes; class models a target class and a strength. Each face is shown as original | reconstruction (its own
labels) | edited, with a face judge's reading of the edited attributes under it when the window has a judge. An
attribute edit goes by label, by latent attribute direction or both (the rows' values are the target; the arithmetic
is cvae.attribute_edits.edit_inputs), optionally with its related attributes (implied_edit on the checkpoint's
training attribute rows), the ones that set listed; a checkpoint without directions keeps to labels, saying why.

Faces come from the panel's FaceSource (explorer.faces): the first K held-out test images of the session's data
folder, image files the user opens, or (no data folder) the encodings a checkpoint ships, whose decodes stand in for
the originals. The edited labels are cvae.latent's (edited_labels, toward_class); the judge is the session's. One
batched decode per change: widget signals are gathered by a 30 ms single-shot timer.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PySide6 import QtCore, QtWidgets

from cvae import attribute_edits as AE
from cvae import latent as L
from explorer import faces as FX
from explorer.images import save_png
from explorer.panels import GENERATIVE, Panel, label_word
from explorer.widgets.attribute_rows import KEEP, OFF, ON, AttributeRow, StrengthSlider
from explorer.widgets.attributes import group_attributes, presets_for, pretty
from explorer.widgets.edit_mode import EditModeBox, edit_support
from explorer.widgets.face_picker import AttributeDialog
from explorer.widgets.face_views import FaceTile

DEBOUNCE_MS = 30
MAX_FACES_PER_ROW = 4
PLACEHOLDER = "Choose a data folder or open image files to edit them"
SOURCES = {"test": "held-out test images", "file": "opened files", "bundled": "bundled encodings"}

__all__ = ["EditPanel", "KEEP", "OFF", "ON"]


class EditPanel(Panel):
    key = "edit"
    title = "Edit"

    requirements = ((GENERATIVE, "This model is a classifier: it reads images; it does not generate them."),
                    (lambda caps: caps.conditional, "This model takes no class or attributes, so there is nothing "
                     "to edit; Interpolate and Generate apply to it."))

    def __init__(self, session=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, parent)
        self.faces: list[FX.Face] = []
        self.source = ""                # "test", "file" or "bundled"
        self.z: torch.Tensor | None = None               # (K, latent_dim) the faces' encodings
        self.labels: torch.Tensor | None = None          # (K, label_dim) their own labels
        self.originals: torch.Tensor | None = None       # (K, C, H, W) the source pictures (None: encodings)
        self.reconstructions: torch.Tensor | None = None
        self.edited: torch.Tensor | None = None
        self.edited_labels: torch.Tensor | None = None
        self.readings: tuple[torch.Tensor, torch.Tensor] | None = None   # judge on reconstructions, on edits
        self.decoded: tuple[torch.Tensor, torch.Tensor] | None = None    # (codes, labels) the edits decoded from
        self.implied: dict[str, float] = {}            # attributes "adjust related attributes" set, and to what
        self.directions: torch.Tensor | None = None    # (A, latent) the checkpoint's attribute directions
        self.implied_rows: torch.Tensor | None = None  # (R, A) its training attribute rows (related attributes)
        self.decodes = 0                # batched decodes of the edited faces: one per change
        self.rows: dict[str, AttributeRow] = {}
        self.tiles: list[FaceTile] = []
        self.headers: list[QtWidgets.QWidget] = []
        self._row_names: tuple[str, ...] = ()
        self._per_row = 0
        self._building = False

        self.faces_from = FX.FaceSource(self.session, "to edit held-out test images", parent=self)
        self.faces_from.loaded.connect(self._test_set_loaded)
        self.faces_from.unavailable.connect(self._test_set_unavailable)
        self.faces_from.chosen.connect(lambda face, context: self.set_faces(self.faces_from.opened, "file"))
        self.faces_from.folder_changed.connect(self._start_loading)
        self.session.judge_changed.connect(self._judge_changed)
        self.timer = self.debounce(DEBOUNCE_MS, self.apply_edit)
        self._build()
        self.setEnabled(False)

    # ----- construction -----
    def _build(self) -> None:
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Images:"))
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.setMinimumWidth(170)
        self.source_combo.activated.connect(self._source_picked)
        top.addWidget(self.source_combo)
        self.count = QtWidgets.QSpinBox()
        self.count.setRange(1, 16)
        self.count.setValue(6)
        self.count.setPrefix("first ")
        self.count.setToolTip("How many held-out test images (or bundled encodings) to edit")
        self.count.valueChanged.connect(self._count_changed)
        top.addWidget(self.count)
        self.open_button = QtWidgets.QPushButton("Open images…")
        self.open_button.setToolTip("Edit your own image files: centre square, resized as the model's data was")
        self.open_button.clicked.connect(self.open_files_dialog)
        top.addWidget(self.open_button)
        self.own_button = QtWidgets.QPushButton("Photo's attributes…")
        self.own_button.setToolTip("The attributes an opened photo is encoded under (the judge's reading): "
                                   "correct them")
        self.own_button.clicked.connect(lambda: self.own_attributes_dialog())
        top.addWidget(self.own_button)
        top.addStretch(1)
        self.save_button = QtWidgets.QPushButton("Save PNG…")
        self.save_button.clicked.connect(self.save_dialog)
        top.addWidget(self.save_button)
        self.folder_row = self.faces_from.folder_row
        self.message = self.faces_from.message

        # the controls: presets and attribute rows, or a target class
        self.controls = QtWidgets.QWidget()
        self.controls.setFixedWidth(380)
        controls = QtWidgets.QVBoxLayout(self.controls)
        controls.setContentsMargins(0, 0, 0, 0)
        preset_row = QtWidgets.QHBoxLayout()
        self.preset_label = QtWidgets.QLabel("Preset:")
        preset_row.addWidget(self.preset_label)
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.activated.connect(lambda index: self.apply_preset(self.preset_combo.itemData(index)))
        preset_row.addWidget(self.preset_combo, 1)
        self.reset_button = QtWidgets.QPushButton("Keep all")
        self.reset_button.setToolTip("Every attribute back to each face's own value")
        self.reset_button.clicked.connect(self.reset)
        preset_row.addWidget(self.reset_button)
        controls.addLayout(preset_row)
        # label / direction / both, related attributes (cvae.attribute_edits); by default both, related adjusted:
        # on the bundled face model the best edits by both judges (README, "faces v2")
        self.edit_mode = EditModeBox(default_mode="both")
        self.edit_mode.changed.connect(self.schedule)
        controls.addWidget(self.edit_mode)
        self.class_box = QtWidgets.QWidget()
        class_form = QtWidgets.QFormLayout(self.class_box)
        class_form.setContentsMargins(0, 0, 0, 0)
        self.target_combo = QtWidgets.QComboBox()
        self.target_combo.currentIndexChanged.connect(self.schedule)
        self.target_label = QtWidgets.QLabel("Target class:")
        class_form.addRow(self.target_label, self.target_combo)
        self.class_strength = StrengthSlider(1.0)
        self.class_strength.setToolTip("0: each image's own label; 1: the target's one-hot; in between a mixture, "
                                       "beyond 1 past the target")
        self.class_strength.changed.connect(self.schedule)
        class_form.addRow("Strength:", self.class_strength)
        controls.addWidget(self.class_box)
        self.attribute_box = QtWidgets.QWidget()
        self.attribute_layout = QtWidgets.QVBoxLayout(self.attribute_box)
        self.attribute_layout.setContentsMargins(0, 0, 4, 0)
        self.attribute_layout.setSpacing(1)
        self.attribute_scroll = QtWidgets.QScrollArea()
        self.attribute_scroll.setWidget(self.attribute_box)
        self.attribute_scroll.setWidgetResizable(True)
        controls.addWidget(self.attribute_scroll, 1)
        self.class_stretch = QtWidgets.QWidget()
        controls.addWidget(self.class_stretch, 1)

        # the faces
        self.results = QtWidgets.QWidget()
        self.results_layout = QtWidgets.QGridLayout(self.results)
        self.results_layout.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.results_layout.setHorizontalSpacing(12)
        self.results_scroll = QtWidgets.QScrollArea()
        self.results_scroll.setWidget(self.results)
        self.results_scroll.setWidgetResizable(True)
        self.results_scroll.viewport().installEventFilter(self)
        self.hint = QtWidgets.QLabel(PLACEHOLDER)
        self.hint.setStyleSheet("color: #777")
        self.results_layout.addWidget(self.hint, 0, 0, 1, MAX_FACES_PER_ROW)
        self.caption = QtWidgets.QLabel("")
        self.caption.setStyleSheet("color: #666")
        self.caption.setWordWrap(True)

        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.results_scroll, 1)
        right.addWidget(self.caption)
        middle = QtWidgets.QHBoxLayout()
        middle.addWidget(self.controls)
        middle.addLayout(right, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.folder_row)
        layout.addWidget(self.faces_from.picker)
        layout.addLayout(middle, 1)

    def _clear_rows(self) -> None:
        while self.attribute_layout.count():
            item = self.attribute_layout.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.rows = {}

    def _build_attribute_rows(self, names: list[str]) -> None:
        self._clear_rows()
        for title, members in group_attributes(names):
            heading = QtWidgets.QLabel(f"<b>{title}</b>")
            heading.setContentsMargins(0, 6, 0, 0)
            self.attribute_layout.addWidget(heading)
            for name in members:
                row = AttributeRow(name)
                row.changed.connect(self._row_changed)
                self.rows[name] = row
                self.attribute_layout.addWidget(row)
        self.attribute_layout.addStretch(1)

    # ----- the session's judge -----
    @property
    def judge(self):
        """The session's judge for the model shown: images (N, C, H, W) in [0, 1] → (N, A) probabilities (with
        `label_names` when its columns are not the model's); None: no readings."""
        return self.session.judge

    def _judge_changed(self, judge) -> None:
        if self.entry is not None and self.z is not None and self.refresh_when_shown():
            self._judge_reconstructions()
            self.apply_edit()

    # ----- model -----
    def set_entry(self, entry) -> None:
        self.timer.stop()
        self.entry = entry
        self.model = None if entry is None else entry.checkpoint.model
        self.faces, self.source = [], ""
        self.z = self.labels = self.originals = self.reconstructions = self.edited = self.edited_labels = None
        self.readings = None
        self._show_tiles()
        self.caption.setText("")
        self.faces_from.set_entry(entry)
        self.setEnabled(entry is not None)
        if entry is None:
            self._clear_rows()
            self._row_names = ()
            return
        caps = entry.checkpoint.capabilities
        names = list(entry.checkpoint.label_names or [])
        self._building = True
        attributes = caps.takes_attributes
        if not attributes:
            self._clear_rows()
        elif self._row_names == tuple(names) and self.rows:  # the same attributes: the rows stay, all kept
            for row in self.rows.values():
                row.set_state(KEEP, 1.0)
        else:
            self._build_attribute_rows(names or [str(i) for i in range(caps.label_count)])
        self._row_names = tuple(names) if attributes else ()
        self.attribute_scroll.setVisible(attributes)
        self.class_stretch.setVisible(not attributes)
        self.class_box.setVisible(caps.takes_class)
        self.target_label.setText(f"Target {label_word(entry)}:")
        self.target_combo.clear()
        if caps.takes_class:
            self.target_combo.addItem(f"each image's own {label_word(entry)}", None)
            for index in range(caps.label_count):
                self.target_combo.addItem(names[index] if index < len(names) else str(index), index)
        self.class_strength.set_value(1.0)
        self.preset_combo.clear()
        presets = presets_for(names) if attributes else []
        self.preset_combo.addItem("—" if presets else "(none for these attributes)", None)
        for title, _ in presets:
            self.preset_combo.addItem(title, title)
        for widget in (self.preset_label, self.preset_combo, self.reset_button):
            widget.setVisible(attributes)
        self.directions, self.implied_rows = edit_support(entry.checkpoint) if attributes else (None, None)
        self.edit_mode.set_support(self.directions is not None, self.implied_rows is not None)
        self.edit_mode.setVisible(attributes)
        self.implied = {}
        self._building = False
        self._update_sources()
        if self.faces_from.bundled:
            self.use_bundled()
        self._start_loading()

    def _update_sources(self) -> None:
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        if self.faces_from.test_faces:
            self.source_combo.addItem(SOURCES["test"], "test")
        if self.faces_from.bundled:
            self.source_combo.addItem(SOURCES["bundled"], "bundled")
        if self.faces_from.opened:
            self.source_combo.addItem(f"{SOURCES['file']} ({len(self.faces_from.opened)})", "file")
        if not self.source_combo.count():
            self.source_combo.addItem("(none yet)", None)
        index = self.source_combo.findData(self.source)
        self.source_combo.setCurrentIndex(max(0, index))
        self.source_combo.blockSignals(False)
        self.count.setEnabled(self.source in ("test", "bundled"))
        self.open_button.setToolTip(FX.open_tip(self.entry, "Edit"))
        self.own_button.setVisible(self.entry is not None and self.entry.checkpoint.capabilities.takes_attributes)
        self.own_button.setEnabled(self.source == "file")

    def _source_picked(self, index: int) -> None:
        source = self.source_combo.itemData(index)
        if source == "test":
            self.use_test_images()
        elif source == "bundled":
            self.use_bundled()
        elif source == "file" and self.faces_from.opened:
            self.set_faces(self.faces_from.opened, "file")

    def _count_changed(self) -> None:
        if self.source == "test":
            self.use_test_images()
        elif self.source == "bundled":
            self.use_bundled()

    def _start_loading(self) -> None:
        """(Re)load the held-out faces from the session's folder; the faces of an earlier folder go at once."""
        had_test_faces = self.source == "test"
        self.faces_from.load()
        if had_test_faces:
            self._drop_test_faces()

    def _test_set_loaded(self) -> None:
        if self.source in ("", "bundled"):  # the user has not opened files: real faces replace the stand-ins
            self.use_test_images()
        else:
            self._update_sources()

    def _test_set_unavailable(self, message: str) -> None:
        self._update_sources()

    def _drop_test_faces(self) -> None:
        """The faces shown came from another folder's test set: the bundled stand-ins (or nothing) instead."""
        if self.faces_from.bundled:
            self.use_bundled()
            return
        self.faces, self.source = [], ""
        self.z = self.labels = self.originals = self.reconstructions = self.edited = self.edited_labels = None
        self.readings = None
        self._show_tiles()
        self._update_sources()
        self.caption.setText("")

    # ----- faces -----
    def use_test_images(self, count: int | None = None) -> bool:
        """Edit the first `count` (default: the count box) held-out test images; False if none are loaded."""
        return self._use("test", count)

    def use_bundled(self, count: int | None = None) -> bool:
        """Edit the first `count` (default: the count box) bundled encodings; False if the checkpoint has none."""
        return self._use("bundled", count)

    def _use(self, source: str, count: int | None) -> bool:
        faces = self.faces_from.test_faces if source == "test" else self.faces_from.bundled
        if not faces:
            return False
        if count is not None:
            self.count.blockSignals(True)
            self.count.setValue(count)
            self.count.blockSignals(False)
        self.set_faces(faces[:self.count.value()], source)
        return True

    def open_files(self, paths) -> int:
        """Edit these image files; returns how many are edited now. A face model's photo is found and aligned
        (several faces or none: the picker strip asks, and the face joins when answered), its attributes the
        judge's reading; a class model's file is labelled with the best-reconstructing class (explorer.faces).
        The first problem is shown in the panel; the faces shown before stay."""
        faces, _ = self.faces_from.open_files(paths, keep=self.count.maximum())
        if faces:
            self.set_faces(self.faces_from.opened, "file")
        return len(faces)

    def set_own_attributes(self, index: int, label: torch.Tensor) -> None:
        """Opened photo `index` is encoded under `label` (the user's correction of the judge's reading) from now
        on; re-encoded and re-edited."""
        face = self.faces_from.opened[index]
        face.label = torch.as_tensor(label).float().reshape(-1).clone()
        face.note = "attributes: the judge's reading, corrected by hand"
        face.description = face.description.split(" (")[0] + f" ({face.note})"
        self.set_faces(self.faces_from.opened, "file")

    def own_attributes_dialog(self, index: int | None = None, run: bool = True):
        """The attributes of an opened photo (the first, or `index`; several opened: the one asked for) as check
        boxes; OK makes them its own (set_own_attributes). Returns the dialog (not run when `run` is False)."""
        opened = self.faces_from.opened
        if self.source != "file" or not opened:
            return None
        if index is None:
            index = 0
            if len(opened) > 1 and run:
                names = [f"{i + 1}: {face.description.split(' (')[0]}" for i, face in enumerate(opened)]
                picked, ok = QtWidgets.QInputDialog.getItem(self, "Which photo", "Photo:", names, 0, False)
                if not ok:
                    return None
                index = names.index(picked)
        face = opened[index]
        names = list(self.entry.checkpoint.label_names or self.rows)
        dialog = AttributeDialog(names, face.label, f"Attributes of {face.description.split(' (')[0]}",
                                 f"{face.note[0].upper()}{face.note[1:]}. The photo is encoded under these; the "
                                 "rows on the left then edit from them." if face.note else "", self)
        dialog.accepted.connect(lambda: self.set_own_attributes(index, dialog.values()))
        if run:
            dialog.exec()
        return dialog

    def open_files_dialog(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open images to edit", "", FX.IMAGE_FILTER)
        if paths:
            self.open_files(paths)

    def set_faces(self, faces: list[FX.Face], source: str) -> None:
        """Encode the faces under their own labels (one batch), decode the reconstructions, then the edit."""
        self.faces, self.source = list(faces), source
        model = self.model
        labels = None
        if model.conditional:
            labels = torch.stack([f.label for f in faces])
        if all(f.image is not None for f in faces):
            self.originals = torch.stack([f.image for f in faces])
            self.z = L.encode_means(model, self.originals, labels)
        else:
            self.originals = None
            self.z = torch.stack([FX.encode_face(model, f) for f in faces])
        self.labels = labels
        self.reconstructions = L.decode(model, self.z, labels)
        self._update_sources()
        self._show_tiles()
        self._judge_reconstructions()
        self.apply_edit()

    # ----- edits -----
    def attribute_state(self, name: str) -> tuple[str, float]:
        row = self.rows[name]
        return row.state, row.strength.value()

    def set_attribute(self, name: str, state: str, strength: float | None = None) -> None:
        """keep / on / off for one attribute (and the strength "on" gives it); decoded after the debounce."""
        if name not in self.rows:
            raise KeyError(f"the model has no attribute {name!r}")
        self.rows[name].set_state(state, strength)

    def set_target_class(self, index: int | None, strength: float | None = None) -> None:
        """Decode every face as class `index` (None: its own), mixed with its own label by `strength`."""
        if strength is not None:
            self.class_strength.set_value(strength)
        self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(index)))

    def apply_preset(self, title: str | None) -> None:
        """One of explorer.widgets.attributes.PRESETS: its attributes set, every other attribute kept."""
        if not title:
            return
        values = dict(presets_for(list(self.rows)))[title]
        self._building = True
        try:
            for name, row in self.rows.items():
                if name in values:
                    row.set_state(ON if values[name] > 0 else OFF, values[name] if values[name] > 0 else None)
                else:
                    row.set_state(KEEP)
        finally:
            self._building = False
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(title)))
        self.schedule()

    def reset(self) -> None:
        self._building = True
        try:
            for row in self.rows.values():
                row.set_state(KEEP, 1.0)
            self.target_combo.setCurrentIndex(0)
            self.class_strength.set_value(1.0)
        finally:
            self._building = False
        self.preset_combo.setCurrentIndex(0)
        self.schedule()

    def changed_attributes(self) -> list[str]:
        return [name for name, row in self.rows.items() if row.state != KEEP]

    def attribute_values(self) -> dict[str, float]:
        """{attribute: the value every face gets} for the rows not kept (on: the strength, off: 0)."""
        return {name: row.value() for name, row in self.rows.items() if row.state != KEEP}

    def set_edit_mode(self, mode: str) -> None:
        """Edit by "label", "direction" or "both" (cvae.attribute_edits.edit_inputs); a checkpoint without
        directions refuses the last two with the reason. Decoded after the debounce."""
        self.edit_mode.set_mode(mode)

    def set_adjust_related(self, on: bool) -> None:
        """Also set the attributes implied by each edited one (cvae.attribute_edits.implied_edit)."""
        self.edit_mode.set_adjust_related(on)

    def edit_labels(self, labels: torch.Tensor | None = None) -> torch.Tensor | None:
        """The faces' own labels (K, label_dim) with the edits applied (cvae.latent.edited_labels for attributes,
        with "adjust related attributes" cvae.attribute_edits.implied_edit, whose partners land in `implied`;
        toward_class for a class target): the same values where nothing is changed."""
        labels = self.labels if labels is None else labels
        if labels is None:
            return None
        caps = self.entry.checkpoint.capabilities
        if caps.takes_attributes:
            names = list(self.entry.checkpoint.label_names or self.rows)
            values = self.attribute_values()
            self.implied = {}
            if values and self.edit_mode.adjust_related():
                edited, implied = AE.implied_edit(labels, {names.index(n): v for n, v in values.items()},
                                                  self.implied_rows)
                self.implied = {names[j]: value for j, value in implied.items()}
                return edited
            return L.edited_labels(labels, names, values)
        if caps.takes_class:
            return L.toward_class(labels, self.target_combo.currentData(), self.class_strength.value())
        return labels.clone()

    def _row_changed(self) -> None:
        if not self._building:
            self.preset_combo.setCurrentIndex(0)  # a hand-made edit is no longer the preset shown
        self.schedule()

    def schedule(self) -> None:
        if self.entry is not None and not self._building:
            self.timer.start()

    def apply_edit(self) -> torch.Tensor | None:
        """Decode every face under the edited labels in one batch; returns the (K, C, H, W) edits."""
        self.timer.stop()
        if self.model is None or self.z is None:
            return None
        self.edited_labels = self.edit_labels()
        if self.entry.checkpoint.capabilities.takes_attributes:  # by label, direction or both, at the rows' values
            self.decoded = AE.edit_inputs(self.z, self.labels, self.edited_labels, self.edit_mode.mode(),
                                          self.directions)
        else:
            self.decoded = (self.z, self.edited_labels)
        self.edited = L.decode(self.model, *self.decoded)
        self.decodes += 1
        edited_readings = self._judge(self.edited)
        if self.readings is not None and edited_readings is not None:
            self.readings = (self.readings[0], edited_readings)
        for tile, image in zip(self.tiles, self.edited):
            tile.views[-1].set_image(image)
        self._caption_tiles()
        changed = self.changed_attributes()
        what = SOURCES[self.source]
        if self.entry.checkpoint.capabilities.takes_class:
            target = self.target_combo.currentData()
            edit = ("no edit (each image's own label)" if target is None else
                    f"{label_word(self.entry)} {self.target_combo.currentText()} at strength "
                    f"{self.class_strength.value():.2f}")
        else:
            edit = ", ".join(f"{pretty(n)} {self.rows[n].state}"
                             + (f" ×{self.rows[n].strength.value():.2f}" if self.rows[n].state == ON else "")
                             for n in changed) or "no edit (every attribute kept)"
            if changed:
                edit += f" (by {self.edit_mode.mode()})"
            also = self.edit_mode.show_implied(self.implied)
            edit += f"; {also}" if also else ""
        self.caption.setText(f"{len(self.faces)} {what}; {edit}")
        return self.edited

    # ----- the judge -----
    def _judge(self, images: torch.Tensor) -> torch.Tensor | None:
        if self.judge is None:
            return None
        try:
            with torch.no_grad():
                out = torch.as_tensor(self.judge(images)).float().cpu()
        except Exception as exc:  # noqa: BLE001 (a judge that fails costs its readings, nothing else)
            self.faces_from.show_message(f"The face judge failed: {type(exc).__name__}: {exc}")
            return None
        return out.reshape(len(images), -1)

    def _judge_reconstructions(self) -> None:
        before = self._judge(self.reconstructions) if self.reconstructions is not None else None
        self.readings = None if before is None else (before, before)

    def _judge_column(self, name: str, index: int) -> int | None:
        names = getattr(self.judge, "label_names", None)
        if names:
            return list(names).index(name) if name in names else None
        return index

    def reading_text(self, face: int) -> str:
        """The judge's probability of each edited attribute (or the target class), reconstruction → edited."""
        if self.readings is None:
            return ""
        before, after = self.readings
        names = list(self.entry.checkpoint.label_names or [])
        caps = self.entry.checkpoint.capabilities
        if caps.takes_class:
            target = self.target_combo.currentData()
            wanted = [(names[target] if target < len(names) else str(target), target)] if target is not None else []
        else:
            wanted = [(n, names.index(n)) for n in self.changed_attributes() if n in names]
        parts = []
        for name, index in wanted[:3]:
            column = self._judge_column(name, index)
            if column is None or column >= after.shape[1]:
                continue
            parts.append(f"{pretty(name)} {before[face, column]:.2f}→{after[face, column]:.2f}")
        return ("judge: " + ", ".join(parts)) if parts else ""

    # ----- display -----
    def _show_tiles(self) -> None:
        """New tiles for the current faces (their original and reconstruction), then arranged to the width."""
        for widget in [*self.tiles, *self.headers]:
            self.results_layout.removeWidget(widget)
            widget.hide()
            widget.setParent(None)
            widget.deleteLater()
        self.tiles, self.headers = [], []
        self.hint.setVisible(not self.faces)
        if not self.faces:
            return
        columns = 3 if self.originals is not None else 2
        heads = ["Original", "Reconstruction", "Edited"] if columns == 3 else ["Decoded", "Edited"]
        for _ in range(min(MAX_FACES_PER_ROW, len(self.faces))):
            self.headers.append(FaceTile.header(heads))
        for i, face in enumerate(self.faces):
            tile = FaceTile(columns)
            pictures = ([self.originals[i]] if self.originals is not None else []) + [self.reconstructions[i]]
            for view, picture in zip(tile.views, pictures):
                view.set_image(picture)
            tile.setToolTip(f"{face.description}\n{FX.describe_label(self.entry, face.label)}".strip())
            self.tiles.append(tile)
        self._per_row = 0
        self._arrange()

    def faces_per_row(self) -> int:
        """As many faces side by side as the visible width holds (at least one)."""
        if not self.tiles:
            return 1
        spacing = self.results_layout.horizontalSpacing()
        margins = self.results_layout.contentsMargins()
        room = self.results_scroll.viewport().width() - margins.left() - margins.right() + spacing
        width = max(self.tiles[0].sizeHint().width(), *(h.sizeHint().width() for h in self.headers[:1]))
        return max(1, min(MAX_FACES_PER_ROW, len(self.tiles), room // (width + spacing)))

    def _arrange(self) -> None:
        per_row = self.faces_per_row()
        if per_row == self._per_row:
            return
        self._per_row = per_row
        for widget in [*self.tiles, *self.headers]:
            self.results_layout.removeWidget(widget)
        corner = QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop
        for column, header in enumerate(self.headers):
            header.setVisible(column < per_row)
            if column < per_row:
                self.results_layout.addWidget(header, 0, column, corner)
        for i, tile in enumerate(self.tiles):
            self.results_layout.addWidget(tile, 1 + i // per_row, i % per_row, corner)
            tile.show()
        last = 1 + (len(self.tiles) - 1) // per_row
        for row in range(self.results_layout.rowCount()):  # rows keep their height; the space left stays below
            self.results_layout.setRowStretch(row, 1 if row == last + 1 else 0)
        self.results_layout.setRowStretch(last + 1, 1)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.results_scroll.viewport() and event.type() == QtCore.QEvent.Type.Resize:
            self._arrange()
        return super().eventFilter(watched, event)

    def _caption_tiles(self) -> None:
        for i, (tile, face) in enumerate(zip(self.tiles, self.faces)):
            reading = self.reading_text(i)
            tile.caption.setText(face.description + (f" · {reading}" if reading else ""))

    def mosaic(self) -> torch.Tensor | None:
        """Every face's pictures in a row (original, reconstruction, edited), one row per face."""
        self.flush()
        if self.edited is None:
            return None
        parts = ([self.originals] if self.originals is not None else []) + [self.reconstructions, self.edited]
        images = torch.stack(parts, 1).flatten(0, 1)
        return L.tile(images, len(parts), padding=2, pad_value=1.0)

    def export_png(self, path: str | os.PathLike, scale: int = 1) -> Path:
        grid = self.mosaic()
        if grid is None:
            raise OSError("there are no edited faces to save yet")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        save_png(grid, path, scale)
        return path

    def save_dialog(self) -> None:
        name = f"{self.entry.name if self.entry else 'faces'}-edit.png"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the faces as PNG", name, "PNG images (*.png)")
        if path:
            height = self.edited.shape[-2] if self.edited is not None else 128
            try:
                saved = self.export_png(path, max(1, 128 // height))
            except OSError as exc:
                QtWidgets.QMessageBox.critical(self, "Cannot save", str(exc))
            else:
                self.caption.setText(f"Saved {saved}")
