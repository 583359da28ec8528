"""One run preparation for `cvae-train` and the Train panel's job: `prepare_run(spec)` checks the output, the
device and the batch size, loads the data, then seeds and builds the model (or resumes the run at the output)
and returns a ready Trainer. Both go through it, so a Train-panel run and `cvae-train` with the same options
start from the same initial weights and refuse the same outputs; only the words differ (`Wording`: the CLI
names its options, the panel its controls).

Order, so that nothing slow happens before what can be refused fast: the output (not a folder, not an
earlier run unless asked, a folder that takes new files, its metrics log writable, room on its disk), the
device, the epochs and batch size, then the data, then the model and the room its checkpoint needs.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from cvae.checkpoint import read_checkpoint_dict
from cvae.data import ImageDataset, load_dataset
from cvae.errors import ConfigError, OutputWriteError, ResourceError
from cvae.models import build_model
from cvae.models.for_data import config_for_data, default_family
from trainer import distributed
from trainer.callbacks import MetricsLog, TrainingCallback
from trainer.config import TrainConfig
from trainer.jobs import TrainSpec
from trainer.loop import Trainer

MIN_FREE_BYTES = 4_000_000  # asked of the output's disk before anything is known about the model
MB = 1_000_000


@dataclass(frozen=True)
class Wording:
    """How the messages name what the user set: cvae-train's options or the Train panel's controls."""

    output: str        # introduces the output path: "--output runs/x.pt is a folder"
    exists: str        # what to do about an existing file at the output
    epochs: str        # the epoch total's name
    more_epochs: str   # how to ask for more epochs than {done}
    other_data: str    # how to resume on other data anyway


CLI_WORDS = Wording("--output", "pass --resume to continue it or --overwrite to replace it", "--epochs",
                    "give --epochs larger than {done}", "pass --resume-other-data")
PANEL_WORDS = Wording("the output", "resume it or choose to overwrite it", "Epochs", "set Epochs to more than {done}",
                      "tick “Resume on other data”")


@dataclass
class PreparedRun:
    """What `prepare_run` made: the trainer (None when a resumed run has nothing left to train: `note` says so),
    the data it loaded, the checkpoint dictionary it resumes (None for a new run), and whether a file was at the
    output before (a cancel before the first epoch ends leaves it untouched)."""

    trainer: Trainer | None
    train_data: ImageDataset | None = None
    test_data: ImageDataset | None = None
    resumed: dict | None = None
    existed: bool = False
    note: str = ""


def prepare_run(spec: TrainSpec, callbacks: Iterable[TrainingCallback] = (), cancel=None,
                words: Wording = PANEL_WORDS, world: distributed.World | None = None) -> PreparedRun:
    """Checks, then data, then seed and model (or the resumed run): a Trainer ready to `run()`. Bad input is a
    CvaeError with one line naming what is wrong; nothing on disk is changed before the trainer runs."""
    world = world or distributed.World.from_env()
    output = spec.output
    existed = output.exists()
    resumed = check_output(output, spec.resume, spec.overwrite, words)
    device = spec.train.get("device")
    distributed.training_device(device or "auto", world)  # an unusable device is reported before loading
    epochs = spec.train.get("epochs")
    config = None
    if resumed is not None:
        done = int(resumed.get("epoch") or 0)
        saved_config = resumed.get("train_config") or {}
        if epochs is not None and spec.epochs_at_least:
            epochs = max(int(epochs), int(saved_config.get("epochs", 0)))
        if epochs is not None:
            check_more_epochs(output, int(epochs), done, (resumed.get("training_state") or {}).get("partial"), words)
        elif done and int(saved_config.get("epochs", 0)) == done:
            return PreparedRun(None, resumed=resumed, existed=existed,
                               note=f"{output} already has all {done} epochs; nothing to train (give a larger "
                                    f"{words.epochs} to continue it)")
        distributed.check_batch_size(int(saved_config.get("batch_size", TrainConfig.default_of("batch_size"))),
                                     world, f"the batch size of {output}")
    else:
        config = TrainConfig(**spec.train)  # bad values fail before loading data
        distributed.check_batch_size(config.batch_size, world)
    train_data = load_dataset(spec.dataset, spec.data_dir, "train", spec.download, spec.image_size, spec.limit)
    test_data = load_dataset(spec.dataset, spec.data_dir, "test", False, spec.image_size, spec.test_limit)
    if config is None:
        trainer = Trainer.resume(output, train_data, test_data, callbacks, cancel, epochs=epochs,
                                 device=device or "auto", other_data=spec.resume_other_data,
                                 other_data_hint=words.other_data)
    else:
        family = spec.family or default_family(train_data)
        torch.manual_seed(config.seed)  # the initial weights follow the seed (several processes: process 0's)
        model = build_model(config_for_data(family, train_data, **spec.model))
        check_room(output, nearest_existing_folder(output.parent), checkpoint_size(model, len(test_data)), "about",
                   words)
        trainer = Trainer(model, train_data, test_data, config, output, callbacks, cancel)
    return PreparedRun(trainer, train_data, test_data, resumed, existed)


def check_more_epochs(output: Path, epochs: int, done: int, partial: dict | None, words: Wording) -> None:
    """A resume asked for `epochs` in all must train at least one more than the `done` already trained (a
    part-way epoch after them is kept for a larger total, never dropped)."""
    if epochs > done:
        return
    batches = int(partial.get("batches_done") or 0) if partial else 0
    trained = (f"{done} epoch{'' if done == 1 else 's'}"
               + (f" and {batches} batch{'' if batches == 1 else 'es'} of epoch {done + 1}" if batches else ""))
    asked = (f"{words.epochs} {epochs} is fewer than the {trained} {output} has already trained" if epochs < done
             else f"{output} has already trained {trained}")
    raise ConfigError(f"{asked}; {words.more_epochs.format(done=done)} to train more")


def nearest_existing_folder(path: Path) -> Path:
    """`path` itself or the closest ancestor that exists (where its missing folders would be created)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_output(output: Path, resume: bool, overwrite: bool, words: Wording = PANEL_WORDS) -> dict | None:
    """Everything about the output that can be known before loading data and training: not a folder, not an
    earlier run unless asked, a folder that exists (or can be made) and takes new files, a writable metrics log,
    room for a checkpoint. Returns the checkpoint to resume, when resuming. Nothing on disk is changed."""
    named = f"{words.output} {output}"
    if output.is_dir():
        raise ConfigError(f"{named} is a folder; expected a checkpoint file path such as {output / 'run.pt'}")
    resumed = None
    if resume:
        if not output.exists():
            raise ConfigError(f"there is no run at {output} to resume ({output}: no such checkpoint file)")
        resumed = read_checkpoint_dict(output)  # fails early, with the checkpoint's own message
    elif output.exists() and not overwrite:
        raise ConfigError(f"{output} already exists; {words.exists}")
    metrics = MetricsLog.path_for(output)
    if metrics.is_dir():
        raise OutputWriteError(f"{named}: its metrics log {metrics} is a folder; expected a file or nothing there")
    if metrics.exists() and not os.access(metrics, os.W_OK):
        raise OutputWriteError(f"{named}: its metrics log {metrics} is read-only; expected a writable file")
    folder = nearest_existing_folder(output.parent)
    if not folder.is_dir():
        raise OutputWriteError(f"{named}: {folder} is a file, not a folder; expected a folder to hold the checkpoint")
    try:  # os.access says yes for /sys and /proc, and for root almost anywhere: only trying tells
        # an unnamed file where the system has them (O_TMPFILE): a process killed right here leaves nothing behind
        with tempfile.TemporaryFile(prefix=".cvae-train-", suffix=".probe", dir=folder):
            pass
    except OSError as exc:
        raise OutputWriteError(f"{named}: cannot create files in {folder} ({exc.strerror or exc}); expected a "
                               "writable folder") from None
    needed = MIN_FREE_BYTES + (output.stat().st_size if resume else 0)  # written beside the old file, then renamed
    check_room(output, folder, needed, "at least", words)
    return resumed


def check_room(output: Path, folder: Path, needed: int, how: str, words: Wording = PANEL_WORDS) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ResourceError(f"{words.output} {output}: only {free / MB:.1f} MB free in {folder}; a checkpoint of this "
                            f"run needs {how} {math.ceil(needed / MB)} MB")


def checkpoint_size(model, test_images: int) -> int:
    """About what a training checkpoint of `model` takes: float32 weights, Adam's two moments, the final epoch's
    half-precision test encodings, and some room for the rest."""
    parameters = sum(p.numel() for p in model.parameters())
    copies = 3
    encodings = test_images * (getattr(model, "latent_dim", 0) or 0) * 2 + test_images * 8
    return parameters * 4 * copies + encodings + MB
