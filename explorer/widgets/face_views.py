"""Face pictures as the face panels show them: a thumbnail browser (Interpolate's test images), a tile of one
face's pictures side by side with a caption (Edit), and an endpoint box (Interpolate)."""

from __future__ import annotations

import torch
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.images import ImageView, to_qimage

THUMBNAIL = 88  # a face tile's picture size
HEADER_TIPS = {"Original": "The image as the data set (or the file) gives it",
               "Reconstruction": "Encoded and decoded under its own labels",
               "Decoded": "The bundled encoding decoded under its own labels (the checkpoint ships no images)",
               "Edited": "Encoded under its own labels, decoded under the edited ones"}


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


class FaceTile(QtWidgets.QWidget):
    """One face: its pictures side by side (original, reconstruction, edited) and a caption under them."""

    def __init__(self, columns: int, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        row = QtWidgets.QHBoxLayout()
        row.setSpacing(3)
        self.views = []
        for _ in range(columns):
            view = ImageView(minimum=THUMBNAIL)
            view.setFixedSize(THUMBNAIL, THUMBNAIL)
            self.views.append(view)
            row.addWidget(view)
        layout.addLayout(row)
        self.caption = QtWidgets.QLabel("")
        self.caption.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.caption.setStyleSheet("color: #555")
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(columns * (THUMBNAIL + 3))
        layout.addWidget(self.caption)

    @staticmethod
    def header(titles: list[str]) -> QtWidgets.QWidget:
        """Column titles over a tile's pictures, one per picture and as wide."""
        header = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(header)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(3)
        for title in titles:
            label = QtWidgets.QLabel(title)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            label.setToolTip(HEADER_TIPS.get(title, ""))
            label.setFixedWidth(THUMBNAIL)
            row.addWidget(label)
        return header


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
        self.attributes_button = QtWidgets.QPushButton("Attributes…")
        self.attributes_button.setToolTip("The attributes this endpoint is encoded and decoded under (an opened "
                                          "photo: the judge's reading): see and correct them")
        self.attributes_button.hide()
        more.addWidget(self.attributes_button)
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
