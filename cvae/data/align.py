"""Find and align the face in a user's photo the way the training faces were aligned, before a face model sees it.

CelebA-HQ faces are cropped so that the eyes sit at fixed places. We detect the face and its eyes with OpenCV's
Haar cascades (shipped inside the opencv-python-headless 4.x wheel: nothing is downloaded), then rotate, scale and
shift the photo so that the eyes land on the training faces' eye positions, and resize to the model's size.

Where the eyes sit in the training faces (EYES_64, in pixels of a 64×64 crop) was measured with the same
detectors on the first 400 CelebA-HQ faces of ../shared/data, each upscaled 4× (337 had one face and two eyes;
the spread was about 1 pixel): `python scripts/measure_face_template.py`. When the eye detector finds no pair, the
eyes are placed where they sit within the detected face box on those faces (EYES_IN_BOX), without rotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cvae.errors import DatasetError

# left eye (x, y), right eye (x, y) in a 64×64 CelebA-HQ crop (image left/right), and as fractions of the face box
EYES_64 = ((23.21, 30.23), (40.05, 30.25))
EYES_IN_BOX = ((0.284, 0.372), (0.692, 0.373))
DETECT_SIDE = 512  # photos are searched at about this size (larger ones are shrunk first, small ones enlarged)


class NoFaceFound(DatasetError):
    """The detector found no face in the photo (the caller may offer the plain centre crop instead)."""


@dataclass
class FoundFace:
    """One face in a photo: its box (x, y, width, height) and eye centres (left, right) in the photo's pixels;
    `eyes_detected` is False when the eyes were placed from the box."""

    box: tuple[float, float, float, float]
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    eyes_detected: bool


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - a dependency of the project
        raise DatasetError("finding faces in photos needs OpenCV (pip install 'opencv-python-headless<5')") from None
    return cv2


_CASCADES: dict[str, object] = {}


def _cascade(name: str):
    cv2 = _cv2()
    if name not in _CASCADES:
        classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if classifier.empty():
            raise DatasetError(f"OpenCV's {name} is missing from {cv2.data.haarcascades}; reinstall "
                               "opencv-python-headless 4.x")
        _CASCADES[name] = classifier
    return _CASCADES[name]


def check_photo(image: np.ndarray, model_size: int, channels: int, name: str = "the photo") -> None:
    """One clear line for a photo that cannot work: smaller than the model's images, or grayscale for a colour
    model. `image` is (H, W) or (H, W, C) uint8."""
    height, width = image.shape[:2]
    if min(height, width) < model_size:
        raise DatasetError(f"{name} is {width}×{height} pixels, smaller than the model's {model_size}×{model_size} "
                           "faces; open a larger photo")
    grey = image.ndim == 2 or image.shape[2] == 1 or (
        image.shape[2] >= 3 and np.array_equal(image[..., 0], image[..., 1])
        and np.array_equal(image[..., 1], image[..., 2]))
    if channels == 3 and grey:
        raise DatasetError(f"{name} is grayscale but the model draws colour faces; open a colour photo")


def find_faces(image: np.ndarray) -> list[FoundFace]:
    """Every face in an RGB uint8 photo (H, W, 3), largest first, each with its eyes."""
    cv2 = _cv2()
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    scale = DETECT_SIDE / max(grey.shape)
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else
                       cv2.INTER_CUBIC)
    small = cv2.equalizeHist(small)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(DETECT_SIDE // 12,) * 2)
    faces = []
    for box in sorted((tuple(int(v) / scale for v in b) for b in boxes), key=lambda b: -b[2] * b[3]):
        x, y, w, h = box
        eyes = _find_eyes(grey, x, y, w, h)
        detected = eyes is not None
        if not detected:
            (lx, ly), (rx, ry) = EYES_IN_BOX
            eyes = ((x + lx * w, y + ly * h), (x + rx * w, y + ry * h))
        faces.append(FoundFace(box, eyes[0], eyes[1], detected))
    return faces


EYE_SEARCH_WIDTH = 200  # the face's upper part is searched for eyes at this width, whatever the photo's size
EYE_REACH = 0.12  # an eye detection counts only this far (a share of the box width) from where eyes sit in boxes


def _find_eyes(grey: np.ndarray, x: float, y: float, w: float, h: float):
    """The two eye centres in a face box (photo pixels): in the box's upper 60%, searched at a fixed width, the
    detection nearest to where each eye sits in the training faces' boxes; kept only when they are about level and
    as far apart as eyes are (else None: eyebrows and nostrils are what the cascade also finds)."""
    cv2 = _cv2()
    top, left = max(int(y), 0), max(int(x), 0)
    roi = grey[top:int(y + 0.6 * h), left:int(x + w)]
    if roi.size == 0:
        return None
    zoom = EYE_SEARCH_WIDTH / roi.shape[1]
    roi = cv2.resize(roi, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC)
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(roi, scaleFactor=1.05, minNeighbors=4,
                                                            minSize=(EYE_SEARCH_WIDTH // 10,) * 2)
    centres = [(left + (ex + ew / 2) / zoom, top + (ey + eh / 2) / zoom, ew) for ex, ey, ew, eh in eyes]
    picked = []
    for fx, fy in EYES_IN_BOX:  # the detection nearest to where that eye sits in the box, if near enough
        expected = (x + fx * w, y + fy * h)
        near = [c for c in centres if math.dist(c[:2], expected) < EYE_REACH * w]
        if not near:
            return None
        picked.append(min(near, key=lambda c: math.dist(c[:2], expected)))
    (lx, ly, _), (rx, ry, _) = picked
    distance = math.hypot(rx - lx, ry - ly)
    if not (0.25 * w < distance < 0.65 * w) or abs(ry - ly) > 0.5 * distance:
        return None
    return (lx, ly), (rx, ry)


def align_face(image: np.ndarray, face: FoundFace, size: int) -> np.ndarray:
    """The photo rotated, scaled and shifted so that the face's eyes land where the training faces' eyes are,
    cropped to `size`×`size` (uint8 RGB). Warped at 4× the size and then area-resized, as CelebA-HQ's crops were
    shrunk, so a large photo does not alias."""
    cv2 = _cv2()
    work = size * 4
    (tlx, tly), (trx, try_) = ((x * work / 64, y * work / 64) for x, y in EYES_64)
    (lx, ly), (rx, ry) = face.left_eye, face.right_eye
    scale = math.hypot(trx - tlx, try_ - tly) / max(math.hypot(rx - lx, ry - ly), 1e-6)
    angle = math.atan2(ry - ly, rx - lx) - math.atan2(try_ - tly, trx - tlx)
    cos, sin = scale * math.cos(-angle), scale * math.sin(-angle)
    # x' = R·s·(x − eye midpoint) + template midpoint
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    tx, ty = (tlx + trx) / 2, (tly + try_) / 2
    matrix = np.array([[cos, -sin, tx - cos * mx + sin * my], [sin, cos, ty - sin * mx - cos * my]])
    warped = cv2.warpAffine(image, matrix, (work, work), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The plain fallback: the centre square, resized to `size` (what an opened file got before alignment)."""
    cv2 = _cv2()
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return cv2.resize(image[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
