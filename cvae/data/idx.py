"""MNIST and Fashion-MNIST from torchvision's IDX files, gzipped or extracted, read straight into tensors."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from cvae.data.dataset import ImageDataset
from cvae.errors import DatasetError

IDX_DATASETS = {
    # name: (torchvision folder, class names)
    "mnist": ("MNIST", [str(d) for d in range(10)]),
    "fashion-mnist": ("FashionMNIST", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                       "Sneaker", "Bag", "Ankle boot"]),
}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
              0x0E: np.dtype(">f8")}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally .gz): a big-endian magic with the type and rank, the sizes, then raw data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number); expected torchvision's MNIST format")
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: its IDX header is incomplete")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header < expected:
        raise DatasetError(f"{path} is truncated: its header promises {shape} but the data holds "
                           f"{len(raw) - header} of {expected} bytes")
    return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=header).reshape(shape)


def idx_candidates(root: Path, folder: str) -> list[Path]:
    """Folders where the files may be: torchvision's `<root>/<folder>/raw`, or given directly."""
    return [root / folder / "raw", root / "raw", root, root / folder]


def find_idx_file(root: Path, folder: str, stem: str) -> Path | None:
    for directory in idx_candidates(root, folder):
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def load_idx_dataset(name: str, root: Path, split: str = "train", download: bool = False) -> ImageDataset:
    folder, class_names = IDX_DATASETS[name]
    prefix = SPLIT_PREFIX[split]
    image_stem, label_stem = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    image_path, label_path = find_idx_file(root, folder, image_stem), find_idx_file(root, folder, label_stem)
    if (image_path is None or label_path is None) and download:
        _download(name, root)
        image_path, label_path = find_idx_file(root, folder, image_stem), find_idx_file(root, folder, label_stem)
    if image_path is None or label_path is None:
        missing = image_stem if image_path is None else label_stem
        raise DatasetError(
            f"{name}: no {missing}[.gz] under {root} (looked in {root / folder / 'raw'} and {root}); "
            f"expected torchvision's layout <data>/{folder}/raw/*-idx?-ubyte[.gz], or pass --download")
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3:
        raise DatasetError(f"{image_path} holds an array of shape {images.shape}; expected (count, height, width)")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{label_path} holds {labels.shape} labels for {images.shape[0]} images in {image_path}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DatasetError(f"{label_path} has labels outside 0..{len(class_names) - 1}")
    return ImageDataset(
        name=name, split=split,
        images=torch.from_numpy(np.array(images, dtype=np.uint8)).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
        label_names=list(class_names), label_kind="class",
        info={"source": str(image_path.parent)},
    )


def _download(name: str, root: Path) -> None:
    """Only on request: torchvision's own downloader writes `<root>/<folder>/raw`."""
    import torchvision.datasets as tvd

    cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types; the message is what matters
        raise DatasetError(f"downloading {name} into {root} failed: {exc}") from None
