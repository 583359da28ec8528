"""Pictures: (C, H, W) float tensors in [0, 1] to numpy, QImage and PNG, and a widget that shows them crisply."""

from __future__ import annotations

import os

import numpy as np
import torch
from PySide6 import QtCore, QtGui, QtWidgets


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] → (H, W) uint8 for one channel, (H, W, 3) for three."""
    image = torch.as_tensor(image).detach().cpu().float()
    if image.dim() == 2:
        image = image.unsqueeze(0)
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1 or 3, H, W) image, got shape {tuple(image.shape)}")
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if array.shape[0] == 1:
        return np.ascontiguousarray(array[0].numpy())
    return np.ascontiguousarray(array.permute(1, 2, 0).numpy())


def to_qimage(image: torch.Tensor) -> QtGui.QImage:
    """A QImage that owns its pixels: Grayscale8 for one channel, RGB888 for three."""
    array = to_uint8(image)
    height, width = array.shape[:2]
    if array.ndim == 2:
        fmt, per_line = QtGui.QImage.Format.Format_Grayscale8, width
    else:
        fmt, per_line = QtGui.QImage.Format.Format_RGB888, 3 * width
    return QtGui.QImage(array.data, width, height, per_line, fmt).copy()


def save_png(image: torch.Tensor, path: str | os.PathLike, scale: int = 1) -> None:
    """Write a (C, H, W) picture as PNG, optionally enlarged `scale` times with nearest-neighbour pixels."""
    qimage = to_qimage(image)
    if scale > 1:
        qimage = qimage.scaled(qimage.width() * scale, qimage.height() * scale,
                               QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                               QtCore.Qt.TransformationMode.FastTransformation)
    if not qimage.save(os.fspath(path), "PNG"):
        raise OSError(f"could not write the PNG file {path}")


class ImageView(QtWidgets.QWidget):
    """Shows one picture scaled to fit (aspect kept) with nearest-neighbour pixels, or a placeholder text."""

    clicked = QtCore.Signal()

    def __init__(self, placeholder: str = "", minimum: int = 64, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.tensor: torch.Tensor | None = None
        self._image: QtGui.QImage | None = None
        self.placeholder = placeholder
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)

    def set_image(self, image: torch.Tensor | None) -> None:
        self.tensor = None if image is None else image.detach().cpu()
        self._image = None if image is None else to_qimage(image)
        self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    def image_rect(self) -> QtCore.QRect:
        """Where the picture is drawn: the largest fit, rounded down to a whole zoom factor when that is close."""
        if self._image is None:
            return QtCore.QRect()
        w, h = self._image.width(), self._image.height()
        area = self.contentsRect()
        factor = min(area.width() / w, area.height() / h)
        if factor >= 1 and int(factor) / factor > 0.8:
            factor = int(factor)  # whole-pixel zoom when it costs little space
        width, height = max(1, int(w * factor)), max(1, int(h * factor))
        return QtCore.QRect(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2,
                            width, height)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        if self._image is not None:
            painter.drawImage(self.image_rect(), self._image)
        elif self.placeholder:
            painter.setPen(self.palette().color(QtGui.QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.contentsRect(), QtCore.Qt.AlignmentFlag.AlignCenter | QtCore.Qt.TextFlag.TextWordWrap,
                             self.placeholder)
        painter.end()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)
