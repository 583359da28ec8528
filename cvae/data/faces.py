"""Face folders with CelebA's 40-attribute file: the original CelebA layout and CelebA-HQ style, found on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from cvae.data.dataset import ImageDataset
from cvae.errors import DatasetError

CELEBA_ATTRIBUTES = "list_attr_celeba.txt"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_IMAGES = "img_align_celeba"
HQ_ATTRIBUTES = "CelebAMask-HQ-attribute-anno.txt"
HQ_IMAGES = "images"
FACE_SUBFOLDERS = ("", "celeba", "celebahq64", "celebahq", "CelebAMask-HQ", "CelebA-HQ")
HQ_TEST_FRACTION = 0.1  # CelebA-HQ has no official split: the last 10% (images 4501-5000 of 5000) are held out


@dataclass
class FaceLayout:
    kind: str  # "celeba" (178×218, centre-cropped) or "celeba-hq" (already aligned)
    root: Path
    images: Path
    attributes: Path
    partition: Path | None


def detect_layout(root: Path) -> FaceLayout:
    """Which CelebA-format layout is on disk under `root` (or a usual subfolder of it)."""
    for sub in FACE_SUBFOLDERS:
        base = root / sub if sub else root
        if (base / CELEBA_IMAGES).is_dir() and (base / CELEBA_ATTRIBUTES).is_file():
            partition = base / CELEBA_PARTITION
            return FaceLayout("celeba", base, base / CELEBA_IMAGES, base / CELEBA_ATTRIBUTES,
                              partition if partition.is_file() else None)
        if (base / HQ_IMAGES).is_dir() and (base / HQ_ATTRIBUTES).is_file():
            return FaceLayout("celeba-hq", base, base / HQ_IMAGES, base / HQ_ATTRIBUTES, None)
    raise DatasetError(
        f"no CelebA-format face folder under {root}; expected {CELEBA_IMAGES}/ with {CELEBA_ATTRIBUTES} "
        f"(original CelebA) or {HQ_IMAGES}/ with {HQ_ATTRIBUTES} (CelebA-HQ style)")


def read_attribute_file(path: Path) -> tuple[list[str], list[str], torch.Tensor]:
    """CelebA's format: a count, the attribute names, then `file v1 … vA` rows of 1/-1. Returns {0, 1} uint8."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read attribute file {path}: {exc}") from None
    if len(lines) < 2:
        raise DatasetError(f"{path} has {len(lines)} lines; expected a count, the attribute names, then rows")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DatasetError(f"line 1 of {path} is {lines[0][:40]!r}; expected the number of images") from None
    names = lines[1].split()
    files: list[str] = []
    values: list[list[int]] = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names) + 1:
            raise DatasetError(f"line {number} of {path} has {len(fields)} fields; expected {len(names) + 1} "
                               f"(a file name and {len(names)} attribute values)")
        try:
            row = [int(v) for v in fields[1:]]
        except ValueError:
            raise DatasetError(f"line {number} of {path} has a value that is not 1 or -1") from None
        if any(v not in (1, -1, 0) for v in row):
            raise DatasetError(f"line {number} of {path} has a value that is not 1 or -1")
        files.append(fields[0])
        values.append(row)
    if len(files) != count:
        raise DatasetError(f"{path} announces {count} images on line 1 but lists {len(files)}")
    return names, files, (torch.tensor(values, dtype=torch.int8) > 0).to(torch.uint8).reshape(-1, len(names))


def read_partition(path: Path) -> dict[str, int]:
    """CelebA's split file: `file.jpg 0|1|2` rows (0 train, 1 valid, 2 test). Returns {file name: split}."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DatasetError(f"partition file {path} does not exist; expected CelebA's {CELEBA_PARTITION}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"cannot read partition file {path}: {reason}") from None
    out = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"line {number} of {path} has {len(fields)} fields; expected 2 "
                               f"(`file.jpg 0|1|2`), got {line[:60]!r}")
        if fields[1] not in ("0", "1", "2"):
            raise DatasetError(f"line {number} of {path} gives split {fields[1][:20]!r} for {fields[0][:40]}; "
                               "expected 0 (train), 1 (valid) or 2 (test)")
        out[fields[0]] = int(fields[1])
    return out


def decode_face(path: Path, size: int, crop_square: bool) -> torch.Tensor:
    """One face as (3, size, size) uint8: centre square crop where asked, then an antialiased resize."""
    try:
        with Image.open(path) as opened:  # Pillow comes with torchvision; torchvision.io's decoders are deprecated
            image = torch.from_numpy(np.array(opened.convert("RGB"))).permute(2, 0, 1).contiguous()
    except FileNotFoundError:
        raise DatasetError(f"{path} is listed in the attribute file but does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {path}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") \
            from None
    _, h, w = image.shape
    if crop_square and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[:, top:top + side, left:left + side]
    if image.shape[1:] != (size, size):
        image = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    return image


def load_face_dataset(root: Path, split: str = "train", image_size: int = 64, limit: int | None = None,
                      ) -> ImageDataset:
    layout = detect_layout(root)
    names, files, attributes = read_attribute_file(layout.attributes)
    if layout.kind == "celeba" and layout.partition is not None:
        partition = read_partition(layout.partition)
        wanted = {"train": 0, "valid": 1, "test": 2}[split]
        keep = [i for i, f in enumerate(files) if partition.get(f) == wanted]
    else:
        n_test = max(1, round(len(files) * HQ_TEST_FRACTION))
        keep = list(range(len(files) - n_test)) if split == "train" else list(range(len(files) - n_test, len(files)))
    if limit is not None:
        keep = keep[:limit]
    if not keep:
        raise DatasetError(f"the {split} split of {layout.root} is empty")
    images = torch.stack([decode_face(layout.images / files[i], image_size, layout.kind == "celeba") for i in keep])
    return ImageDataset(
        name="celeba", split=split, images=images, labels=attributes[keep], label_names=names,
        label_kind="attributes",
        info={"layout": layout.kind, "source": str(layout.root), "crop": "centre-square" if layout.kind == "celeba"
              else "none", "resized_to": image_size},
    )
