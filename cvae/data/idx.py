"""MNIST and Fashion-MNIST from torchvision's IDX files, gzipped or extracted, read straight into tensors."""

from __future__ import annotations

import gzip
import struct
import zlib
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
IDX_KINDS = {3: "images: count, height, width", 1: "labels: one per image"}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
              0x0E: np.dtype(">f8")}


def read_idx(path: Path, rank: int | None = None) -> np.ndarray:
    """Parse one IDX file (optionally .gz): a big-endian magic with the type and rank, the sizes, then raw data.
    `rank` (3 for images, 1 for labels) is what the caller expects; another is reported with the magic number."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except EOFError:
        raise DatasetError(f"{path} is truncated: its gzip stream ends before its end marker; expected a complete "
                           "file (download it again)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"{path} is not a readable gzip file ({str(exc).splitlines()[0][:80]}); expected "
                           "torchvision's gzipped IDX file, or the extracted file without .gz") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    wanted = f"0x{0x0800 | rank:08x} ({IDX_KINDS.get(rank, f'rank {rank}')})" if rank else "0x000008NN"
    if len(raw) < 4:
        raise DatasetError(f"{path} is not an IDX file (bad magic number): it holds only {len(raw)} bytes; expected "
                           f"the magic number {wanted} of torchvision's MNIST format")
    magic = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number 0x{magic:08x}); expected {wanted} of "
                           "torchvision's MNIST format")
    if rank is not None and raw[3] != rank:
        found = IDX_KINDS.get(raw[3], f"rank {raw[3]}")
        raise DatasetError(f"{path} has the IDX magic number 0x{magic:08x} ({found}); expected {wanted}")
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
            f"expected torchvision's layout <data>/{folder}/raw/*-idx?-ubyte[.gz] (cvae-train --download fetches it)")
    images = read_idx(image_path, rank=3)
    labels = read_idx(label_path, rank=1)
    if images.dtype != np.uint8:
        raise DatasetError(f"{image_path} holds {images.dtype.name} values; expected unsigned bytes (IDX type 0x08)")
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{label_path} has {labels.shape[0]} labels but {image_path} has {images.shape[0]} "
                           "images; expected one label per image")
    out_of_range = np.flatnonzero((labels < 0) | (labels >= len(class_names)))
    if out_of_range.size:
        first = int(out_of_range[0])
        raise DatasetError(f"{label_path} has label {int(labels[first])} at position {first} ({out_of_range.size} "
                           f"out of range in all); expected 0..{len(class_names) - 1}")
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
