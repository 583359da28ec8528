"""The latent map: test encodings as a scatter, a live decoded preview under the mouse, pins, sweeps,
a digit selector and a manifold backdrop that follows zoom and pan.

Mouse: move = preview; click = pin; left-drag = sweep (the preview follows while the button is held);
Shift+drag or middle-drag = pan; wheel or right-drag = zoom; right-click = pyqtgraph's view menu.
Keys 0–9 pick the digit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import torch
from PySide6 import QtCore, QtGui, QtWidgets

from cvae import latent as L
from explorer.class_legend import ClassLegend
from explorer.images import ImageView, to_uint8
from explorer.panels import CLASS_COLOURS, Panel, label_word, takes_class
from cvae.plane import IDENTITY, PCA, SLICE, LatentPlane, default_plane, plane_range

GESTURES = ("Move: live preview  ·  Click: pin  ·  Drag: sweep  ·  Shift+drag / middle-drag: pan  ·  "
            "Wheel / right-drag: zoom")


def gestures(entry=None) -> str:
    """The map's gestures, with the label keys only for a model that takes a class label."""
    if not takes_class(entry):
        return GESTURES
    names = entry.checkpoint.label_names
    keys = min(len(names), 10)
    return f"{GESTURES}  ·  Keys 0–{keys - 1}: {label_word(entry)}"
BACKDROP_DELAY_MS = 150


