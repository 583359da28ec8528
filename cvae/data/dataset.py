"""An in-memory labelled image set: decoded once into uint8 tensors, batched by indexing, never re-read."""

from __future__ import annotations

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
        """What a checkpoint records about its data."""
        return {
            "name": self.name, "split": self.split, "count": len(self), "channels": self.channels,
            "image_size": list(self.image_size), "label_kind": self.label_kind, **self.info,
        }
