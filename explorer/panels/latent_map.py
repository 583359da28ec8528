"""The latent map: test encodings as a scatter, a live decoded preview under the mouse, pins, sweeps,
a digit selector and a manifold backdrop that follows zoom and pan.

Mouse: move = preview; click = pin; left-drag = sweep (the preview follows while the button is held);
Shift+drag or middle-drag = pan; wheel or right-drag = zoom; right-click = pyqtgraph's view menu.
Keys 0–9 pick the digit.

The panel is the wiring: it decodes through cvae.latent and hands pictures and plane coordinates to its parts,
the plot (map_plot), the plane controls and the pin strip (explorer.widgets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PySide6 import QtCore, QtGui, QtWidgets

from cvae import latent as L
from cvae.derived import Derived
from cvae.plane import IDENTITY, PCA, LatentPlane, default_plane, plane_range
from explorer.images import ImageView, to_uint8
from explorer.panels import CLASS_COLOURS, GENERATIVE, Panel, label_word, takes_class
from explorer.panels.map_plot import DotGroup, MapPlot
from explorer.widgets.class_legend import ClassLegend
from explorer.widgets.pin_strip import PinStrip
from explorer.widgets.plane_controls import PlaneChoice, PlaneControls

GESTURES = ("Move: live preview  ·  Click: pin  ·  Drag: sweep  ·  Shift+drag / middle-drag: pan  ·  "
            "Wheel / right-drag: zoom")
PIN_HINT = "Click the map to pin a point; pins are re-decoded when the class changes."
BACKDROP_DELAY_MS = 150


def gestures(entry=None) -> str:
    """The map's gestures, with the label keys only for a model that takes a class label."""
    if not takes_class(entry):
        return GESTURES
    names = entry.checkpoint.label_names
    keys = min(len(names), 10)
    return f"{GESTURES}  ·  Keys 0–{keys - 1}: {label_word(entry)}"


@dataclass
class Pin:
    z: torch.Tensor            # (1, latent_dim)
    image: torch.Tensor        # (C, H, W) decoded under the current digit; shown in the pin strip at the same index