class MapViewBox(pg.ViewBox):
    """A ViewBox where a left click pins and a left drag sweeps; Shift+left or middle drag still pans."""

    clicked_at = QtCore.Signal(QtCore.QPointF)          # view (plane) coordinates
    swept_to = QtCore.Signal(QtCore.QPointF, bool)      # view coordinates, finished

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph naming)
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked_at.emit(self.mapSceneToView(ev.scenePos()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        shift = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and not shift and axis is None:
            ev.accept()
            self.swept_to.emit(self.mapSceneToView(ev.scenePos()), bool(ev.isFinish()))
        else:  # Shift+left or middle: pan; right: zoom (pyqtgraph's own handling)
            super().mouseDragEvent(ev, axis)


class PassiveScatter(pg.ScatterPlotItem):
    """Scatter points that never swallow the map's clicks: the cursor marker sits exactly under the pointer after
    every move, so a marker that accepted clicks would take every real click (a hand always moves first)."""

    def mouseClickEvent(self, ev):  # noqa: N802
        ev.ignore()


@dataclass
class Pin:
    z: torch.Tensor            # (1, latent_dim)
    image: torch.Tensor        # (C, H, W) decoded under the current digit
    view: ImageView


class LatentMapPanel(Panel):
    key = "map"
    title = "Latent map"

    @classmethod
    def missing(cls, capabilities) -> str | None:
        if not capabilities.generative:
            return "This model is a classifier: it has no latent space to map."
        if capabilities.takes_attributes:
            return ("The map colours points by class; a model conditioned on attributes has no classes to colour "
                    "by.")
        if capabilities.latent_dim < 2:
            return "A 1-D latent cannot be shown as a plane."
        return None

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.entry = None
        self.model = None
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
        self._scatters: list[pg.ScatterPlotItem] = []
        self._scatter_classes: list[int] = []  # the class each scatter shows (its legend entry)
        self._building = False

        self.backdrop_timer = QtCore.QTimer(self)
        self.backdrop_timer.setSingleShot(True)
        self.backdrop_timer.setInterval(BACKDROP_DELAY_MS)
        self.backdrop_timer.timeout.connect(self.update_backdrop)

        self._build_controls()
        self._build_plot()
        self._build_side()
        self._build_pins()

        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.plot, 1)
        top.addWidget(self.side)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(self.controls)
        layout.addLayout(self.view_controls)
        layout.addLayout(top, 1)
        layout.addWidget(self.pin_box)
        self._set_enabled(False)

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

        self.view_controls = QtWidgets.QHBoxLayout()
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItem("PCA of the encodings", PCA)
        self.mode_combo.addItem("2-D slice", SLICE)
        self.mode_combo.currentIndexChanged.connect(self._plane_controls_changed)
        self.dim_x = QtWidgets.QSpinBox()
        self.dim_y = QtWidgets.QSpinBox()
        for spin in (self.dim_x, self.dim_y):
            spin.valueChanged.connect(self._plane_controls_changed)
        self.base_combo = QtWidgets.QComboBox()
        self.base_combo.addItem("mean of the encodings", "mean")
        self.base_combo.addItem("zero (prior mean)", "zero")
        self.base_combo.currentIndexChanged.connect(self._plane_controls_changed)
        self.view_label = QtWidgets.QLabel("Plane:")
        self.view_controls.addWidget(self.view_label)
        self.view_controls.addWidget(self.mode_combo)
        self.view_controls.addWidget(QtWidgets.QLabel("x = z["))
        self.view_controls.addWidget(self.dim_x)
        self.view_controls.addWidget(QtWidgets.QLabel("], y = z["))
        self.view_controls.addWidget(self.dim_y)
        self.view_controls.addWidget(QtWidgets.QLabel("], other dimensions at"))
        self.view_controls.addWidget(self.base_combo)
        self.view_controls.addStretch(1)
        self.plane_widgets = [self.mode_combo, self.dim_x, self.dim_y, self.base_combo]

    def _build_plot(self) -> None:
        self.view_box = MapViewBox()
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.setMinimumSize(300, 260)
        self.plot.setAspectLocked(True)
        self.plot.showGrid(x=False, y=False)
        self.plot.setMenuEnabled(True)
        self.plot_item = self.plot.getPlotItem()
        self.plot_item.hideButtons()
        self.backdrop = pg.ImageItem(axisOrder="row-major")
        self.backdrop.setZValue(-10)
        self.plot.addItem(self.backdrop)
        self.cursor = PassiveScatter(size=15, symbol="+", pen=pg.mkPen("w", width=2), brush=None)
        self.cursor.setZValue(20)
        self.plot.addItem(self.cursor)
        self.pin_markers = PassiveScatter(size=11, symbol="o", pen=pg.mkPen("k", width=1.5),
                                          brush=pg.mkBrush(255, 255, 255, 230))
        self.pin_markers.setZValue(25)
        self.plot.addItem(self.pin_markers)
        self._pin_texts: list[pg.TextItem] = []
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.view_box.clicked_at.connect(lambda p: self.pin_at(p.x(), p.y()))
        self.view_box.swept_to.connect(lambda p, done: self.preview_at(p.x(), p.y()))
        self.view_box.sigRangeChanged.connect(self._range_changed)

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

    def _build_pins(self) -> None:
        self.pin_box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(self.pin_box)
        row.setContentsMargins(0, 0, 0, 0)
        label = QtWidgets.QLabel("Pinned:")
        row.addWidget(label)
        self.pin_strip = QtWidgets.QWidget()
        self.pin_layout = QtWidgets.QHBoxLayout(self.pin_strip)
        self.pin_layout.setContentsMargins(2, 2, 2, 2)
        self.pin_hint = QtWidgets.QLabel("Click the map to pin a point; pins are re-decoded when the digit changes.")
        self.pin_hint.setStyleSheet("color: #666")
        self.pin_layout.addWidget(self.pin_hint)
        self.pin_layout.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.pin_strip)
        scroll.setWidgetResizable(True)
        scroll.setFixedHeight(96)
        scroll.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        row.addWidget(scroll, 1)
        self.clear_button = QtWidgets.QPushButton("Clear pins")
        self.clear_button.clicked.connect(self.clear_pins)
        row.addWidget(self.clear_button)

    # ----- model -----
    def set_entry(self, entry) -> None:
        self.backdrop_timer.stop()
        self.entry = entry
        self.model = None if entry is None else entry.checkpoint.model
        self.clear_pins()
        self.preview_z = None
        self.preview.set_image(None)
        for scatter in self._scatters:
            self.plot.removeItem(scatter)
        self._scatters = []
        self.legend.set_classes([])
        self.backdrop.clear()
        self.backdrop_rect = QtCore.QRectF()
        self.help_label.setText(gestures(entry).replace("  ·  ", "<br>"))
        if entry is None:
            self.plane = None
            self.point_label.setText("")
            self.note_label.setText("")
            self._clear_digits()
            self._set_enabled(False)
            return
        derived = entry.checkpoint.derived
        encodings = derived.get("test_encodings")
        self.encodings = None if encodings is None else torch.as_tensor(encodings).float()
        labels = derived.get("test_labels")
        self.labels = None if labels is None else torch.as_tensor(labels)
        if self.encodings is not None and self.encodings.shape[-1] != self.model.latent_dim:
            self.encodings = None
        self._set_enabled(True)
        self._setup_digits()
        self._building = True
        latent_dim = self.model.latent_dim
        self.mode_combo.setCurrentIndex(0 if self.encodings is not None else 1)
        for spin, value in ((self.dim_x, 0), (self.dim_y, 1)):
            spin.setRange(0, max(0, latent_dim - 1))
            spin.setValue(value)
        self.base_combo.setCurrentIndex(0 if self.encodings is not None else 1)
        self._building = False
        if latent_dim == 2:
            reason = "The latent is 2-D: the map is the latent plane itself."
        else:
            reason = ""
        for widget in self.plane_widgets:
            widget.setEnabled(latent_dim > 2)
            widget.setToolTip(reason)
        if self.encodings is None and latent_dim > 2:
            self.mode_combo.model().item(0).setEnabled(False)
            self.base_combo.model().item(0).setEnabled(False)
        else:
            self.mode_combo.model().item(0).setEnabled(True)
            self.base_combo.model().item(0).setEnabled(True)
        notes = []
        if self.encodings is None:
            notes.append("This checkpoint carries no test-set encodings, so the map shows no scatter.")
        if not takes_class(entry):
            notes.append("This model is unconditional: the class selector does not apply; dots are coloured by "
                         "their true label.")
        self.note_label.setText(" ".join(notes))
        self.set_plane(self._plane_from_controls())

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.plot, self.side, self.pin_box, self.backdrop_check, self.scatter_check,
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
    def _plane_from_controls(self) -> LatentPlane:
        latent_dim = self.model.latent_dim
        if latent_dim == 2:
            return LatentPlane.identity()
        if self.mode_combo.currentData() == PCA and self.encodings is not None:
            return default_plane(latent_dim, self.encodings)
        dims = (self.dim_x.value(), self.dim_y.value())
        if dims[0] == dims[1]:
            dims = (dims[0], (dims[0] + 1) % latent_dim)
        base = self.encodings.mean(0) if (self.base_combo.currentData() == "mean" and self.encodings is not None) \
            else torch.zeros(latent_dim)
        return LatentPlane.slice(latent_dim, dims, base)

    def _plane_controls_changed(self) -> None:
        if self._building or self.model is None or self.model.latent_dim == 2:
            return
        slice_mode = self.mode_combo.currentData() == SLICE
        for widget in (self.dim_x, self.dim_y, self.base_combo):
            widget.setEnabled(slice_mode)
        self.set_plane(self._plane_from_controls())

    def set_plane(self, plane: LatentPlane) -> None:
        """Show the map through `plane`: re-project the scatter and the pins, reset the view."""
        self.plane = plane
        if plane.mode != IDENTITY:
            slice_mode = plane.mode == SLICE
            for widget in (self.dim_x, self.dim_y, self.base_combo):
                widget.setEnabled(slice_mode)
        x_name, y_name = plane.axis_names()
        self.plot_item.setLabel("bottom", x_name)
        self.plot_item.setLabel("left", y_name)
        self._draw_scatter()
        self._draw_pin_markers()
        self.reset_view()
        centre = plane.project(plane.to_z([[0.0, 0.0]]))[0]
        self.preview_at(float(centre[0]), float(centre[1]))

    def _draw_scatter(self) -> None:
        for scatter in self._scatters:
            self.plot.removeItem(scatter)
        self._scatters = []
        self._scatter_classes: list[int] = []
        legend = []
        if self.encodings is None:
            self.legend.set_classes([])
            return
        points = self.plane.project(self.encodings).numpy()
        names = self.entry.checkpoint.label_names or []
        labels = self.labels
        if labels is not None and labels.dim() == 1 and len(labels) == len(points):
            classes = sorted(int(c) for c in torch.unique(labels))
            for c in classes:
                mask = (labels == c).numpy()
                colour = QtGui.QColor(CLASS_COLOURS[c % len(CLASS_COLOURS)])
                brush = pg.mkBrush(colour.red(), colour.green(), colour.blue(), 200)
                name = names[c] if c < len(names) else str(c)
                scatter = PassiveScatter(points[mask, 0], points[mask, 1], size=3.5, pen=None, brush=brush,
                                         name=name)
                self._add_scatter(scatter, c)
                legend.append((c, name, colour))
        else:
            scatter = PassiveScatter(points[:, 0], points[:, 1], size=4, pen=None,
                                     brush=pg.mkBrush(255, 255, 255, 150))
            self._add_scatter(scatter, 0)
            legend.append((0, "test encodings", QtGui.QColor("white")))
        self.legend.set_classes(legend)

    def _add_scatter(self, scatter, class_index: int) -> None:
        scatter.setZValue(0)
        scatter.setVisible(self.scatter_check.isChecked())
        self.plot.addItem(scatter)
        self._scatters.append(scatter)
        self._scatter_classes.append(class_index)

    def _class_toggled(self, *_) -> None:
        self._scatters_toggled(self.scatter_check.isChecked())

    def _scatters_toggled(self, on: bool) -> None:
        for scatter, index in zip(self._scatters, self._scatter_classes):
            scatter.setVisible(on and self.legend.is_shown(index))

    def view_range(self) -> QtCore.QRectF:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)

    def reset_view(self) -> None:
        if self.plane is None:
            return
        points = None if self.encodings is None else self.plane.project(self.encodings)
        (x0, x1), (y0, y1) = plane_range(points, bool(self.model.variational))
        self.view_box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

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
        self.cursor.setData([x], [y])

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

    def _mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self.model is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return
        point = self.view_box.mapSceneToView(scene_pos)
        self.preview_at(point.x(), point.y())

    def pin_at(self, x: float, y: float) -> Pin | None:
        """Pin the plane point (x, y): decode it under the current digit and add it to the strip."""
        if self.model is None or self.plane is None:
            return None
        z, image = self.decode_point(x, y)
        self.preview_xy = (x, y)
        self._show_preview(z, image)
        self.cursor.setData([x], [y])
        view = ImageView(minimum=72)
        view.setFixedSize(80, 80)
        view.set_image(image)
        pin = Pin(z=z, image=image, view=view)
        view.clicked.connect(lambda p=pin: self._show_pin(p))
        self.pins.append(pin)
        self.pin_hint.hide()
        self.pin_layout.insertWidget(len(self.pins) - 1, view)
        self._update_pin_tooltips()
        self._draw_pin_markers()
        return pin

    def _show_pin(self, pin: Pin) -> None:
        xy = self.plane.project(pin.z)[0]
        self.preview_xy = (float(xy[0]), float(xy[1]))
        self.cursor.setData([self.preview_xy[0]], [self.preview_xy[1]])
        self._show_preview(pin.z, pin.image)

    def _update_pin_tooltips(self) -> None:
        for number, pin in enumerate(self.pins, 1):
            pin.view.setToolTip(f"Pin {number}: {self._describe(pin.z)} — click to show it in the preview")

    def _draw_pin_markers(self) -> None:
        for text in self._pin_texts:
            self.plot.removeItem(text)
        self._pin_texts = []
        if not self.pins or self.plane is None:
            self.pin_markers.setData([], [])
            return
        xy = self.plane.project(torch.cat([p.z for p in self.pins])).numpy()
        self.pin_markers.setData(xy[:, 0], xy[:, 1])
        for number, (x, y) in enumerate(xy, 1):
            text = pg.TextItem(str(number), color="w", anchor=(-0.3, 1.1), fill=pg.mkBrush(0, 0, 0, 150))
            text.setZValue(26)
            text.setPos(float(x), float(y))
            self.plot.addItem(text)
            self._pin_texts.append(text)

    def clear_pins(self) -> None:
        for pin in self.pins:
            self.pin_layout.removeWidget(pin.view)
            pin.view.deleteLater()
        self.pins = []
        self.pin_hint.show()
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
                pin.view.set_image(image)
            self._update_pin_tooltips()
        self.update_backdrop()

    # ----- backdrop -----
    def _backdrop_toggled(self, on: bool) -> None:
        self.backdrop.setVisible(on)
        if on:
            self.update_backdrop()

    def _range_changed(self, *args) -> None:
        if self.model is not None and self.backdrop_check.isChecked():
            self.backdrop_timer.start()

    def backdrop_grid(self, cells: int = 20) -> tuple[int, int]:
        """(columns, rows): `cells` along the longer side of the view, square-ish tiles on screen."""
        width, height = max(1.0, self.view_box.width()), max(1.0, self.view_box.height())
        if width >= height:
            return cells, max(2, min(cells, round(cells * height / width)))
        return max(2, min(cells, round(cells * width / height))), cells

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
        mosaic = to_uint8(L.tile(images, columns))
        self.backdrop.setImage(np.ascontiguousarray(mosaic[::-1]), autoLevels=False, levels=(0, 255))
        self.backdrop.setRect(rect)
        self.backdrop.setOpacity(0.85)
        self.backdrop_rect = QtCore.QRectF(rect)
        self.backdrop_decodes += 1
        self.backdrop_seconds = started.elapsed() / 1000

    def flush(self) -> None:
        if self.backdrop_timer.isActive():
            self.update_backdrop()
