"""`cvae-train`: the headless trainer. Bad input ends with one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from cvae.checkpoint import read_checkpoint_dict
from cvae.data import DATASETS, load_dataset
from cvae.device import resolve_device
from cvae.errors import CvaeError
from cvae.models import MODELS, build_model, config_class
from trainer.callbacks import MetricsLog
from trainer.config import SCHEDULES, TrainConfig
from trainer.loop import Trainer, TrainingDiverged
from trainer.progress import ProgressBar

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_CANCELLED = 2, 3, 130
DEFAULT_EPOCHS = 10
MIN_FREE_BYTES = 4_000_000  # asked of the output's disk before anything is known about the model
MB = 1_000_000


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with a pointer to --help) rather than a usage dump."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cvae-train", description="Train a (conditional) VAE, autoencoder or digit judge on labelled images.",
        epilog="example: cvae-train --dataset mnist --data-dir ../shared/data --model cvae --epochs 1 "
               "--output runs/mnist-cvae.pt")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", required=True, choices=DATASETS)
    data.add_argument("--data-dir", help="data folder (default: $CVAE_DATA_DIR)")
    data.add_argument("--download", action="store_true", help="download MNIST/Fashion-MNIST if missing")
    data.add_argument("--image-size", type=int, default=64, help="face image side in pixels (default 64)")
    data.add_argument("--limit", type=int, help="train on the first N training images only")
    data.add_argument("--test-limit", type=int, help="evaluate on the first N test images only")
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=sorted(MODELS), help="default: cvae for digits, beta-cvae for faces")
    model.add_argument("--latent-dim", type=int)
    model.add_argument("--conv-channels", help="comma-separated encoder channels, e.g. 32,64")
    model.add_argument("--hidden-dim", type=int)
    model.add_argument("--fc-layers", type=int, help="hidden fully connected layers in encoder and decoder")
    model.add_argument("--decoder-refine", type=int, help="channels of an extra full-resolution decoder conv (0: off)")
    model.add_argument("--decoder-dropout", type=float, help="dropout after the decoder's hidden layers (0: off)")
    model.add_argument("--warp", type=float, metavar="SHARE",
                       help="warp-conditioned augmentation: share of training images warped, e.g. 0.5 (0: off)")
    model.add_argument("--likelihood", choices=("bernoulli", "gaussian"))
    model.add_argument("--label-channels", action="store_true", help="cvae: label also as encoder input channels")
    model.add_argument("--label-every-layer", action="store_true", help="feed the label to every decoder layer")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, help="total epochs (default 10; with --resume: the run's own total)")
    train.add_argument("--batch-size", type=int, default=100)
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    train.add_argument("--lr-schedule", choices=SCHEDULES, default="constant")
    train.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    train.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0: Adam)")
    train.add_argument("--beta-warmup", type=float, default=0.0, metavar="EPOCHS",
                       help="ramp beta linearly from 0 over this many epochs (default 0: off)")
    train.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                       help="save an exponential moving average of the weights, e.g. 0.999 (default 0: off)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    train.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    out = parser.add_argument_group("output")
    out.add_argument("--output", "-o", required=True, help="checkpoint path (.pt); metrics go beside it")
    out.add_argument("--resume", action="store_true", help="continue the run saved at --output")
    out.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint at --output")
    out.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def model_config(args, train_data):
    family = args.model or ("beta-cvae" if train_data.label_kind == "attributes" else "cvae")
    cls = config_class(family)
    values: dict = {"image_channels": train_data.channels, "image_size": train_data.image_size}
    if family in ("cvae", "classifier"):
        if train_data.label_kind != "class":
            raise CvaeError(f"model {family} needs class labels; {train_data.name} has attributes (use beta-cvae)")
        values["num_classes"] = len(train_data.label_names)
    if family == "beta-cvae":
        if train_data.label_kind != "attributes":
            raise CvaeError(f"model beta-cvae needs attribute labels; {train_data.name} has classes (use cvae)")
        values["num_attributes"] = len(train_data.label_names)
    if args.latent_dim is not None:
        values["latent_dim"] = args.latent_dim
    if args.conv_channels:
        try:
            values["conv_channels"] = tuple(int(c) for c in args.conv_channels.split(","))
        except ValueError:
            raise CvaeError(f"--conv-channels must be comma-separated integers, got {args.conv_channels!r}") from None
    if args.hidden_dim is not None:
        values["hidden_dim"] = args.hidden_dim
    if args.fc_layers is not None:
        values["fc_layers"] = args.fc_layers
    if args.decoder_refine is not None:
        values["decoder_refine"] = args.decoder_refine
    if args.decoder_dropout is not None:
        values["decoder_dropout"] = args.decoder_dropout
    if args.warp is not None:
        values["warp_probability"] = args.warp
    if args.likelihood:
        values["likelihood"] = args.likelihood
    if args.label_channels:
        values["label_channels"] = True
    if args.label_every_layer:
        values["label_every_layer"] = True
    return cls(**values)


def check_numbers(args) -> None:
    """Options that cannot mean anything, refused by name before any data is loaded (0 is not "the default")."""
    for option, value, low in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
                               ("--limit", args.limit, 1), ("--test-limit", args.test_limit, 1),
                               ("--image-size", args.image_size, 4)):  # 4 px: the smallest any model accepts
        if value is not None and value < low:
            raise CvaeError(f"{option} must be at least {low}, got {value}")
    if not args.lr > 0 or math.isinf(args.lr):
        raise CvaeError(f"--lr must be a positive number, got {args.lr:g}")
    for option, value in (("--beta", args.beta), ("--weight-decay", args.weight_decay),
                          ("--beta-warmup", args.beta_warmup), ("--ema", args.ema), ("--warp", args.warp),
                          ("--decoder-dropout", args.decoder_dropout)):
        if value is not None and not math.isfinite(value):
            raise CvaeError(f"{option} must be a finite number, got {value:g}")
        if value is not None and value < 0:
            raise CvaeError(f"{option} must be zero or positive, got {value:g}")


def nearest_existing_folder(path: Path) -> Path:
    """`path` itself or the closest ancestor that exists (where its missing folders would be created)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_output(output: Path, resume: bool, overwrite: bool) -> dict | None:
    """Everything about --output that can be known before loading data and training: not a folder, not an
    earlier run unless asked, a folder that exists (or can be made) and takes new files, room for a checkpoint.
    Returns the checkpoint to resume, when resuming. Nothing on disk is changed."""
    if output.is_dir():
        raise CvaeError(f"--output {output} is a folder; expected a checkpoint file path such as {output / 'run.pt'}")
    resumed = None
    if resume:
        resumed = read_checkpoint_dict(output)  # fails early, with the checkpoint's own message
    elif output.exists() and not overwrite:
        raise CvaeError(f"{output} already exists; pass --resume to continue it or --overwrite to replace it")
    metrics = MetricsLog.path_for(output)
    if metrics.is_dir():
        raise CvaeError(f"--output {output}: its metrics log {metrics} is a folder; expected a file or nothing there")
    if metrics.exists() and not os.access(metrics, os.W_OK):
        raise CvaeError(f"--output {output}: its metrics log {metrics} is read-only; expected a writable file")
    folder = nearest_existing_folder(output.parent)
    if not folder.is_dir():
        raise CvaeError(f"--output {output}: {folder} is a file, not a folder; expected a folder to hold the "
                        "checkpoint")
    try:  # os.access says yes for /sys and /proc, and for root almost anywhere: only trying tells
        handle, probe = tempfile.mkstemp(prefix=".cvae-train-", suffix=".probe", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise CvaeError(f"--output {output}: cannot create files in {folder} ({exc.strerror or exc}); expected a "
                        "writable folder") from None
    needed = MIN_FREE_BYTES + (output.stat().st_size if resume else 0)  # written beside the old file, then renamed
    check_room(output, folder, needed, "at least")
    return resumed


def check_room(output: Path, folder: Path, needed: int, how: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CvaeError(f"--output {output}: only {free / MB:.1f} MB free in {folder}; a checkpoint of this run "
                        f"needs {how} {math.ceil(needed / MB)} MB")


def checkpoint_size(model, config: TrainConfig, test_images: int) -> int:
    """About what a training checkpoint of `model` takes: float32 weights, Adam's two moments, the live weights
    beside an EMA, the final epoch's half-precision test encodings, and some room for the rest."""
    parameters = sum(p.numel() for p in model.parameters())
    copies = 3 + (1 if config.ema_decay else 0)
    encodings = test_images * (getattr(model, "latent_dim", 0) or 0) * 2 + test_images * 8
    return parameters * 4 * copies + encodings + MB


def run(args, stderr=None) -> int:
    stderr = stderr or sys.stderr  # looked up now, so a redirected sys.stderr is honoured
    check_numbers(args)
    output = Path(args.output)
    existed = output.exists()
    resumed = check_output(output, args.resume, args.overwrite)
    resolve_device(args.device)  # an unusable --device is reported before minutes of loading
    if resumed is not None:
        done = int(resumed.get("epoch") or 0)
        total = args.epochs if args.epochs is not None else int((resumed.get("train_config") or {}).get("epochs", 0))
        if args.epochs is not None and args.epochs < done:
            raise CvaeError(f"--epochs {args.epochs} is fewer than the {done} epochs {output} has already trained; "
                            f"give more than {done} to continue it")
        if done and total == done:
            if not args.quiet:
                print(f"{output} already has all {done} epochs; nothing to train (give a larger --epochs to "
                      "continue it)", file=stderr)
            return 0
        config = None
    else:
        config = TrainConfig(epochs=args.epochs if args.epochs is not None else DEFAULT_EPOCHS,
                             batch_size=args.batch_size, learning_rate=args.lr, lr_schedule=args.lr_schedule,
                             beta=args.beta, beta_warmup_epochs=args.beta_warmup, weight_decay=args.weight_decay,
                             seed=args.seed, ema_decay=args.ema, device=args.device, mixed_precision=not args.no_amp)
    train_data = load_dataset(args.dataset, args.data_dir, "train", args.download, args.image_size, args.limit)
    test_data = load_dataset(args.dataset, args.data_dir, "test", False, args.image_size, args.test_limit)
    cancel = threading.Event()
    callbacks = [MetricsLog(MetricsLog.path_for(output))]
    bar = None if args.quiet else ProgressBar(stderr)
    if bar is not None:
        callbacks.append(bar)
    if config is None:
        trainer = Trainer.resume(output, train_data, test_data, callbacks, cancel, epochs=args.epochs,
                                 device=args.device)
    else:
        model = build_model(model_config(args, train_data))
        check_room(output, nearest_existing_folder(output.parent),
                   checkpoint_size(model, config, len(test_data)), "about")
        trainer = Trainer(model, train_data, test_data, config, output, callbacks, cancel)

    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        result = trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()  # an error or a cancel mid-epoch must not print after a half-drawn bar
    if result.status == "cancelled":
        if result.epoch:
            print(f"cvae-train: cancelled; epoch {result.epoch} is saved in {output}; continue with --resume",
                  file=stderr)
        else:
            kept = f"{output} was not touched" if existed else "nothing was saved"
            print(f"cvae-train: cancelled before the first epoch finished; {kept}", file=stderr)
        return EXIT_CANCELLED
    if not args.quiet:
        print(f"saved {output} (epoch {result.epoch}); metrics in {MetricsLog.path_for(output)}", file=stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except TrainingDiverged as exc:
        print(f"cvae-train: error: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except CvaeError as exc:
        print(f"cvae-train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
