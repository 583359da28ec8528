"""A terminal progress bar for `cvae-train`: redrawn in place on a TTY, one line per epoch otherwise."""

from __future__ import annotations

import sys
import time

from trainer.callbacks import BatchProgress, TrainingCallback


def format_seconds(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render_bar(progress: BatchProgress, width: int = 24) -> str:
    filled = int(width * progress.batch / max(progress.batches, 1))
    loss = f"loss {progress.loss:8.2f}" if progress.loss is not None else ""
    return (f"epoch {progress.epoch}/{progress.epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"{progress.batch}/{progress.batches} {loss} {progress.images_per_second:7.0f} img/s "
            f"ETA {format_seconds(progress.eta)}")


class ProgressBar(TrainingCallback):
    def __init__(self, stream=None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self._last_draw = 0.0
        self._last: BatchProgress | None = None

    def on_batch(self, progress: BatchProgress) -> None:
        self._last = progress
        now = time.monotonic()
        if self.interactive and (now - self._last_draw >= self.interval or progress.batch == progress.batches):
            self.stream.write("\r" + render_bar(progress) + "\033[K")
            self.stream.flush()
            self._last_draw = now

    def on_epoch(self, record: dict) -> None:
        parts = [f"epoch {record['epoch']}"]
        for key in ("train_loss", "train_nelbo", "test_nelbo", "train_accuracy", "test_accuracy"):
            if key in record:
                value = record[key]
                parts.append(f"{key} {value:.4f}" if "accuracy" in key else f"{key} {value:.2f}")
        parts.append(f"{record['images_per_second']:.0f} img/s")
        if self._last is not None:
            parts.append(f"ETA {format_seconds(self._last.eta)}")
        prefix = "\r\033[K" if self.interactive else ""
        self.stream.write(prefix + "  ".join(parts) + "\n")
        self.stream.flush()
