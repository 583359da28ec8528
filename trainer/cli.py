"""`cvae-train`: the headless trainer. Bad input ends with one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from cvae.checkpoint import read_checkpoint_dict
from cvae.data import DATASETS, load_dataset
from cvae.errors import CvaeError
from cvae.models import MODELS, build_model, config_class
from trainer.callbacks import MetricsLog
from trainer.config import SCHEDULES, TrainConfig
from trainer.loop import Trainer, TrainingDiverged
from trainer.progress import ProgressBar

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_CANCELLED = 2, 3, 130
DEFAULT_EPOCHS = 10


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


def run(args, stderr=sys.stderr) -> int:
    output = Path(args.output)
    if args.resume:
        read_checkpoint_dict(output)  # fails early, with the checkpoint's own message, before data is loaded
    elif output.exists() and not args.overwrite:
        raise CvaeError(f"{output} already exists; pass --resume to continue it or --overwrite to replace it")
    if output.exists() and output.is_dir():
        raise CvaeError(f"{output} is a folder; --output must be a checkpoint file path")
    train_data = load_dataset(args.dataset, args.data_dir, "train", args.download, args.image_size, args.limit)
    test_data = load_dataset(args.dataset, args.data_dir, "test", False, args.image_size, args.test_limit)
    cancel = threading.Event()
    callbacks = [MetricsLog(MetricsLog.path_for(output))]
    if not args.quiet:
        callbacks.append(ProgressBar(stderr))
    if args.resume:
        trainer = Trainer.resume(output, train_data, test_data, callbacks, cancel, epochs=args.epochs,
                                 device=args.device)
    else:
        config = TrainConfig(epochs=args.epochs or DEFAULT_EPOCHS, batch_size=args.batch_size,
                             learning_rate=args.lr, lr_schedule=args.lr_schedule, beta=args.beta,
                             beta_warmup_epochs=args.beta_warmup, weight_decay=args.weight_decay, seed=args.seed,
                             ema_decay=args.ema, device=args.device, mixed_precision=not args.no_amp)
        model = build_model(model_config(args, train_data))
        trainer = Trainer(model, train_data, test_data, config, output, callbacks, cancel)

    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        result = trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.status == "cancelled":
        where = f"epoch {result.epoch} is saved in {output}" if result.epoch else "no epoch finished"
        print(f"cvae-train: cancelled; {where}; continue with --resume", file=stderr)
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
