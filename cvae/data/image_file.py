"""One image file a user opens (a photo to edit, an endpoint to interpolate from), decoded into the tensor a model
takes, prepared as the face loader prepares a data set's images."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cvae.data.faces import decode_face
from cvae.errors import DatasetError

# Luminance weights (ITU-R BT.601, as Pillow's "L" mode): a grayscale model's one channel from an RGB file
LUMA = (0.299, 0.587, 0.114)


def load_image_file(path: str | os.PathLike, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file as (C, H, W) float in [0, 1] for a model taking `image_shape` images: the centre square cut
    out and resized with antialiasing (cvae.data.faces.decode_face, as the face data sets are), then a non-square
    model's aspect ratio cut from the centre; one channel (luminance, rounded to the 8-bit grey a grayscale data
    set holds) for a grayscale model. Raises DatasetError with one line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} does not exist or is not a file; expected an image (PNG, JPEG, ...)")
    channels, height, width = image_shape
    if channels not in (1, 3):
        raise DatasetError(f"the model takes {channels}-channel images; an image file can only give 1 or 3")
    side = max(height, width)
    image = decode_face(path, side, crop_square=True)  # (3, side, side) uint8
    if (height, width) != (side, side):
        top, left = (side - height) // 2, (side - width) // 2
        image = image[:, top:top + height, left:left + width]
    picture = image.float() / 255
    if channels == 1:
        weights = torch.tensor(LUMA).view(3, 1, 1)
        picture = (picture * weights).sum(0, keepdim=True)
        picture = (picture * 255).round() / 255
    return picture.contiguous()
