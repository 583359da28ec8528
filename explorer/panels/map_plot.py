"""The latent map's plot: a pyqtgraph view where a left click pins and a left drag sweeps, and what is drawn on it
(the decoded backdrop, the encodings' dots, the pin markers with their numbers, the cursor marker). It speaks in
plane coordinates and pictures, never in models or latents, so that the panel only wires the two together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

BACKDROP_OPACITY = 0.85


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
class DotGroup:
    """The dots of one legend entry: its class index, name and colour, and its points (N, 2) on the plane."""
    index: int
    name: str
    colour: QtGui.QColor
    points: np.ndarray
    size: float = 3.5
    alpha: int = 200


class MapPlot(pg.PlotWidget):
    """The plot and its items. Signals carry plane coordinates: `pointed_at(x, y)` when the mouse moves over the
    plot area, `clicked_at(x, y)` on a left click, `swept_to(x, y, finished)` during a left drag, and
    `view_changed()` after zoom or pan."""

    pointed_at = QtCore.Signal(float, float)
    clicked_at = QtCore.Signal(float, float)
    swept_to = QtCore.Signal(float, float, bool)
    view_changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        view_box = MapViewBox()
        super().__init__(parent, viewBox=view_box)
        self.view_box = view_box
        self.setMinimumSize(300, 260)
        self.setAspectLocked(True)
        self.showGrid(x=False, y=False)
        self.setMenuEnabled(True)
        self.plot_item = self.getPlotItem()
        self.plot_item.hideButtons()
        self.backdrop = pg.ImageItem(axisOrder="row-major")
        self.backdrop.setZValue(-10)
        self.addItem(self.backdrop)
        self.dots: list[PassiveScatter] = []
        self.dot_classes: list[int] = []  # the class each scatter shows (its legend entry)
        self.cursor_marker = PassiveScatter(size=15, symbol="+", pen=pg.mkPen("w", width=2), brush=None)
        self.cursor_marker.setZValue(20)
        self.addItem(self.cursor_marker)
        self.pin_markers = PassiveScatter(size=11, symbol="o", pen=pg.mkPen("k", width=1.5),
                                          brush=pg.mkBrush(255, 255, 255, 230))
        self.pin_markers.setZValue(25)
        self.addItem(self.pin_markers)
        self.pin_numbers: list[pg.TextItem] = []
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        view_box.clicked_at.connect(lambda p: self.clicked_at.emit(p.x(), p.y()))
        view_box.swept_to.connect(lambda p, done: self.swept_to.emit(p.x(), p.y(), done))
        view_box.sigRangeChanged.connect(lambda *_: self.view_changed.emit())

    def _mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self.view_box.sceneBoundingRect().contains(scene_pos):
            point = self.view_box.mapSceneToView(scene_pos)
            self.pointed_at.emit(point.x(), point.y())

    # ----- the view -----
    def set_axis_names(self, x_name: str, y_name: str) -> None:
        self.plot_item.setLabel("bottom", x_name)
        self.plot_item.setLabel("left", y_name)

    def view_range(self) -> QtCore.QRectF:
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)

    def set_view(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.view_box.setRange(xRange=x_range, yRange=y_range, padding=0)

    def tile_grid(self, cells: int = 20) -> tuple[int, int]:
        """(columns, rows): `cells` along the longer side of the view, square-ish tiles on screen."""
        width, height = max(1.0, self.view_box.width()), max(1.0, self.view_box.height())
        if width >= height:
            return cells, max(2, min(cells, round(cells * height / width)))
        return max(2, min(cells, round(cells * width / height))), cells

    # ----- items -----
    def show_cursor(self, x: float, y: float) -> None:
        self.cursor_marker.setData([x], [y])

    def show_pins(self, points: np.ndarray) -> None:
        """Markers numbered 1, 2, ... at `points` (N, 2); an empty array removes them."""
        for text in self.pin_numbers:
            self.removeItem(text)
        self.pin_numbers = []
        if len(points) == 0:
            self.pin_markers.setData([], [])
            return
        self.pin_markers.setData(points[:, 0], points[:, 1])
        for number, (x, y) in enumerate(points, 1):
            text = pg.TextItem(str(number), color="w", anchor=(-0.3, 1.1), fill=pg.mkBrush(0, 0, 0, 150))
            text.setZValue(26)
            text.setPos(float(x), float(y))
            self.addItem(text)
            self.pin_numbers.append(text)

    def set_dots(self, groups: list[DotGroup]) -> None:
        """Replace the dots with one scatter per group (all visible; see `set_dots_visible`)."""
        for scatter in self.dots:
            self.removeItem(scatter)
        self.dots = []
        self.dot_classes = []
        for group in groups:
            brush = pg.mkBrush(group.colour.red(), group.colour.green(), group.colour.blue(), group.alpha)
            scatter = PassiveScatter(group.points[:, 0], group.points[:, 1], size=group.size, pen=None, brush=brush,
                                     name=group.name)
            scatter.setZValue(0)
            self.addItem(scatter)
            self.dots.append(scatter)
            self.dot_classes.append(group.index)

    def set_dots_visible(self, shown: Callable[[int], bool]) -> None:
        """Show the scatter of each class index for which `shown(index)` is true, hide the others."""
        for scatter, index in zip(self.dots, self.dot_classes):
            scatter.setVisible(shown(index))

    def show_backdrop(self, mosaic: np.ndarray, rect: QtCore.QRectF) -> None:
        """Stretch `mosaic` (uint8, top row first) over `rect` in plane coordinates, behind everything else."""
        self.backdrop.setImage(np.ascontiguousarray(mosaic[::-1]), autoLevels=False, levels=(0, 255))
        self.backdrop.setRect(rect)
        self.backdrop.setOpacity(BACKDROP_OPACITY)

    def clear_backdrop(self) -> None:
        self.backdrop.clear()
