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

    def on_phase(self, phase: str, images: int | None = None) -> None:
        """Between an epoch's last batch and its `on_epoch`: `phase` is "evaluating" (the held-out loss over
        `images` test images), "encoding" (the test set's latent means, final epoch only) or "saving" (writing
        the checkpoint). Nothing else reports during these steps, which can take a while on a large test set."""

    def on_epoch(self, record: dict) -> None: ...

    def on_samples(self, epoch: int, images: torch.Tensor) -> None: ...

    def on_checkpoint(self, path: Path, epoch: int) -> None: ...

    def on_end(self, result) -> None: ...


class MetricsLog(TrainingCallback):
    """One JSON line per epoch next to the checkpoint; on resume it is rewritten from the checkpoint's history,
    so lines from epochs that were lost (after the last checkpoint) never linger.

    A new run creates (or replaces) the file only when its first epoch ends, together with that epoch's
    checkpoint: a run that fails or is cancelled before then leaves no empty log, and leaves an earlier run's
    log at the same path untouched."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._started = False  # whether this run has written the file yet

    @staticmethod
    def path_for(checkpoint: str | os.PathLike) -> Path:
        checkpoint = Path(checkpoint)
        return checkpoint.with_name(checkpoint.stem + ".metrics.jsonl")

    def on_start(self, trainer) -> None:
        self._started = False
        if trainer.history:
            self._write(trainer.history, "w")

    def on_epoch(self, record: dict) -> None:
        self._write([record], "a" if self._started else "w")

    def _write(self, records: list[dict], mode: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, mode) as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
        self._started = True
