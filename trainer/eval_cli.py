"""`cvae-eval`: evaluate a checkpoint headless. Figures on stdout, progress on stderr, bad input one line + exit 2,
Ctrl-C exit 130 with nothing written."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from cvae.errors import CvaeError
from cvae.metrics_registry import format_figure
from trainer.evaluation import (DEFAULT_FID_SAMPLES, METRICS, EvaluationCallback, EvaluationCancelled,
                                evaluate_checkpoint, is_bundled, parse_metrics, report_path)
from trainer.progress import format_seconds

EXIT_BAD_INPUT, EXIT_CANCELLED = 2, 130
PROG = "cvae-eval"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with a pointer to --help) rather than a usage dump."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number such as 10000, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG, description="Evaluate a checkpoint on its data set's test split: held-out loss, conditional "
        "accuracy, judge Fréchet distance, FID; for face models attribute control (prior samples with each of six "
        "attributes forced on and off) and editing of held-out faces, both read by the attribute judge and, beside it, "
        "by a second, independent one (the bundled low-pass judge for CelebA). The figures "
        "go into the checkpoint's metrics and are appended to NAME.eval.json beside it (for a bundled model, in "
        "~/.cache/cvae-explorer/evaluations).",
        epilog="example: cvae-eval runs/digits.pt --data-dir ../shared/data --metrics loss,conditional-accuracy")
    parser.add_argument("checkpoint", help="the checkpoint file (.pt) to evaluate")
    parser.add_argument("--metrics", help=f"comma-separated, some of {','.join(METRICS)} (default: every one that "
                        "applies to the model; fid only when the Inception weights are found)")
    parser.add_argument("--fid-samples", type=_positive_int, default=DEFAULT_FID_SAMPLES, metavar="N",
                        help=f"generated images for FID and the judge Fréchet distance (default {DEFAULT_FID_SAMPLES:,}"
                        "; the test side uses up to N test images)")
    parser.add_argument("--inception-weights", metavar="PATH",
                        help="the FID Inception weights pt_inception-2015-12-05-6726825d.pth, if not in torch "
                        "hub's cache (default: $CVAE_INCEPTION_WEIGHTS)")
    parser.add_argument("--judge", metavar="PATH", help="judge checkpoint: a classifier for conditional accuracy "
                        "and the judge Fréchet distance, an attribute judge for attribute control and editing (default: "
                        "the bundled judge for MNIST or CelebA)")
    second = parser.add_mutually_exclusive_group()
    second.add_argument("--second-judge", metavar="PATH", help="a second attribute judge that reads attribute "
                        "control and editing beside the first, from the same decodes (default: the bundled low-pass "
                        "judge for CelebA)")
    second.add_argument("--no-second-judge", action="store_true", help="read the face figures by the first judge only")
    parser.add_argument("--data-dir", help="data folder (default: $CVAE_DATA_DIR)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda[:N], mps")
    parser.add_argument("--fid-cache", metavar="DIR", help="folder for cached FID reference statistics "
                        "(default: $CVAE_FID_CACHE or ~/.cache/cvae-explorer/fid)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated samples (default 0)")
    parser.add_argument("--no-update", action="store_true",
                        help="leave the checkpoint untouched; write NAME.eval.json only")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


class EvaluationProgress(EvaluationCallback):
    """On a TTY a bar redrawn in place (what, done/total, images/s, ETA of the step); elsewhere one line per step
    and a plain progress line every `log_interval` seconds."""

    def __init__(self, stream=None, interval: float = 0.2, log_interval: float = 10.0):
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval, self.log_interval = interval, log_interval
        self._what: str | None = None
        self._step_started = time.monotonic()
        self._last = 0.0
        self._open = False

    def on_phase(self, text: str) -> None:
        self._what = None
        self._write(f"{text} ...", final=not self.interactive)

    def on_progress(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if what != self._what:
            self._what, self._step_started, self._last = what, now, now
        elapsed = max(now - self._step_started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        if self.interactive:
            if now - self._last >= self.interval or done == total:
                filled = int(24 * done / max(total, 1))
                self._write(f"{what} [{'#' * filled}{'.' * (24 - filled)}] {done}/{total} {rate:7.0f} img/s "
                            f"ETA {format_seconds(eta)}", final=False)
                self._last = now
        elif now - self._last >= self.log_interval:
            self._write(f"{what}  {done}/{total}  {rate:.0f} img/s  ETA {format_seconds(eta)}", final=True)
            self._last = now

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def _write(self, text: str, final: bool) -> None:
        if self.interactive:
            self.stream.write("\r" + text + "\033[K" + ("\n" if final else ""))
            self._open = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def run(args, stdout=None, stderr=None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    metrics = parse_metrics(args.metrics)
    cancel = threading.Event()
    bar = None if args.quiet else EvaluationProgress(stderr)

    def interrupted(*_):
        if cancel.is_set():  # a second Ctrl-C: stop now (writes are atomic, so nothing is left half-written)
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        result = evaluate_checkpoint(
            args.checkpoint, metrics, data_dir=args.data_dir, judge_path=args.judge, fid_samples=args.fid_samples,
            inception_weights=args.inception_weights, device=args.device, progress=bar, cancel=cancel,
            fid_cache=args.fid_cache, seed=args.seed, update_checkpoint=not args.no_update,
            second_judge_path=False if args.no_second_judge else args.second_judge)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(result, indent=1), file=stdout)
    else:
        for key, value in result["metrics"].items():
            print(f"{key:34s} {format_figure(key, value, result.get('label_names'))}", file=stdout)
    if not args.quiet:
        for metric, reason in result["skipped"].items():
            print(f"{PROG}: {metric} skipped: {reason}", file=stderr)
        for note in result["notes"]:
            print(f"{PROG}: note: {note}", file=stderr)
        where = f"{args.checkpoint} and {result['report']}" if result["checkpoint_updated"] else result["report"]
        aside = "; a bundled model's report goes to your cache folder, not into the package" if is_bundled(
            args.checkpoint) else ""
        print(f"{PROG}: wrote {where} ({format_seconds(result['seconds'])}{aside})", file=stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except EvaluationCancelled:
        print(f"{PROG}: cancelled; nothing was written ({args.checkpoint} and {report_path(args.checkpoint)} are "
              "as they were)", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:  # a second Ctrl-C; every file is written by rename, so none is half-written
        print(f"{PROG}: stopped", file=sys.stderr)
        return EXIT_CANCELLED
    except CvaeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
