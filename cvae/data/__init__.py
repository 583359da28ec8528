"""Dataset adapters: every loader returns an ImageDataset of uint8 tensors, decoded once (faces: into a
memory-mapped cache file that later loads map, see cvae.data.cache)."""

from __future__ import annotations

import os
from pathlib import Path

from cvae.data.cache import CACHE_ENV, resolve_cache_dir
from cvae.data.dataset import ImageDataset, data_changes, data_summary
from cvae.data.faces import load_face_dataset
from cvae.data.idx import IDX_DATASETS, load_idx_dataset
from cvae.errors import DatasetError

DATASETS = ("mnist", "fashion-mnist", "celeba")
DATA_DIR_ENV = "CVAE_DATA_DIR"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The option wins, then $CVAE_DATA_DIR; the folder must exist."""
    chosen = data_dir if data_dir else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise DatasetError(f"no data folder given: pass --data-dir or set {DATA_DIR_ENV}")
    path = Path(chosen).expanduser()
    if path.exists() and not path.is_dir():
        raise DatasetError(f"data folder {path} is a file, not a folder; expected the folder that holds the data "
                           "sets (MNIST/, celebahq64/, ...)")
    if not path.is_dir():
        raise DatasetError(f"data folder {path} does not exist or is not a folder")
    return path


def load_dataset(name: str, data_dir: str | os.PathLike | None, split: str = "train", download: bool = False,
                 image_size: int | None = None, limit: int | None = None,
                 cache_dir: str | os.PathLike | bool | None = None) -> ImageDataset:
    """The `split` of data set `name` from the data folder (`data_dir`, else $CVAE_DATA_DIR).

    Faces are decoded once into a memory-mapped cache in `cache_dir` (default $CVAE_CACHE_DIR, else
    ~/.cache/cvae-explorer/data; False or $CVAE_CACHE_DIR=off: decode into memory every time). MNIST-style IDX
    files are read straight into memory: they hold raw pixels, so there is nothing to decode."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r}; expected train or test")
    if download and name in IDX_DATASETS:
        root = Path(data_dir or os.environ.get(DATA_DIR_ENV) or ".").expanduser()
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = resolve_data_dir(data_dir)
    if name in IDX_DATASETS:
        data = load_idx_dataset(name, root, split, download)
        data = data.subset(limit) if limit is not None else data
    elif download:
        raise DatasetError("CelebA cannot be downloaded automatically; place it under the data folder")
    else:
        data = load_face_dataset(root, split, image_size or 64, limit, cache_dir=cache_dir)
    if limit is not None:  # recorded with the run (describe()): the count alone does not say a limit was asked
        data.info["limit"] = limit
    return data


__all__ = ["ImageDataset", "CACHE_ENV", "DATASETS", "DATA_DIR_ENV", "data_changes", "data_summary", "load_dataset",
           "resolve_cache_dir", "resolve_data_dir"]
