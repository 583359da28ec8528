"""The map's legend, beside the plot rather than on it (on the plot it hid the backdrop's top-right tiles):
one check box per class with its colour; unchecking hides that class's dots."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


def swatch(colour: QtGui.QColor, size: int = 12) -> QtGui.QIcon:
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(colour)
    return QtGui.QIcon(pixmap)


class ClassLegend(QtWidgets.QWidget):
    """`toggled(index, visible)` fires when a class is shown or hidden."""

    toggled = QtCore.Signal(int, bool)

    def __init__(self, columns: int = 2, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.columns = columns
        self.boxes: list[QtWidgets.QCheckBox] = []
        self.indices: list[int] = []
        self.grid = QtWidgets.QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(0)

    def set_classes(self, entries: list[tuple[int, str, QtGui.QColor]]) -> None:
        """(class index, name, colour) per class; an empty list clears the legend."""
        for box in self.boxes:
            self.grid.removeWidget(box)
            box.hide()
            box.setParent(None)
            box.deleteLater()
        self.boxes = []
        self.indices = [index for index, _, _ in entries]
        for position, (index, name, colour) in enumerate(entries):
            box = QtWidgets.QCheckBox(name)
            box.setIcon(swatch(colour))
            box.setChecked(True)
            box.setToolTip(f"Show or hide the test images labelled {name}")
            box.toggled.connect(lambda on, i=index: self.toggled.emit(i, on))
            self.grid.addWidget(box, position // self.columns, position % self.columns)
            self.boxes.append(box)

    def is_shown(self, index: int) -> bool:
        return index not in self.indices or self.boxes[self.indices.index(index)].isChecked()

    def names(self) -> list[str]:
        return [box.text() for box in self.boxes]