class LatentMapPanel(Panel):
    key = "map"
    title = "Latent map"

    requirements = ((GENERATIVE, "This model is a classifier: it has no latent space to map."),
                    (lambda caps: not caps.takes_attributes, "The map colours points by class; a model conditioned "
                     "on attributes has no classes to colour by."),
                    (lambda caps: caps.latent_dim >= 2, "A 1-D latent cannot be shown as a plane."))

    def __init__(self, session=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, parent)
        self.plane: LatentPlane | None = None
        self.encodings: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.digit = 0
        self.pins: list[Pin] = []
        self.preview_z: torch.Tensor | None = None
        self.preview_xy: tuple[float, float] | None = None
        self.backdrop_decodes = 0
        self.backdrop_rect = QtCore.QRectF()
        self.backdrop_seconds = 0.0

        self.backdrop_timer = self.debounce(BACKDROP_DELAY_MS, self.update_backdrop)

        self._build_controls()
        self.plane_controls = PlaneControls()
        self.plane_controls.changed.connect(self._plane_controls_changed)
        self.plane_widgets = self.plane_controls.widgets
        self.mode_combo, self.dim_x, self.dim_y, self.base_combo = self.plane_widgets
        self.plot = MapPlot()
        self.plot.pointed_at.connect(self._pointed_at)
        self.plot.clicked_at.connect(self.pin_at)
        self.plot.swept_to.connect(lambda x, y, done: self.preview_at(x, y))
        self.plot.view_changed.connect(self._range_changed)
        self._build_side()
        self.pin_strip = PinStrip("Pinned:", PIN_HINT, "Clear pins")
        self.pin_strip.clicked.connect(lambda index: self._show_pin(self.pins[index]))
        self.pin_strip.cleared.connect(self.clear_pins)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.plot, 1)
        top.addWidget(self.side)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(self.controls)
        layout.addWidget(self.plane_controls)
        layout.addLayout(top, 1)
        layout.addWidget(self.pin_strip)
        self._set_enabled(False)

    # the plot's items under the names the panel has always had (tests and scripts reach them)
    @property
    def view_box(self):
        return self.plot.view_box

    @property
    def backdrop(self):
        return self.plot.backdrop

    @property
    def _scatters(self):
        return self.plot.dots

    @property
    def _scatter_classes(self) -> list[int]:
        return self.plot.dot_classes

    # ----- construction -----
    def _build_controls(self) -> None:
        self.controls = QtWidgets.QHBoxLayout()
        self.digit_label = QtWidgets.QLabel("Digit:")
        self.controls.addWidget(self.digit_label)
        self.digit_group = QtWidgets.QButtonGroup(self)
        self.digit_group.setExclusive(True)
        self.digit_buttons: list[QtWidgets.QToolButton] = []
        self.digit_row = QtWidgets.QHBoxLayout()
        self.digit_row.setSpacing(2)
        self.controls.addLayout(self.digit_row)
        self.digit_group.idClicked.connect(self.set_digit)
        self.controls.addSpacing(12)
        self.backdrop_check = QtWidgets.QCheckBox("Backdrop")
        self.backdrop_check.setChecked(True)
        self.backdrop_check.setToolTip("Decoded tiles over the visible region (the manifold grid), redrawn after "
                                       "zoom and pan")
        self.backdrop_check.toggled.connect(self._backdrop_toggled)
        self.controls.addWidget(self.backdrop_check)
        self.scatter_check = QtWidgets.QCheckBox("Encodings")
        self.scatter_check.setChecked(True)
        self.scatter_check.setToolTip("The test set's posterior means, coloured by their true digit")
        self.scatter_check.toggled.connect(self._scatters_toggled)
        self.controls.addWidget(self.scatter_check)
        self.controls.addStretch(1)
        self.reset_button = QtWidgets.QPushButton("Reset view")
        self.reset_button.setToolTip("Back to about ±3σ of the prior")
        self.reset_button.clicked.connect(self.reset_view)
        self.controls.addWidget(self.reset_button)

    def _build_side(self) -> None:
        self.side = QtWidgets.QWidget()
        self.side.setFixedWidth(270)
        side = QtWidgets.QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        self.preview = ImageView("Move the mouse over the map", minimum=220)
        self.preview.setToolTip("The decoder's output for the point under the mouse")
        side.addWidget(self.preview)
        self.point_label = QtWidgets.QLabel("")
        self.point_label.setWordWrap(True)
        self.point_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        side.addWidget(self.point_label)
        self.legend = ClassLegend()
        self.legend.toggled.connect(self._class_toggled)
        side.addWidget(self.legend)
        self.note_label = QtWidgets.QLabel("")
        self.note_label.setWordWrap(True)
        side.addWidget(self.note_label)
        self.help_label = QtWidgets.QLabel(GESTURES.replace("  ·  ", "<br>"))
        self.help_label.setStyleSheet("color: #666")
        self.help_label.setWordWrap(True)
        side.addWidget(self.help_label)
        side.addStretch(1)

    # ----- model -----
    def set_entry(self, entry) -> None:
        self.backdrop_timer.stop()
        self.entry = entry
        self.model = None if entry is None else entry.checkpoint.model
        self.clear_pins()
        self.preview_z = None
        self.preview.set_image(None)
        self.plot.set_dots([])
        self.legend.set_classes([])
        self.plot.clear_backdrop()
        self.backdrop_rect = QtCore.QRectF()
        self.help_label.setText(gestures(entry).replace("  ·  ", "<br>"))
        if entry is None:
            self.plane = None
            self.point_label.setText("")
            self.note_label.setText("")
            self._clear_digits()
            self._set_enabled(False)
            return
        derived = Derived.of(entry.checkpoint)
        self.encodings = None if derived.test_encodings is None else derived.test_encodings.float()
        self.labels = derived.test_labels
        if self.encodings is not None and self.encodings.shape[-1] != self.model.latent_dim:
            self.encodings = None
        self._set_enabled(True)
        self._setup_digits()
        self.plane_controls.configure(self.model.latent_dim, self.encodings is not None)
        notes = []
        if self.encodings is None:
            notes.append("This checkpoint carries no test-set encodings, so the map shows no scatter.")
        if not takes_class(entry):
            notes.append("This model is unconditional: the class selector does not apply; dots are coloured by "
                         "their true label.")
        self.note_label.setText(" ".join(notes))
        self.set_plane(self._plane_from(self.plane_controls.choice()))

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.plot, self.side, self.pin_strip, self.backdrop_check, self.scatter_check,
                       self.reset_button, self.digit_label, *self.plane_widgets):
            widget.setEnabled(on)

    def _clear_digits(self) -> None:
        # out of the layout and hidden now: deleteLater alone leaves the old row on screen (and in a screenshot)
        # until the event loop runs
        for button in self.digit_buttons:
            self.digit_group.removeButton(button)
            self.digit_row.removeWidget(button)
            button.hide()
            button.setParent(None)
            button.deleteLater()
        self.digit_buttons = []

    def _setup_digits(self) -> None:
        self._clear_digits()
        names = self.entry.checkpoint.label_names or []  # an unconditional model shows its data's classes, off
        conditional = takes_class(self.entry)
        for index, name in enumerate(names):
            button = QtWidgets.QToolButton()
            button.setText(name)
            button.setCheckable(True)
            button.setMinimumWidth(26)
            self.digit_group.addButton(button, index)
            self.digit_row.addWidget(button)
            self.digit_buttons.append(button)
            if index < 10:
                button.setShortcut(QtGui.QKeySequence(str(index)))
        self.digit = min(self.digit, len(names) - 1) if conditional else 0
        if self.digit_buttons:
            self.digit_buttons[self.digit].setChecked(True)
        word = label_word(self.entry)
        self.digit_label.setText(f"{word.capitalize()}:")
        tip = "" if conditional else "This model is unconditional: it takes no label."
        for index, button in enumerate(self.digit_buttons):
            button.setEnabled(conditional)
            key = f" (key {index})" if index < 10 else ""
            button.setToolTip(tip or f"Decode under {word} {button.text()}{key}")
        self.digit_label.setEnabled(conditional)
        self.digit_label.setToolTip(tip)

    def labels_for_decode(self):
        """What the decoder gets as its label: the selected class index, or None when unconditional."""
        if not takes_class(self.entry):
            return None
        return torch.tensor([self.digit])

    # ----- the plane -----
    def _plane_from(self, choice: PlaneChoice) -> LatentPlane:
        latent_dim = self.model.latent_dim
        if choice.mode == IDENTITY:
            return LatentPlane.identity()
        if choice.mode == PCA and self.encodings is not None:
            return default_plane(latent_dim, self.encodings)
        base = self.encodings.mean(0) if (choice.base == "mean" and self.encodings is not None) \
            else torch.zeros(latent_dim)
        return LatentPlane.slice(latent_dim, choice.dims, base)

    def _plane_controls_changed(self, choice: PlaneChoice) -> None:
        if self.model is None:
            return
        self.set_plane(self._plane_from(choice))

    def set_plane(self, plane: LatentPlane) -> None:
        """Show the map through `plane`: re-project the scatter and the pins, reset the view."""
        self.plane = plane
        if plane.mode != IDENTITY:
            self.plane_controls.show_mode(plane.mode)
        self.plot.set_axis_names(*plane.axis_names())
        self._draw_scatter()
        self._draw_pin_markers()
        self.reset_view()
        centre = plane.project(plane.to_z([[0.0, 0.0]]))[0]
        self.preview_at(float(centre[0]), float(centre[1]))

    def _draw_scatter(self) -> None:
        groups = [] if self.encodings is None else self._dot_groups(self.plane.project(self.encodings).numpy())
        self.plot.set_dots(groups)
        self.legend.set_classes([(group.index, group.name, group.colour) for group in groups])
        self._scatters_toggled(self.scatter_check.isChecked())

    def _dot_groups(self, points) -> list[DotGroup]:
        """One group of dots per true label, in the class colours; one white group when the labels are missing."""
        labels = self.labels
        if labels is None or labels.dim() != 1 or len(labels) != len(points):
            return [DotGroup(0, "test encodings", QtGui.QColor("white"), points, size=4, alpha=150)]
        names = self.entry.checkpoint.label_names or []
        groups = []
        for c in sorted(int(c) for c in torch.unique(labels)):
            name = names[c] if c < len(names) else str(c)
            colour = QtGui.QColor(CLASS_COLOURS[c % len(CLASS_COLOURS)])
            groups.append(DotGroup(c, name, colour, points[(labels == c).numpy()]))
        return groups

    def _class_toggled(self, *_) -> None:
        self._scatters_toggled(self.scatter_check.isChecked())

    def _scatters_toggled(self, on: bool) -> None:
        self.plot.set_dots_visible(lambda index: on and self.legend.is_shown(index))

    def view_range(self) -> QtCore.QRectF:
        return self.plot.view_range()

    def reset_view(self) -> None:
        if self.plane is None:
            return
        points = None if self.encodings is None else self.plane.project(self.encodings)
        self.plot.set_view(*plane_range(points, bool(self.model.variational)))

    # ----- preview, pins -----
    def decode_point(self, x: float, y: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, image) for a plane point, decoded under the current digit: exactly cvae.latent.decode."""
        z = self.plane.to_z([[x, y]])
        return z, L.decode(self.model, z, self.labels_for_decode())[0]

    def preview_at(self, x: float, y: float) -> None:
        if self.model is None or self.plane is None:
            return
        if self.preview_xy == (x, y) and self.preview_z is not None:
            return
        z, image = self.decode_point(x, y)
        self.preview_xy = (x, y)
        self._show_preview(z, image)
        self.plot.show_cursor(x, y)

    def _show_preview(self, z: torch.Tensor, image: torch.Tensor) -> None:
        self.preview_z = z
        self.preview.set_image(image)
        self.point_label.setText(self._describe(z))

    def _describe(self, z: torch.Tensor) -> str:
        values = z.reshape(-1).tolist()
        shown = ", ".join(f"{v:+.2f}" for v in values[:6]) + (", …" if len(values) > 6 else "")
        text = f"z = ({shown})"
        if self.plane is not None and self.plane.mode != IDENTITY and self.preview_xy is not None:
            text = f"plane ({self.preview_xy[0]:+.2f}, {self.preview_xy[1]:+.2f}) → " + text
        if takes_class(self.entry):
            text += f"<br>{label_word(self.entry)} {self.entry.checkpoint.label_names[self.digit]}"
        return text

    def _pointed_at(self, x: float, y: float) -> None:
        if self.model is not None:
            self.preview_at(x, y)

    def pin_at(self, x: float, y: float) -> Pin | None:
        """Pin the plane point (x, y): decode it under the current digit and add it to the strip."""
        if self.model is None or self.plane is None:
            return None
        z, image = self.decode_point(x, y)
        self.preview_xy = (x, y)
        self._show_preview(z, image)
        self.plot.show_cursor(x, y)
        pin = Pin(z=z, image=image)
        self.pins.append(pin)
        self.pin_strip.add_image(image)
        self.pin_strip.set_tooltips(self._pin_tooltips())
        self._draw_pin_markers()
        return pin

    def _show_pin(self, pin: Pin) -> None:
        xy = self.plane.project(pin.z)[0]
        self.preview_xy = (float(xy[0]), float(xy[1]))
        self.plot.show_cursor(*self.preview_xy)
        self._show_preview(pin.z, pin.image)

    def _pin_tooltips(self) -> list[str]:
        return [f"Pin {number}: {self._describe(pin.z)} — click to show it in the preview"
                for number, pin in enumerate(self.pins, 1)]

    def _draw_pin_markers(self) -> None:
        if not self.pins or self.plane is None:
            self.plot.show_pins(np.zeros((0, 2)))
            return
        self.plot.show_pins(self.plane.project(torch.cat([p.z for p in self.pins])).numpy())

    def clear_pins(self) -> None:
        self.pins = []
        self.pin_strip.clear()
        self._draw_pin_markers()

    # ----- digit -----
    def set_digit(self, digit: int) -> None:
        """Decode the same z (preview and pins) under another digit, and redraw the backdrop."""
        if not takes_class(self.entry):
            return
        self.digit = int(digit)
        button = self.digit_group.button(self.digit)
        if button is not None and not button.isChecked():
            button.setChecked(True)
        labels = self.labels_for_decode()
        if self.preview_z is not None:
            self._show_preview(self.preview_z, L.decode(self.model, self.preview_z, labels)[0])
        if self.pins:
            images = L.decode(self.model, torch.cat([p.z for p in self.pins]), labels)
            for pin, image in zip(self.pins, images):
                pin.image = image
            self.pin_strip.set_images([pin.image for pin in self.pins], self._pin_tooltips())
        self.update_backdrop()

    # ----- backdrop -----
    def _backdrop_toggled(self, on: bool) -> None:
        self.backdrop.setVisible(on)
        if on:
            self.update_backdrop()

    def _range_changed(self) -> None:
        if self.model is not None and self.backdrop_check.isChecked():
            self.backdrop_timer.start()

    def backdrop_grid(self, cells: int = 20) -> tuple[int, int]:
        """(columns, rows): `cells` along the longer side of the view, square-ish tiles on screen."""
        return self.plot.tile_grid(cells)

    def update_backdrop(self) -> None:
        """Decode tiles over exactly the visible region in one batched call."""
        self.backdrop_timer.stop()
        if self.model is None or self.plane is None or not self.backdrop_check.isChecked():
            return
        rect = self.view_range()
        columns, rows = self.backdrop_grid()
        started = QtCore.QElapsedTimer()
        started.start()
        images, _ = L.decode_grid(self.model, (rect.left(), rect.right()), (rect.top(), rect.bottom()), columns, rows,
                                  self.labels_for_decode(), plane=self.plane)
        self.plot.show_backdrop(to_uint8(L.tile(images, columns)), rect)
        self.backdrop_rect = QtCore.QRectF(rect)
        self.backdrop_decodes += 1
        self.backdrop_seconds = started.elapsed() / 1000

