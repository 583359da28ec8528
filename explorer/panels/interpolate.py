"""Interpolate: two endpoints (held-out test images, image files, prior samples or a checkpoint's bundled
encodings), encoded to their posterior means, and the N-step path between them (linear or spherical) decoded in one
batched call and shown as a strip; export the strip as PNG or the path as an animated GIF.

Endpoints carry their labels: a test image its own, a class model's file the class it reconstructs best under (the
endpoint's class selector changes it), an attribute model's file or prior sample the attributes "as sampled" (each
on where it is on for most of the test set, all off without data). With "Interpolate labels too" the label moves
along the path with z (class labels as mixtures of one-hots); without it the whole path is decoded under endpoint
A's label.
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
from explorer.panels import Panel, label_word

DEBOUNCE_MS = 30
ENDS = ("A", "B")


class EndpointBox(QtWidgets.QGroupBox):
    """One endpoint: its picture, what it is, and where else it can come from."""

    def __init__(self, name: str, parent: QtWidgets.QWidget | None = None):
        super().__init__(f"Endpoint {name}", parent)
        layout = QtWidgets.QHBoxLayout(self)
        self.view = ImageView("—", minimum=72)
        self.view.setFixedSize(88, 88)
        self.view.setToolTip("The endpoint's source picture (an encoding or a prior sample: its decode)")
        layout.addWidget(self.view)
        right = QtWidgets.QVBoxLayout()
        self.caption = QtWidgets.QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setMinimumWidth(150)
        right.addWidget(self.caption, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.open_button = QtWidgets.QPushButton("Open image…")
        self.open_button.setToolTip("Any image file: centre square, resized as the model's data was")
        buttons.addWidget(self.open_button)
        self.generate_button = QtWidgets.QPushButton("Sample")
        self.generate_button.setToolTip("A prior sample z ~ N(0, I) with the seed below")
        buttons.addWidget(self.generate_button)
        right.addLayout(buttons)
        more = QtWidgets.QHBoxLayout()
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("The prior sample's seed: the same seed, the same sample")
        self.seed.setMinimumWidth(90)
        more.addWidget(self.seed, 1)
        self.class_label = QtWidgets.QLabel("Class:")
        more.addWidget(self.class_label)
        self.class_combo = QtWidgets.QComboBox()
        self.class_combo.setToolTip("The label this endpoint is encoded and decoded under")
        more.addWidget(self.class_combo)
        right.addLayout(more)
        layout.addLayout(right, 1)

    def show_class_selector(self, names: list[str] | None, word: str) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        for index, name in enumerate(names or []):
            self.class_combo.addItem(name, index)
        self.class_combo.blockSignals(False)
        self.class_label.setText(f"{word.capitalize()}:")
        for widget in (self.class_label, self.class_combo):
            widget.setVisible(bool(names))


class InterpolatePanel(FX.HeldOutFolder, Panel):
    key = "interpolate"
    title = "Interpolate"

    @classmethod
    def missing(cls, capabilities) -> str | None:
        if not capabilities.generative:
            return "This model is a classifier: it reads images; it has no latent space to interpolate in."
        if capabilities.latent_dim < 1:
            return "This model has no latent space to interpolate in."
        return None

    def __init__(self, parent: QtWidgets.QWidget | None = None, settings: QtCore.QSettings | None = None,
                 data_dir: str | os.PathLike | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QtCore.QSettings("cvae-explorer", "explorer")
        self.chosen_dir: Path | None = Path(data_dir) if data_dir else None
        self.entry = None
        self.model = None
        self.endpoints: list[FX.Face | None] = [None, None]
        self.latents: list[torch.Tensor | None] = [None, None]   # each endpoint's z (latent_dim,)
        self.user_chosen = [False, False]   # False: a default the test set may replace once it has loaded
        self.browser_faces: list[FX.Face] = []
        self.test_faces: list[FX.Face] = []
        self.test_labels: torch.Tensor | None = None
        self.bundled: list[FX.Face] = []
        self.path_z: torch.Tensor | None = None        # (N, latent_dim)
        self.path_labels: torch.Tensor | None = None   # (N, label_dim), (1, label_dim) or None
        self.path_images: torch.Tensor | None = None   # (N, C, H, W) in [0, 1]
        self.strip: torch.Tensor | None = None         # (C, H', W') the row shown and saved
        self.decodes = 0                               # batched path decodes (one per change)
        self._load_key = None
        self._building = False

        self.loader = FX.HeldOutLoader(self)
        self.loader.loaded.connect(self._test_set_loaded)
        self.loader.failed.connect(self._test_set_failed)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.update_path)
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
        self.browser = FX.FaceBrowser()
        self.browser.setToolTip("Click a picture to make it the endpoint chosen above (then the other one is next)")
        self.browser.setFixedHeight(3 * (self.browser.thumbnail + 8) + 8)
        self.browser.picked.connect(self._browser_picked)
        self.folder_row = FX.DataFolderRow()
        self.folder_row.choose.connect(self.choose_data_folder)
        self.message = self.folder_row.message

        layout = QtWidgets.QVBoxLayout(self)
        ends = QtWidgets.QHBoxLayout()
        for box in self.boxes:
            ends.addWidget(box, 1)
        layout.addLayout(ends)
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
        self.test_faces, self.test_labels, self.bundled, self.browser_faces = [], None, [], []
        self.path_z = self.path_labels = self.path_images = self.strip = None
        self._load_key = None
        self.browser.clear()
        self.view.set_image(None)
        self.caption.setText("")
        self.show_message("")
        self.setEnabled(entry is not None)
        for box in self.boxes:
            box.view.set_image(None)
            box.caption.setText("")
        if entry is None:
            self.folder_row.set_folder(self.data_dir)
            return
        caps = entry.checkpoint.capabilities
        self._building = True
        for box in self.boxes:
            box.show_class_selector(entry.checkpoint.label_names if caps.takes_class else None, label_word(entry))
            box.generate_button.setEnabled(caps.variational)
            box.seed.setEnabled(caps.variational)
            box.generate_button.setToolTip("A prior sample z ~ N(0, I) with this seed" if caps.variational else
                                           "This model has no prior to sample from (it is not variational)")
        self.boxes[1].seed.setValue(1)
        self.interpolate_labels.setEnabled(caps.conditional)
        self._building = False
        self.bundled, problem = FX.bundled_faces(entry)
        if problem:
            self.show_message(problem)
        if self.bundled:
            self._fill_browser(self.bundled, "Bundled encodings")
            self._default_endpoints(self.bundled)
        self._start_loading()
        if self._load_key is None:
            self._fallback_endpoints()
        self.flush()

    def _fallback_endpoints(self) -> None:
        """Nothing to browse: endpoints the user has not set become prior samples (seeds 0 and 1)."""
        if self.model is None or not self.model.variational:
            return
        for which in (0, 1):
            if self.endpoints[which] is None:
                self.use_generated(which, user=False)

    def _start_loading(self) -> None:
        name, folder = FX.dataset_name(self.entry), self.data_dir
        if folder is None or not name:
            self._load_key = None
            self.folder_row.set_folder(folder)
            if not self.bundled and folder is None:
                self.show_message("No data folder: choose one to browse test images, or open image files"
                                  + (" or sample endpoints." if self.model.variational else "."))
            elif folder is not None and not name:
                self.show_message("The checkpoint does not say which data set it was trained on, so there are "
                                  "no test images to browse; open image files instead.")
            return
        self.folder_row.set_folder(folder, "loading test images …")
        self._load_key = self.loader.request(name, folder, self.entry.checkpoint.capabilities.image_shape[1])

    def _test_set_loaded(self, key, data) -> None:
        if key != self._load_key or self.entry is None:
            return
        self.folder_row.set_folder(self.data_dir, f"{min(len(data), FX.BROWSE_COUNT)} test images")
        problem = FX.check_test_set(data, self.entry)
        if problem:
            self.show_message(problem)
            self._fallback_endpoints()
            return
        self.show_message("")
        self.test_faces = FX.held_out_faces(data, self.entry)
        self.test_labels = data.labels if self.entry.checkpoint.capabilities.takes_attributes else None
        self._fill_browser(self.test_faces, "Test images")
        self._default_endpoints(self.test_faces)

    def _test_set_failed(self, key, message: str) -> None:
        if key != self._load_key or self.entry is None:
            return
        self.folder_row.set_folder(self.data_dir, "no test images")
        self.show_message(message)
        self._fallback_endpoints()

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
            label = FX.as_sampled(self._labels_like(), caps.label_count)
        else:
            label = None
        self.set_endpoint(which, FX.generated_face(self.entry, seed, label), user=user)

    def _labels_like(self) -> torch.Tensor | None:
        if self.test_labels is not None:
            return self.test_labels
        if self.bundled and self.bundled[0].label is not None:
            return torch.stack([f.label for f in self.bundled])
        return None

    def open_file(self, which: int, path: str | os.PathLike) -> bool:
        """Endpoint `which` becomes the image file `path`; False (and a message in the panel) if it cannot."""
        faces, errors = FX.file_faces(self.entry, [path], self._labels_like())
        if errors:
            self.show_message(errors[0])
            return False
        self.show_message("")
        self.set_endpoint(which, faces[0])
        return True

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

    def flush(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.update_path()

    def steps_count(self) -> int:
        return self.steps.value()

    def update_path(self) -> torch.Tensor | None:
        """Decode the path between the endpoints (one batched decode); returns the (N, C, H, W) images."""
        self.timer.stop()
        if self.model is None or self.latents[0] is None or self.latents[1] is None:
            return None
        n, method = self.steps_count(), self.method.currentData()
        z0, z1 = self.latents
        z = L.interpolate(z0, z1, n, method)
        z[0], z[-1] = z0, z1  # the ends are the encodings themselves, not a rounding of them
        labels = None
        a, b = self.endpoints[0].label, self.endpoints[1].label
        if a is not None:
            if self.interpolate_labels.isChecked() and b is not None:
                t = torch.linspace(0, 1, n).unsqueeze(1)
                labels = (1 - t) * a + t * b
                labels[0], labels[-1] = a, b
            else:
                labels = a[None]
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
