"""What the loop reports: subclass TrainingCallback and override what you need (CLI bar, GUI signals, logs)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class BatchProgress:
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch
    batches: int
    loss: float | None  # None where reading it would stall a GPU pipeline
    images_per_second: float
    elapsed: float  # seconds since this run started
    eta: float  # seconds left in the whole run, from this run's speed


class TrainingCallback:
    def on_start(self, trainer) -> None: ...

    def on_batch(self, progress: BatchProgress) -> None: ...

    def on_epoch(self, record: dict) -> None: ...

    def on_samples(self, epoch: int, images: torch.Tensor) -> None: ...

    def on_checkpoint(self, path: Path, epoch: int) -> None: ...

    def on_end(self, result) -> None: ...


class MetricsLog(TrainingCallback):
    """One JSON line per epoch next to the checkpoint; on resume it is rewritten from the checkpoint's history,
    so lines from epochs that were lost (after the last checkpoint) never linger."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @staticmethod
    def path_for(checkpoint: str | os.PathLike) -> Path:
        checkpoint = Path(checkpoint)
        return checkpoint.with_name(checkpoint.stem + ".metrics.jsonl")

    def on_start(self, trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as out:
            for record in trainer.history:
                out.write(json.dumps(record) + "\n")

    def on_epoch(self, record: dict) -> None:
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\n")
