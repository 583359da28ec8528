"""What the loop and the jobs report: subclass TrainingCallback and override what you need (CLI bar, GUI signals,
logs); a CallbackList holds a run's callbacks and forwards each event to each of them (pythae's CallbackHandler is
the model), so neither the loop nor a job loops over callbacks itself. RunStatus is the one vocabulary for how a
run ended (finished, cancelled, diverged, failed), used by the loop, the jobs, the CLI and the panels."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Iterable

import torch


class RunStatus(StrEnum):
    """How a training run or a job ended. A StrEnum: it compares, prints and serialises as its word."""

    FINISHED = "finished"    # every epoch (or every metric) done
    CANCELLED = "cancelled"  # the cancel flag stopped it; what was saved is kept
    DIVERGED = "diverged"    # a NaN/Inf loss stopped it with the last good checkpoint (training only)
    FAILED = "failed"        # an error (bad input, a missing file, a bug) stopped it; its message says which


FINISHED, CANCELLED, DIVERGED, FAILED = (RunStatus.FINISHED, RunStatus.CANCELLED, RunStatus.DIVERGED,
                                         RunStatus.FAILED)


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

    def on_progress(self, done: int, total: int, what: str) -> None:
        """An evaluation's progress: `done` of `total` images of the current step (`what`)."""


class CallbackList(TrainingCallback):
    """The callbacks of a run as one callback: each event goes to each of them, in order. A callback may be any
    object with some of the `on_*` methods (an evaluation's progress object has two). `forward_end=False` keeps
    `on_end` back: a job's callbacks hear one `on_end(JobResult)` from the job, not the loop's TrainResult."""

    def __init__(self, callbacks: Iterable = (), forward_end: bool = True):
        self.callbacks = list(callbacks)
        self.forward_end = forward_end

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def append(self, callback) -> None:
        self.callbacks.append(callback)

    def _call(self, event: str, *args) -> None:
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(*args)

    def on_start(self, trainer) -> None:
        self._call("on_start", trainer)

    def on_batch(self, progress: BatchProgress) -> None:
        self._call("on_batch", progress)

    def on_phase(self, phase: str, images: int | None = None) -> None:
        self._call("on_phase", *((phase,) if images is None else (phase, images)))

    def on_epoch(self, record: dict) -> None:
        self._call("on_epoch", record)

    def on_samples(self, epoch: int, images: torch.Tensor) -> None:
        self._call("on_samples", epoch, images)

    def on_checkpoint(self, path: Path, epoch: int) -> None:
        self._call("on_checkpoint", path, epoch)

    def on_progress(self, done: int, total: int, what: str) -> None:
        self._call("on_progress", done, total, what)

    def on_end(self, result) -> None:
        if self.forward_end:
            self._call("on_end", result)


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
