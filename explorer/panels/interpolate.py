"""Interpolate: two endpoints (held-out test images, image files, prior samples or a checkpoint's bundled
encodings), encoded to their posterior means, and the N-step path between them (linear or spherical) decoded in one
batched call and shown as a strip; export the strip as PNG or the path as an animated GIF.

Endpoints come from the panel's FaceSource (explorer.faces) and carry their labels: a test image its own, a class
model's file the class it reconstructs best under (the endpoint's class selector changes it), a face model's photo
its face found and aligned like the training faces and the judge's reading of it (several faces or none: the picker
strip under the endpoints asks), a prior sample the attributes "as sampled" (cvae.latent.typical_attributes: each on
where it is on for most of the test set, all off without data); an attribute endpoint's Attributes… corrects them.
With "Interpolate labels too" the label moves along the path with z (class labels as mixtures of one-hots); without
it the whole path is decoded under endpoint A's label (cvae.latent.path_labels).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import torch
from PIL import Image
from PySide6 import QtCore, QtWidgets

from cvae import latent as L
from explorer import faces as FX
from explorer.images import ImageView, save_png, to_uint8
from explorer.panels import GENERATIVE, Panel, label_word
from explorer.widgets.face_picker import AttributeDialog
from explorer.widgets.face_views import EndpointBox, FaceBrowser

DEBOUNCE_MS = 30
ENDS = ("A", "B")


class InterpolatePanel(Panel):
    key = "interpolate"
    title = "Interpolate"

    requirements = ((GENERATIVE, "This model is a classifier: it reads images; it has no latent space to "
                                 "interpolate in."),
                    (lambda caps: caps.latent_dim >= 1, "This model has no latent space to interpolate in."))

    def __init__(self, session=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, parent)
        self.endpoints: list[FX.Face | None] = [None, None]
        self.latents: list[torch.Tensor | None] = [None, None]   # each endpoint's z (latent_dim,)
        self.user_chosen = [False, False]   # False: a default the test set may replace once it has loaded
        self.browser_faces: list[FX.Face] = []
        self.path_z: torch.Tensor | None = None        # (N, latent_dim)
        self.path_labels: torch.Tensor | None = None   # (N, label_dim), (1, label_dim) or None
        self.path_images: torch.Tensor | None = None   # (N, C, H, W) in [0, 1]
        self.strip: torch.Tensor | None = None         # (C, H', W') the row shown and saved
        self.decodes = 0                               # batched path decodes (one per change)
        self._building = False

        self.faces_from = FX.FaceSource(self.session, "to browse test images", parent=self)
        self.faces_from.loaded.connect(self._test_set_loaded)
        self.faces_from.unavailable.connect(lambda message: self._fallback_endpoints())
        self.faces_from.folder_changed.connect(self._start_loading)
        self.faces_from.chosen.connect(lambda face, which: self.set_endpoint(which, face))
        self.timer = self.debounce(DEBOUNCE_MS, self.update_path)
        self._build()
        self.setEnabled(False)

    # ----- construction -----
    def _build(self) -> None:
        self.boxes = [EndpointBox(name) for name in ENDS]
        for which, box in enumerate(self.boxes):
            box.open_button.clicked.connect(lambda checked=False, w=which: self.open_file_dialog(w))
            box.generate_button.clicked.connect(lambda checked=False, w=which: self.use_generated(w))
            box.class_combo.currentIndexChanged.connect(lambda index, w=which: self._class_changed(w))
            box.seed.valueChanged.connect(lambda value, w=which: self._seed_changed(w))
            box.attributes_button.clicked.connect(lambda checked=False, w=which: self.attributes_dialog(w))

        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(QtWidgets.QLabel("Steps:"))
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(3, 24)
        self.steps.setValue(10)
        self.steps.setToolTip("Images on the path, both endpoints included")
        controls.addWidget(self.steps)
        controls.addWidget(QtWidgets.QLabel("Path:"))
        self.method = QtWidgets.QComboBox()
        self.method.addItem("Linear", "linear")
        self.method.addItem("Spherical", "spherical")
        self.method.setToolTip("Spherical (slerp) keeps the norms a prior sample has; linear cuts across")
        controls.addWidget(self.method)
        self.interpolate_labels = QtWidgets.QCheckBox("Interpolate labels too")
        self.interpolate_labels.setChecked(True)
        self.interpolate_labels.setToolTip("Move the label from A's to B's along the path (class labels as "
                                           "mixtures); off: the whole path is decoded under A's label")
        controls.addWidget(self.interpolate_labels)
        controls.addStretch(1)
        self.there_and_back = QtWidgets.QCheckBox("GIF there and back")
        self.there_and_back.setChecked(True)
        self.there_and_back.setToolTip("The GIF plays the path forwards, then backwards, and loops")
        self.png_button = QtWidgets.QPushButton("Export PNG…")
        self.png_button.clicked.connect(self.export_png_dialog)
        self.gif_button = QtWidgets.QPushButton("Export GIF…")
        self.gif_button.clicked.connect(self.export_gif_dialog)

        self.view = ImageView("Pick two endpoints", minimum=100)
        self.caption = QtWidgets.QLabel("")
        self.caption.setStyleSheet("color: #666")
        self.caption.setWordWrap(True)

        for widget in (self.there_and_back, self.png_button, self.gif_button):
            controls.addWidget(widget)

        pick = QtWidgets.QHBoxLayout()
        self.browser_title = QtWidgets.QLabel("<b>Test images</b>")
        pick.addWidget(self.browser_title)
        pick.addSpacing(12)
        pick.addWidget(QtWidgets.QLabel("A click sets endpoint"))
        self.pick_group = QtWidgets.QButtonGroup(self)
        self.pick_buttons = []
        for which, name in enumerate(ENDS):
            button = QtWidgets.QRadioButton(name)
            self.pick_group.addButton(button, which)
            self.pick_buttons.append(button)
            pick.addWidget(button)
        self.pick_buttons[0].setChecked(True)
        pick.addStretch(1)
        self.browser = FaceBrowser()
        self.browser.setToolTip("Click a picture to make it the endpoint chosen above (then the other one is next)")
        self.browser.setFixedHeight(3 * (self.browser.thumbnail + 8) + 8)
        self.browser.picked.connect(self._browser_picked)
        self.folder_row = self.faces_from.folder_row
        self.message = self.faces_from.message

        layout = QtWidgets.QVBoxLayout(self)
        ends = QtWidgets.QHBoxLayout()
        for box in self.boxes:
            ends.addWidget(box, 1)
        layout.addLayout(ends)
        layout.addWidget(self.faces_from.picker)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        layout.addLayout(pick)
        layout.addWidget(self.browser)
        layout.addWidget(self.folder_row)

        for signal in (self.steps.valueChanged, self.method.currentIndexChanged, self.interpolate_labels.toggled):
            signal.connect(self.schedule)

    # ----- model -----
    def set_entry(self, entry) -> None:
        self.timer.stop()
        self.entry = entry
        self.model = None if entry is None else entry.checkpoint.model
        self.endpoints, self.latents, self.user_chosen = [None, None], [None, None], [False, False]
        self.browser_faces = []
        self.path_z = self.path_labels = self.path_images = self.strip = None
        self.browser.clear()
        self.view.set_image(None)
        self.caption.setText("")
        self.faces_from.set_entry(entry)
        self.setEnabled(entry is not None)
        for box in self.boxes:
            box.view.set_image(None)
            box.caption.setText("")
        if entry is None:
            return
        caps = entry.checkpoint.capabilities
        self._building = True
        for box in self.boxes:
            box.show_class_selector(entry.checkpoint.label_names if caps.takes_class else None, label_word(entry))
            box.generate_button.setEnabled(caps.variational)
            box.seed.setEnabled(caps.variational)
            box.generate_button.setToolTip("A prior sample z ~ N(0, I) with this seed" if caps.variational else
                                           "This model has no prior to sample from (it is not variational)")
            box.open_button.setToolTip(FX.open_tip(entry, "Start from"))
            box.attributes_button.setVisible(caps.takes_attributes)
        self.boxes[1].seed.setValue(1)
        self.interpolate_labels.setEnabled(caps.conditional)
        self._building = False
        if self.faces_from.bundled:
            self._fill_browser(self.faces_from.bundled, "Bundled encodings")
            self._default_endpoints(self.faces_from.bundled)
        self._start_loading()
        self.flush()

    def _fallback_endpoints(self) -> None:
        """Nothing to browse: endpoints the user has not set become prior samples (seeds 0 and 1)."""
        if self.model is None or not self.model.variational:
            return
        for which in (0, 1):
            if self.endpoints[which] is None:
                self.use_generated(which, user=False)

    def _start_loading(self) -> None:
        """(Re)load the test images from the session's folder; a browser of an earlier folder's goes at once."""
        if self.browser_faces and self.browser_faces[0].kind == "test":
            self.browser_faces = []
            self.browser.clear()
            if self.faces_from.bundled:
                self._fill_browser(self.faces_from.bundled, "Bundled encodings")
        alternatives = "open image files" + (" or sample endpoints" if self.model.variational else "")
        if not self.faces_from.load(alternatives):
            self._fallback_endpoints()

    def _test_set_loaded(self) -> None:
        self._fill_browser(self.faces_from.test_faces, "Test images")
        self._default_endpoints(self.faces_from.test_faces)

    def _fill_browser(self, faces: list[FX.Face], title: str) -> None:
        self.browser_faces = faces
        self.browser_title.setText(f"<b>{title}</b>")
        if all(f.image is not None for f in faces):
            pictures = [f.image for f in faces]
        else:  # encodings: their decodes, in one batch
            z = torch.stack([FX.encode_face(self.model, f) for f in faces])
            labels = None if faces[0].label is None else torch.stack([f.label for f in faces])
            pictures = list(L.decode(self.model, z, labels))
        self.browser.set_pictures(pictures, [f"{f.description}\n{FX.describe_label(self.entry, f.label)}".strip()
                                             for f in faces])

    def _default_endpoints(self, faces: list[FX.Face]) -> None:
        """Fill the endpoints the user has not chosen with the first two of `faces`."""
        for which in (0, 1):
            if not self.user_chosen[which] and len(faces) > which:
                self.set_endpoint(which, faces[min(which, len(faces) - 1)], user=False)

    # ----- endpoints -----
    def set_endpoint(self, which: int, face: FX.Face, user: bool = True) -> None:
        """Make `face` endpoint `which` (0 = A, 1 = B), encode it and redraw the path."""
        self.endpoints[which] = face
        self.latents[which] = FX.encode_face(self.model, face)
        self.user_chosen[which] = self.user_chosen[which] or user
        box = self.boxes[which]
        box.view.set_image(face.image if face.image is not None else self._decode_one(face))
        label = FX.describe_label(self.entry, face.label)
        box.caption.setText(html.escape(face.description)
                            + (f"<br><span style='color:#666'>{html.escape(label)}</span>" if label else ""))
        box.caption.setToolTip(label)
        if face.label is not None and self.entry.checkpoint.capabilities.takes_class:
            box.class_combo.blockSignals(True)
            box.class_combo.setCurrentIndex(int(face.label.argmax()))
            box.class_combo.blockSignals(False)
        self.schedule()

    def _decode_one(self, face: FX.Face) -> torch.Tensor:
        labels = None if face.label is None else face.label[None]
        return L.decode(self.model, face.z[None], labels)[0]

    def use_test_image(self, which: int, index: int) -> None:
        """Endpoint `which` becomes the browser's picture `index` (a test image or a bundled encoding)."""
        self.set_endpoint(which, self.browser_faces[index])

    def use_generated(self, which: int, seed: int | None = None, user: bool = True) -> None:
        """Endpoint `which` becomes a prior sample (the seed box's seed unless given), under the class selected
        for it (class models) or the attributes as sampled."""
        if self.model is None or not self.model.variational:
            return
        box = self.boxes[which]
        if seed is None:
            seed = box.seed.value()
        else:
            box.seed.setValue(seed)
        caps = self.entry.checkpoint.capabilities
        if caps.takes_class:
            label = FX.label_row(self.model, max(0, box.class_combo.currentIndex()))
        elif caps.takes_attributes:
            label = L.typical_attributes(self.faces_from.labels_like(), caps.label_count)
        else:
            label = None
        self.set_endpoint(which, FX.generated_face(self.entry, seed, label), user=user)

    def open_file(self, which: int, path: str | os.PathLike) -> bool:
        """Endpoint `which` becomes the image file `path` (a face model's photo: its face aligned, the judge's
        reading as its attributes); False if it cannot (the message is in the panel) or not yet: a photo with
        several faces or none waits in the picker strip, and the endpoint is set when the user answers."""
        faces, errors = self.faces_from.open_files([path], context=which)
        if errors or not faces:
            return False
        self.set_endpoint(which, faces[0])
        return True

    def set_endpoint_attributes(self, which: int, label: torch.Tensor) -> None:
        """Endpoint `which` is encoded and decoded under these attributes (the user's correction) from now on."""
        face = self.endpoints[which]
        note = "attributes: set by hand"
        self.set_endpoint(which, FX.Face(f"{face.description.split(' (')[0]} ({note})",
                                         torch.as_tensor(label).float().reshape(-1).clone(), image=face.image,
                                         z=face.z, kind=face.kind, note=note))

    def attributes_dialog(self, which: int, run: bool = True):
        """Endpoint `which`'s attributes as check boxes; OK sets them (set_endpoint_attributes). Returns the dialog
        (not run when `run` is False)."""
        face = self.endpoints[which]
        if face is None or face.label is None or not self.entry.checkpoint.capabilities.takes_attributes:
            return None
        names = list(self.entry.checkpoint.label_names or [str(i) for i in range(len(face.label))])
        note = face.note or "attributes: the endpoint's own labels"
        dialog = AttributeDialog(names, face.label, f"Attributes of endpoint {ENDS[which]}",
                                 f"{note[0].upper()}{note[1:]}. The endpoint is encoded and decoded under these.",
                                 self)
        dialog.accepted.connect(lambda: self.set_endpoint_attributes(which, dialog.values()))
        if run:
            dialog.exec()
        return dialog

    def open_file_dialog(self, which: int) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, f"Open an image for endpoint {ENDS[which]}", "",
                                                        FX.IMAGE_FILTER)
        if path:
            self.open_file(which, path)

    def _browser_picked(self, index: int) -> None:
        which = self.pick_group.checkedId()
        self.use_test_image(which, index)
        self.pick_buttons[1 - which].setChecked(True)  # the next click sets the other endpoint

    def _seed_changed(self, which: int) -> None:
        face = self.endpoints[which]
        if not self._building and face is not None and face.kind == "generated":
            self.use_generated(which)

    def _class_changed(self, which: int) -> None:
        face = self.endpoints[which]
        index = self.boxes[which].class_combo.currentIndex()
        if self._building or face is None or index < 0:
            return
        relabelled = FX.Face(face.description, FX.label_row(self.model, index), image=face.image, z=face.z,
                             kind=face.kind)
        self.set_endpoint(which, relabelled)

    # ----- the path -----
    def schedule(self) -> None:
        if self.entry is not None and not self._building:
            self.timer.start()

    def steps_count(self) -> int:
        return self.steps.value()

    def update_path(self) -> torch.Tensor | None:
        """Decode the path between the endpoints (one batched decode); returns the (N, C, H, W) images."""
        self.timer.stop()
        if self.model is None or self.latents[0] is None or self.latents[1] is None:
            return None
        n, method = self.steps_count(), self.method.currentData()
        z0, z1 = self.latents
        z = L.interpolate(z0, z1, n, method)  # its ends are the encodings themselves, not a rounding of them
        a, b = self.endpoints[0].label, self.endpoints[1].label
        labels = L.path_labels(a, b, n, self.interpolate_labels.isChecked())
        self.path_z, self.path_labels = z, labels
        self.path_images = L.decode(self.model, z, labels)
        self.decodes += 1
        self.strip = L.tile(self.path_images, n, padding=2, pad_value=1.0)
        self.view.set_image(self.strip)
        what = [f"{n} steps, {method}", f"from {self.endpoints[0].description} to {self.endpoints[1].description}"]
        if a is not None:
            what.append("labels interpolated" if labels.shape[0] > 1 else "decoded under A's label")
        self.caption.setText("; ".join(what))
        return self.path_images

    # ----- export -----
    def export_png(self, path: str | os.PathLike, scale: int = 1) -> Path:
        """Write the strip (native pixels, or enlarged `scale` times) as PNG; raises OSError if there is none."""
        self.flush()
        if self.strip is None:
            raise OSError("there is no path to save yet")
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        save_png(self.strip, path, scale)
        return path

    def gif_frames(self, there_and_back: bool | None = None, scale: int = 1) -> list[Image.Image]:
        """The path's images as Pillow frames; there and back repeats them in reverse without the two ends."""
        self.flush()
        if self.path_images is None:
            raise OSError("there is no path to save yet")
        back = self.there_and_back.isChecked() if there_and_back is None else there_and_back
        images = list(self.path_images)
        if back:
            images += images[-2:0:-1]
        frames = []
        for image in images:
            frame = Image.fromarray(to_uint8(image))
            if scale > 1:
                frame = frame.resize((frame.width * scale, frame.height * scale), Image.Resampling.NEAREST)
            frames.append(frame)
        return frames

    def export_gif(self, path: str | os.PathLike, duration_ms: int = 120, there_and_back: bool | None = None,
                   scale: int = 1) -> Path:
        """Write the path as an animated GIF, looping, `duration_ms` per frame: N frames, or 2N − 2 there and back
        (Pillow stores two identical consecutive frames as one that lasts twice as long)."""
        frames = self.gif_frames(there_and_back, scale)
        path = Path(path)
        if path.suffix.lower() != ".gif":
            path = path.with_suffix(".gif")
        try:
            frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=int(duration_ms),
                           loop=0, disposal=1)
        except (OSError, ValueError) as exc:
            raise OSError(f"could not write the GIF file {path}: {exc}") from None
        return path

    def _export_name(self, suffix: str) -> str:
        return f"{self.entry.name if self.entry else 'path'}-interpolation{suffix}"

    def export_scale(self) -> int:
        """Enlargement for the exported files: about 256 pixels per image."""
        height = self.path_images.shape[-2] if self.path_images is not None else 256
        return max(1, 256 // max(1, height))

    def export_png_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the path as PNG", self._export_name(".png"),
                                                        "PNG images (*.png)")
        if path:
            self._report_export(lambda: self.export_png(path, self.export_scale()))

    def export_gif_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the path as an animated GIF",
                                                        self._export_name(".gif"), "GIF animations (*.gif)")
        if path:
            self._report_export(lambda: self.export_gif(path, scale=self.export_scale()))

    def _report_export(self, write) -> None:
        try:
            saved = write()
        except OSError as exc:
            QtWidgets.QMessageBox.critical(self, "Cannot save", str(exc))
        else:
            self.caption.setText(f"Saved {saved}")
