"""Finding and aligning the face in a user's photo (cvae.data.align)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from cvae.data.align import EYES_64, FoundFace, align_face, check_photo, find_faces
from cvae.errors import DatasetError

cv2 = pytest.importorskip("cv2")


def dots(size: int, points, radius: int = 3) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    for x, y in points:
        cv2.circle(image, (int(round(x)), int(round(y))), radius, (255, 255, 255), -1)
    return image


def brightest(image: np.ndarray, half: str) -> tuple[float, float]:
    grey = image.astype(float).mean(2)
    w = grey.shape[1]
    part = grey[:, : w // 2] if half == "left" else grey[:, w // 2:]
    ys, xs = np.nonzero(part > part.max() * 0.5)
    weights = part[ys, xs]
    return float((xs * weights).sum() / weights.sum() + (0 if half == "left" else w // 2)), \
        float((ys * weights).sum() / weights.sum())


def test_alignment_puts_the_eyes_where_the_training_faces_have_them():
    """Two 'eyes' in a 600×600 photo, rotated 12° and far apart: after alignment to 64×64 they sit at EYES_64."""
    centre, half, angle = np.array([310.0, 280.0]), 90.0, math.radians(12)
    offset = half * np.array([math.cos(angle), math.sin(angle)])
    left, right = centre - offset, centre + offset
    photo = dots(600, [left, right], radius=12)
    aligned = align_face(photo, FoundFace((0, 0, 600, 600), tuple(left), tuple(right), True), 64)
    assert aligned.shape == (64, 64, 3)
    for found, expected in zip((brightest(aligned, "left"), brightest(aligned, "right")), EYES_64):
        assert math.dist(found, expected) < 1.0


def test_a_blank_image_has_no_face():
    assert find_faces(np.full((300, 400, 3), 128, np.uint8)) == []


def test_photos_that_cannot_work_get_one_line_each():
    with pytest.raises(DatasetError, match=r"10×10 pixels, smaller than the model's 64×64 faces"):
        check_photo(np.zeros((10, 10, 3), np.uint8), 64, 3)
    grey = np.repeat(np.random.default_rng(0).integers(0, 255, (100, 100, 1), dtype=np.uint8), 3, axis=2)
    with pytest.raises(DatasetError, match="grayscale but the model draws colour faces"):
        check_photo(grey, 64, 3)
    check_photo(grey, 64, 1)  # a grayscale model takes it
    check_photo(np.random.default_rng(1).integers(0, 255, (100, 120, 3), dtype=np.uint8), 64, 3)


def held_out_faces():
    folder = os.environ.get("CVAE_DATA_DIR")
    if not folder or not (Path(folder) / "celebahq64" / "images").is_dir():
        pytest.skip("needs the real faces: set CVAE_DATA_DIR to a folder with celebahq64/ (../shared/data)")
    from PIL import Image

    return [np.asarray(Image.open(Path(folder) / "celebahq64" / "images" / f"{i}.jpg").convert("RGB"))
            for i in range(4501, 4521)]


def paste(face: np.ndarray, scale: float, degrees: float, offset: tuple[int, int]) -> np.ndarray:
    """The face enlarged by `scale`, turned by `degrees` about its centre and placed at `offset` in a 720×540
    photo of plain grey."""
    side = face.shape[0] * scale
    matrix = cv2.getRotationMatrix2D((face.shape[1] / 2, face.shape[0] / 2), degrees, scale)
    matrix[:, 2] += np.array(offset) + side / 2 - np.array([face.shape[1] / 2, face.shape[0] / 2])
    canvas = np.full((540, 720, 3), 128, np.uint8)
    return cv2.warpAffine(face, matrix, (720, 540), dst=canvas, flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_TRANSPARENT)


def best_shift(a: np.ndarray, b: np.ndarray, reach: int = 6) -> tuple[float, tuple[int, int]]:
    """The shift of b (within ±reach pixels) that best matches a's centre: (its mean absolute error, the shift)."""
    inner = slice(reach + 8, 64 - reach - 8)
    best = (1e9, (0, 0))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            err = float(np.abs(a[inner, inner].astype(float) - np.roll(b, (dy, dx), (0, 1))[inner, inner]).mean())
            best = min(best, (err, (dy, dx)))
    return best


@pytest.mark.real_data
def test_a_held_out_face_pasted_into_a_photo_is_found_and_aligned_back_to_its_crop():
    aligned_back = 0
    for index, face in enumerate(held_out_faces()):
        photo = paste(face, 4.0 + 0.5 * (index % 3), (-6, 0, 7)[index % 3], (60 + 7 * index, 40 + 3 * index))
        found = find_faces(photo)
        if not found:
            continue
        aligned = align_face(photo, found[0], 64)
        error, (dy, dx) = best_shift(face, aligned)
        if max(abs(dy), abs(dx)) <= 3 and error < 25:
            aligned_back += 1
    # of 20 (measured: 16): the detector misses one; on two turned heads the eyes are closer than in the template
    # and the aligned crop is zoomed in; the rest land within 3 pixels of the original crop
    assert aligned_back >= 15
