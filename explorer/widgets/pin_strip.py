"""A strip of thumbnails with a Clear button, shared by the panels that collect pictures one by one (the latent
map's pins, the Interpolate panel's path). It holds pictures only: what each stands for (a z, a label) stays
with the panel that made it, which finds it again by the thumbnail's index."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PySide6 import QtCore, QtWidgets

from explorer.images import ImageView


class PinStrip(QtWidgets.QWidget):
    """A title, a horizontally scrolling row of thumbnails (a hint while it is empty) and a Clear button.

    `clicked(index)`: the thumbnail at `index` (0 = the first added) was clicked.
    `cleared()`: the user pressed Clear; the strip is already empty when it fires.
    """

    clicked = QtCore.Signal(int)
    cleared = QtCore.Signal()

    def __init__(self, title: str = "Pinned:", hint: str = "", clear_text: str = "Clear", thumbnail: int = 80,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.thumbnail = thumbnail
        self.views: list[ImageView] = []
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.title_label = QtWidgets.QLabel(title)
        row.addWidget(self.title_label)
        self.strip = QtWidgets.QWidget()
        self.strip_layout = QtWidgets.QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(2, 2, 2, 2)
        self.hint = QtWidgets.QLabel(hint)
        self.hint.setStyleSheet("color: #666")
        self.strip_layout.addWidget(self.hint)
        self.strip_layout.addStretch(1)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidget(self.strip)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFixedHeight(thumbnail + 16)  # the thumbnails, their margins and the horizontal scroll bar
        self.scroll.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        row.addWidget(self.scroll, 1)
        self.clear_button = QtWidgets.QPushButton(clear_text)
        self.clear_button.clicked.connect(self._clear_pressed)
        row.addWidget(self.clear_button)

    def count(self) -> int:
        return len(self.views)

    def add_image(self, image: torch.Tensor, tooltip: str = "") -> int:
        """Append a thumbnail of `image` (C, H, W); returns its index."""
        index = len(self.views)
        view = ImageView(minimum=self.thumbnail)
        view.setFixedSize(self.thumbnail, self.thumbnail)
        view.set_image(image)
        view.setToolTip(tooltip)
        view.clicked.connect(lambda i=index: self.clicked.emit(i))
        self.views.append(view)
        self.hint.hide()
        self.strip_layout.insertWidget(index, view)
        return index

    def set_images(self, images: Sequence[torch.Tensor], tooltips: Sequence[str] | None = None) -> None:
        """Replace every thumbnail's picture (and tooltip), in order: the same pins decoded again."""
        if len(images) != len(self.views):
            raise ValueError(f"expected {len(self.views)} images, one per thumbnail, got {len(images)}")
        for view, image in zip(self.views, images):
            view.set_image(image)
        if tooltips is not None:
            self.set_tooltips(tooltips)

    def set_tooltips(self, tooltips: Sequence[str]) -> None:
        for view, text in zip(self.views, tooltips):
            view.setToolTip(text)

    def clear(self) -> None:
        """Remove every thumbnail and show the hint again (no signal: `cleared` is for the user's Clear)."""
        for view in self.views:
            self.strip_layout.removeWidget(view)
            view.hide()  # off screen now, not when the event loop gets to deleteLater (a screenshot comes first)
            view.deleteLater()
        self.views = []
        self.hint.show()

    def _clear_pressed(self) -> None:
        self.clear()
        self.cleared.emit()
