"""An in-memory labelled image set: decoded once into uint8 tensors, batched by indexing, never re-read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator

import torch

from cvae.errors import DatasetError


@dataclass
class ImageDataset:
    """`images` is (N, C, H, W) uint8; `labels` is (N,) int64 class indices or (N, A) uint8 {0, 1} attributes."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    label_names: list[str]
    label_kind: str  # "class" or "attributes"
    info: dict = field(default_factory=dict)  # preprocessing facts saved with checkpoints (crop, source size)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DatasetError(f"the {self.name} {self.split} images must be an (N, C, H, W) uint8 tensor, got "
                               f"{self.images.dtype} of shape {tuple(self.images.shape)}")
        if self.labels.shape[0] != self.images.shape[0]:
            raise DatasetError(f"the {self.name} {self.split} set has {self.labels.shape[0]} labels for "
                               f"{self.images.shape[0]} images; expected one label (row) per image")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.images.shape[2], self.images.shape[3])

    def __getitem__(self, index):
        return self.images[index].float().div_(255), self.labels[index]

    def subset(self, count: int) -> "ImageDataset":
        """The first `count` items (for quick runs and tests)."""
        return ImageDataset(self.name, self.split, self.images[:count], self.labels[:count], self.label_names,
                            self.label_kind, dict(self.info))

    def to(self, device: torch.device | str) -> "ImageDataset":
        """Keep the whole set resident on the training device (on a GPU the loader is the bottleneck)."""
        return ImageDataset(self.name, self.split, self.images.to(device), self.labels.to(device), self.label_names,
                            self.label_kind, dict(self.info))

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Float batches in [0, 1] with their labels, by indexing the resident tensors."""
        n = len(self)
        order = torch.randperm(n, generator=generator).to(self.images.device) if shuffle else None
        for start in range(0, n, batch_size):
            if order is None:
                images, labels = self.images[start:start + batch_size], self.labels[start:start + batch_size]
            else:
                index = order[start:start + batch_size]
                images, labels = self.images[index], self.labels[index]
            yield images.float().div_(255), labels

    def describe(self) -> dict:
        """What a checkpoint records about its data: name, split, image count and shape, label kind, the loader's
        facts (folder, layout, crop, the limit asked for) and `fingerprint()`, by which a resume tells whether it
        continues on the data the run was trained on (`data_changes`)."""
        return {
            "name": self.name, "split": self.split, "count": len(self), "channels": self.channels,
            "image_size": list(self.image_size), "label_kind": self.label_kind, **self.info,
            "fingerprint": self.fingerprint(),
        }

    def fingerprint(self) -> str:
        """sha256 (hex) of the labels' bytes, their dtype and shape, and the images' shape: the same for the same
        images in the same order wherever the folder lives, different for another limit, split or data set (or
        another image size). The pixels are not read (hashing 200,000 faces would take longer than a short run);
        two sets with the same labels in the same order and the same shapes share a fingerprint."""
        labels = self.labels.detach().cpu().contiguous()
        digest = hashlib.sha256(f"{labels.dtype}{tuple(labels.shape)}{tuple(self.images.shape)}".encode())
        digest.update(labels.numpy().tobytes())
        return digest.hexdigest()


# the description's entries that say which data it is (the folder it was read from does not: data may move)
IDENTITY = ("name", "split", "layout", "crop", "resized_to", "channels", "image_size", "count", "fingerprint")


def data_summary(description: dict) -> str:
    """ "15,000 mnist train images (labels 1f0e3dad…)": a `describe()` result in a few words."""
    count = description.get("count")
    shown = f"{count:,}" if isinstance(count, int) else "?"
    labels = f" (labels {description['fingerprint'][:8]}…)" if description.get("fingerprint") else ""
    return f"{shown} {description.get('name', '?')} {description.get('split', '?')} images{labels}"


def data_changes(saved: dict, now: dict) -> list[str]:
    """How the data `now` describes differs from the data `saved` describes (two `describe()` results), as
    phrases that follow "the data now selected …" ("has 3,000", "is fashion-mnist", "has other labels (…)");
    empty when it is the same data. A description without a fingerprint (a checkpoint written before they were
    recorded) allows no check: empty too."""
    if not saved.get("fingerprint") or not now.get("fingerprint"):
        return []
    changes = []
    for key in IDENTITY:
        was, is_ = saved.get(key), now.get(key)
        if key == "fingerprint" or was == is_ or (was is None and key not in ("name", "split", "count")):
            continue
        if key == "count":
            changes.append(f"has {is_:,}" if isinstance(is_, int) else f"has {is_}")
        elif key in ("name", "split"):
            changes.append(f"is {'the ' + str(is_) + ' split' if key == 'split' else is_}")
        elif key == "image_size":
            changes.append(f"is {'×'.join(str(v) for v in is_ or ())} pixels")
        else:
            changes.append(f"has {key.replace('_', ' ')} {is_} (was {was})")
    if not changes and saved["fingerprint"] != now["fingerprint"]:
        changes.append(f"has other labels ({now['fingerprint'][:8]}…)")
    return changes
