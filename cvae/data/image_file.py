"""One image file a user opens (a photo to edit, an endpoint to interpolate from), decoded into the tensor a model
takes: for a face model (attribute labels, colour, square), the face found in the photo and aligned as the training
faces were (FacePhoto, open_face_photo: cvae.data.align); for any other model, prepared as the loader prepares a data
set's images (load_image_file: the centre square, resized)."""

from __future__ import annotations

import os
from pathlib import Path

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cvae.data.align import FoundFace, align_face, centre_crop, check_photo, find_faces
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


def decode_photo(path: str | os.PathLike) -> np.ndarray:
    """A photo file as (H, W, 3) uint8 RGB, turned upright by its EXIF orientation (as a phone's photo is shown).
    A grayscale file comes back with three equal channels (check_photo names it). Raises DatasetError, one line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} does not exist or is not a file; expected an image (PNG, JPEG, ...)")
    try:
        with Image.open(path) as opened:
            return np.array(ImageOps.exif_transpose(opened).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {path}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") \
            from None


def to_picture(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float in [0, 1], the tensor a model takes."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255).contiguous()


@dataclass
class FacePhoto:
    """A photo opened for a face model: its pixels, the faces found in it (largest first) and the model's image
    size. `aligned(i)` is face i rotated, scaled and cropped as the training faces were; `centre()` the plain centre
    crop (what a photo without a detected face may use instead, when the user says so)."""

    path: Path
    photo: np.ndarray           # (H, W, 3) uint8 RGB
    faces: list[FoundFace]
    size: int

    @property
    def name(self) -> str:
        return self.path.name

    def aligned(self, index: int = 0) -> torch.Tensor:
        return to_picture(align_face(self.photo, self.faces[index], self.size))

    def centre(self) -> torch.Tensor:
        return to_picture(centre_crop(self.photo, self.size))


def open_face_photo(path: str | os.PathLike, size: int) -> FacePhoto:
    """Decode a photo for a colour face model of `size`×`size` images, refuse one that cannot work (smaller than
    the model's faces, grayscale: one line each, cvae.data.align.check_photo) and find its faces (none is not an
    error here: the caller says so and may offer the centre crop)."""
    path = Path(path)
    photo = decode_photo(path)
    check_photo(photo, size, 3, name=path.name)
    return FacePhoto(path, photo, find_faces(photo), size)
