"""Progress for `cvae-train`: a bar redrawn in place on a TTY; plain lines every few seconds otherwise."""

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


def render_line(progress: BatchProgress) -> str:
    """The same facts as the bar, as one plain line for a log file."""
    parts = [f"epoch {progress.epoch}/{progress.epochs}", f"batch {progress.batch}/{progress.batches}"]
    if progress.loss is not None:
        parts.append(f"loss {progress.loss:.2f}")
    parts += [f"{progress.images_per_second:.0f} img/s", f"ETA {format_seconds(progress.eta)}"]
    return "  ".join(parts)


def describe_phase(phase: str, images: int | None = None) -> str:
    if phase == "evaluating":
        return f"evaluating on {images} test images ..."
    if phase == "encoding":
        return f"encoding the {images} test images for the latent map ..."
    if phase == "saving":
        return "saving checkpoint ..."
    return f"{phase} ..."


class ProgressBar(TrainingCallback):
    """On a TTY: a bar redrawn at most every `interval` seconds, replaced by what the loop is doing after the
    last batch (evaluating, saving), and one line per epoch. Elsewhere (a log file, a notebook, CI): a plain
    progress line every `log_interval` seconds, a line per phase and one per epoch."""

    def __init__(self, stream=None, interval: float = 0.2, log_interval: float = 10.0):
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self.log_interval = log_interval
        self._last_draw = 0.0
        self._last_line = time.monotonic()  # when a line was last written (not on a TTY)
        self._last: BatchProgress | None = None
        self._open = False  # on a TTY: something is drawn on a line that has not been ended

    def on_start(self, trainer) -> None:
        self._last_line = time.monotonic()

    def on_batch(self, progress: BatchProgress) -> None:
        self._last = progress
        now = time.monotonic()
        if self.interactive:
            if now - self._last_draw >= self.interval or progress.batch == progress.batches:
                self._draw(render_bar(progress))
                self._last_draw = now
        elif now - self._last_line >= self.log_interval:
            self._line(render_line(progress))

    def on_phase(self, phase: str, images: int | None = None) -> None:
        text = describe_phase(phase, images)
        if self._last is not None:
            text = f"epoch {self._last.epoch}/{self._last.epochs} {text}"
        if self.interactive:
            self._draw(text)
        else:
            self._line(text)

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
        self._line(prefix + "  ".join(parts))

    def on_end(self, result) -> None:
        self.close()

    def close(self) -> None:
        """End a bar left mid-line (cancelled, or an error), so whatever is printed next starts on its own line."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def _draw(self, text: str) -> None:
        self.stream.write("\r" + text + "\033[K")
        self.stream.flush()
        self._open = True

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self._open = False
        self._last_line = time.monotonic()
