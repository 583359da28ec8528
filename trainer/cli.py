"""`cvae-train`: the headless trainer. Bad input ends with one line on stderr and a non-zero exit. The run is
prepared (output checks, seed, data, model or resume) by trainer.runs.prepare_run, as the Train panel's job
prepares its own.

The same command runs under `torchrun` (see trainer.distributed): every process runs it, process 0 alone
writes the checkpoint, the metrics log and the progress output. SIGINT (Ctrl-C) and SIGTERM (what a batch
scheduler sends before a time limit) finish the current batch, save, and exit with 130 and 143.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

from cvae.data import DATASETS
from cvae.errors import ConfigError, CvaeError
from cvae.models import MODELS, config_class
from cvae.options import cli_name
from trainer import distributed
from trainer.callbacks import CANCELLED, MetricsLog
from trainer.config import TrainConfig
from trainer.loop import TrainingDiverged
from trainer.progress import ProgressBar
from trainer.jobs import TrainSpec
from trainer.runs import CLI_WORDS, prepare_run

EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_CANCELLED, EXIT_TERMINATED = 2, 3, 130, 143  # 128 + SIGINT, 128 + SIGTERM
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with a pointer to --help) rather than a usage dump."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


MODEL_CONFIGS = tuple(config_class(family) for family in MODELS)  # every family's options, each listed once


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
    model = parser.add_argument_group("model (defaults depend on the family)")
    model.add_argument("--model", choices=sorted(MODELS), help="default: cvae for digits, beta-cvae for faces")
    add_config_options(model, MODEL_CONFIGS)
    add_config_options(parser.add_argument_group("training"), (TrainConfig,))
    out = parser.add_argument_group("output")
    out.add_argument("--output", "-o", required=True, help="checkpoint path (.pt); metrics go beside it")
    out.add_argument("--resume", action="store_true", help="continue the run saved at --output")
    out.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint at --output")
    out.add_argument("--resume-other-data", action="store_true",
                     help="with --resume: continue on training data other than the run's own (another --limit, "
                          "folder or data set; refused without this), recorded in the checkpoint's history")
    out.add_argument("--quiet", action="store_true", help="no progress output")
    out.add_argument("--evaluate-at-end", nargs="?", const="", metavar="METRICS",
                     help="when training finishes, evaluate the checkpoint as cvae-eval does (all that applies, or "
                          "e.g. loss,conditional-accuracy); figures go into the checkpoint and NAME.eval.json")
    return parser


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,64, got {text!r}") from None


def add_config_options(group, classes) -> None:
    """One command-line option per declared configuration field (cvae.options): name, type, choices and help
    come from the declaration, so the CLI cannot drift from the configuration. Not given = None."""
    seen: dict[str, str] = {}
    for cls in classes:
        for name, declared in cls.options():
            flag = cli_name(name, declared)
            if flag is None or name in seen:
                continue
            seen[name] = flag
            defaults = {repr(c.default_of(name)) for c in classes if name in {n for n, _ in c.options()}}
            default = cls.default_of(name)
            shown = (f"default {default}" if len(defaults) == 1 and not isinstance(default, (bool, tuple))
                     else "")
            text = (declared.help + (f" ({shown})" if shown else "")).replace("%", "%%")  # argparse formats help
            if isinstance(default, bool):
                action = "store_false" if flag.startswith("--no-") else "store_true"
                group.add_argument(flag, dest=name, action=action, default=None, help=text)
            elif isinstance(default, tuple):
                group.add_argument(flag, dest=name, type=_int_list, metavar=declared.metavar, help=text)
            else:
                group.add_argument(flag, dest=name, type=type(default), choices=declared.choices,
                                   metavar=declared.metavar, help=text)


def given(args, cls) -> dict:
    """The fields of `cls` the user set on the command line."""
    return {name: getattr(args, name) for name, declared in cls.options()
            if cli_name(name, declared) and getattr(args, name, None) is not None}


def check_numbers(args) -> None:
    """Every value given on the command line against its declared range, named as the user typed it, before any
    data is loaded (0 is a value, never "the default")."""
    for cls in (*MODEL_CONFIGS, TrainConfig):
        for name, declared in cls.options():
            flag = cli_name(name, declared)
            value = getattr(args, name, None) if flag else None
            if value is None:
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{flag} must be a finite number, got {value:g}")
            if not declared.accepts(value):
                shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else f"{value:g}" \
                    if isinstance(value, float) else value
                raise ConfigError(f"{flag} must be {declared.describe_range()}, got {shown}")
    for option, value, low in (("--limit", args.limit, 1), ("--test-limit", args.test_limit, 1),
                               ("--image-size", args.image_size, 4)):  # 4 px: the smallest any model accepts
        if value is not None and value < low:
            raise ConfigError(f"{option} must be at least {low}, got {value}")
    if args.resume_other_data and not args.resume:
        raise ConfigError("--resume-other-data only applies with --resume")


def model_options(args, family: str | None) -> dict:
    """The model fields given on the command line; one the chosen family does not have is a mistake, refused
    by its option's name before any data is loaded. No --model: the data's own family is known only once the
    data is loaded, and cvae.models.for_data.config_for_data refuses a field that family lacks."""
    values, flags = {}, {}
    for cls in MODEL_CONFIGS:
        values.update(given(args, cls))
        flags.update({name: cli_name(name, declared) for name, declared in cls.options()})
    if family is None:
        return values
    fields = {name for name, _ in config_class(family).options()}
    foreign = [flags[name] for name in values if name not in fields]
    if foreign:
        raise ConfigError(f"{', '.join(foreign)} does not apply to the {family} model")
    return values


def spec_from(args) -> TrainSpec:
    """The run the command line describes, as the Train panel's job describes its own (trainer.runs)."""
    return TrainSpec(dataset=args.dataset, output=Path(args.output), data_dir=args.data_dir, family=args.model,
                     model=model_options(args, args.model), train=given(args, TrainConfig),
                     image_size=args.image_size, limit=args.limit, test_limit=args.test_limit, resume=args.resume,
                     overwrite=args.overwrite, resume_other_data=args.resume_other_data, download=args.download)


def run(args, stderr=None) -> int:
    stderr = stderr or sys.stderr  # looked up now, so a redirected sys.stderr is honoured
    world = distributed.World.from_env()
    check_numbers(args)
    if args.evaluate_at_end:  # a misspelt metric is refused now, not after hours of training
        from trainer.evaluation import parse_metrics
        parse_metrics(args.evaluate_at_end)
    output = Path(args.output)
    received: list[int] = []  # the stop signals this process got, first first
    callbacks, bar = [], None
    if world.main:  # one metrics log and one progress display for the whole job
        callbacks.append(MetricsLog(MetricsLog.path_for(output)))
        bar = None if args.quiet else ProgressBar(stderr)
        if bar is not None:
            callbacks.append(bar)
    cancel = lambda: received[0] if received else 0  # the loop reports which signal stopped it
    prepared = prepare_run(spec_from(args), callbacks, cancel, CLI_WORDS, world)
    if prepared.trainer is None:  # resumed a run that has all its epochs
        if not args.quiet and world.main:
            print(prepared.note, file=stderr)
        return 0
    trainer, existed = prepared.trainer, prepared.existed
    if world.distributed and world.main and not args.quiet:
        cfg = trainer.config
        print(f"cvae-train: {world.size} processes, backend {trainer.backend} ({trainer.device.type}), global "
              f"batch {cfg.batch_size} = {world.size} x {trainer.per_process_batch} per process, learning rate "
              f"{cfg.learning_rate:g}", file=stderr)

    previous = {number: signal.signal(number, lambda signum, frame: received.append(signum))
                for number in STOP_SIGNALS}
    try:
        result = trainer.run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if bar is not None:
            bar.close()  # an error or a cancel mid-epoch must not print after a half-drawn bar
    if result.status == CANCELLED:
        terminated = result.cancelled_by == signal.SIGTERM
        code, what = (EXIT_TERMINATED, "stopped by SIGTERM") if terminated else (EXIT_CANCELLED, "cancelled")
        if not world.main:
            return code
        if result.partial:
            done, batches = result.partial
            print(f"cvae-train: {what} after batch {done}/{batches} of epoch {result.epoch + 1}; saved in {output}; "
                  "continue with --resume", file=stderr)
        elif result.epoch:
            print(f"cvae-train: {what}; epoch {result.epoch} is saved in {output}; continue with --resume",
                  file=stderr)
        else:
            kept = f"{output} was not touched" if existed else "nothing was saved"
            print(f"cvae-train: {what} before the first epoch finished; {kept}", file=stderr)
        return code
    if not args.quiet and world.main:
        print(f"saved {output} (epoch {result.epoch}); metrics in {MetricsLog.path_for(output)}", file=stderr)
    if args.evaluate_at_end is not None and world.main:
        return evaluate_at_end(args, output, stderr)
    return 0


def evaluate_at_end(args, output: Path, stderr) -> int:
    """`cvae-eval` on the finished checkpoint; a failed evaluation leaves the training's checkpoint as saved."""
    from trainer import eval_cli
    from trainer.evaluation import EvaluationCancelled

    argv = [str(output), "--device", args.device or "auto"]
    if args.evaluate_at_end:
        argv += ["--metrics", args.evaluate_at_end]
    if args.data_dir:
        argv += ["--data-dir", str(args.data_dir)]
    if args.quiet:
        argv.append("--quiet")
    try:
        return eval_cli.run(eval_cli.build_parser().parse_args(argv), stderr=stderr)
    except EvaluationCancelled:
        print(f"cvae-train: evaluation cancelled; the trained checkpoint {output} is saved", file=stderr)
        return EXIT_CANCELLED
    except CvaeError as exc:
        print(f"cvae-train: error: training finished and {output} is saved, but the evaluation failed: {exc}",
              file=stderr)
        return EXIT_BAD_INPUT


def report(error: CvaeError, world: distributed.World | None) -> None:
    """One line on stderr; under torchrun an error every process agreed on is reported by process 0 alone."""
    if getattr(error, "reported_by_another_process", False):
        return
    who = "cvae-train" if world is None or world.main else f"cvae-train (process {world.rank})"
    print(f"{who}: error: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    world = None
    try:
        world = distributed.World.from_env()
        return run(args)
    except TrainingDiverged as exc:
        report(exc, world)
        return EXIT_DIVERGED
    except CvaeError as exc:
        report(exc, world)
        return EXIT_BAD_INPUT
    finally:
        distributed.stop()  # a process group left by an error (a finished run has already left it)


if __name__ == "__main__":
    sys.exit(main())
