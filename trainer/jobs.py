"""Jobs: one training run or one evaluation as a plain torch-only object that whichever thread runs it builds
and runs (the CLI's main thread, a GUI worker thread), with the loop's callbacks, cooperative cancel, and
exactly one `on_end(JobResult)` whatever happens: finished, cancelled, diverged or failed.

Building happens inside `run()`: loading the data and the model takes seconds, and a GUI must not spend them
on its own thread. A job loads its model from the file, so it never shares weights with a model the window is
showing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from cvae.errors import CvaeError, TrainingDiverged
from trainer.callbacks import (  # noqa: F401 (the statuses are this module's vocabulary too)
    CANCELLED, DIVERGED, FAILED, FINISHED, CallbackList, MetricsLog, RunStatus, TrainingCallback)


@dataclass
class JobResult:
    kind: str                              # "train" or "evaluate"
    status: RunStatus                      # FINISHED, CANCELLED, DIVERGED or FAILED
    message: str = ""                      # one line saying what happened (the error's own sentence when failed)
    checkpoint_path: Path | None = None    # what the job wrote or read; None when nothing was written
    epoch: int = 0                         # last completed (and saved) epoch of a training job
    metrics: dict = field(default_factory=dict)


class JobCallback(TrainingCallback):
    """What a job reports: the loop's callbacks (an evaluation's `on_phase` and `on_progress` too), then one
    `on_end(JobResult)`."""


def as_flag(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    return cancel.is_set if hasattr(cancel, "is_set") else cancel


class Job:
    kind = ""

    def __init__(self, callbacks: Iterable[TrainingCallback] = (), cancel=None):
        self.callbacks = CallbackList(callbacks)
        self.cancel = cancel if cancel is not None else threading.Event()
        self.result: JobResult | None = None

    def run(self) -> JobResult:
        """Run to the end; never raises for what a user can cause: the result says what happened."""
        try:
            result = self._run()
        except TrainingDiverged as exc:
            result = self._result(DIVERGED, str(exc))
        except CvaeError as exc:
            result = self._result(FAILED, str(exc))
        except Exception as exc:  # a bug still ends in one on_end: the window must hear about it
            result = self._result(FAILED, f"unexpected {type(exc).__name__}: {exc}")
        self.result = result
        self.callbacks.on_end(result)
        return result

    def _run(self) -> JobResult:
        raise NotImplementedError

    def _result(self, status: RunStatus, message: str) -> JobResult:
        return JobResult(self.kind, status, message)


@dataclass
class TrainSpec:
    """Everything a training run needs, as plain values (what the Train panel's widgets and the CLI hold)."""

    dataset: str
    output: Path
    data_dir: str | None = None
    family: str | None = None              # None: cvae for class labels, beta-cvae for attributes
    model: dict[str, Any] = field(default_factory=dict)  # model configuration fields (cvae.options names)
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    image_size: int | None = None          # faces only
    limit: int | None = None
    test_limit: int | None = None
    # continue the run at `output`: to train["epochs"] when given (it must exceed the epochs already trained),
    # else to the run's own total; only "epochs" and "device" of `train` apply, the rest are the run's own
    resume: bool = False
    # resume: train["epochs"] is a floor, not the total: the run goes to its own total or to that, whichever is
    # larger (the Train panel's Epochs, which always holds a number)
    epochs_at_least: bool = False
    overwrite: bool = False                # replace an existing file at `output`; otherwise it is never touched
    resume_other_data: bool = False        # resume on training data other than the run's own (recorded in it)
    download: bool = False                 # MNIST/Fashion-MNIST: let torchvision fetch what is missing

    def __post_init__(self) -> None:
        self.output = Path(self.output)


class TrainJob(Job):
    """One training run described by a TrainSpec, prepared by trainer.runs.prepare_run exactly as `cvae-train`
    prepares its own (the same output checks, seed, data and model, or the same resume), in the Train panel's
    words; the metrics log goes beside the checkpoint unless `metrics_log` is False."""

    kind = "train"

    def __init__(self, spec: TrainSpec, callbacks: Iterable[TrainingCallback] = (), cancel=None,
                 metrics_log: bool = True):
        super().__init__(callbacks, cancel)
        self.spec = spec
        self.metrics_log = metrics_log
        self.trainer = None

    def _run(self) -> JobResult:
        from trainer.runs import prepare_run

        spec = self.spec
        output = spec.output
        if self.cancelled():
            return self._result(CANCELLED, "cancelled before training started")
        callbacks: list[TrainingCallback] = [MetricsLog(MetricsLog.path_for(output))] if self.metrics_log else []
        callbacks.append(CallbackList(self.callbacks, forward_end=False))  # the job sends on_end, with its status
        prepared = prepare_run(spec, callbacks, self.cancel)
        if prepared.trainer is None:  # a resumed run that has all its epochs
            return JobResult(self.kind, FINISHED, prepared.note, output, int(prepared.resumed.get("epoch") or 0))
        self.trainer = prepared.trainer
        start = self.trainer.epoch  # a resumed run's epochs so far
        try:
            outcome = self.trainer.run()
        finally:
            self.release()
        if outcome.status == CANCELLED:
            partial = getattr(outcome, "partial", None)  # (batch reached, batches): saved part-way through an epoch
            if partial:
                kept = (f"saved in {output} after batch {partial[0]}/{partial[1]} of epoch {outcome.epoch + 1}; "
                        "resume continues from there")
            else:
                kept = f"epoch {outcome.epoch} is saved in {output}" if outcome.epoch else "no epoch finished"
            saved = output if (outcome.epoch or partial) else None
            return JobResult(self.kind, CANCELLED, f"cancelled; {kept}", saved, outcome.epoch)
        last = outcome.history[-1] if outcome.history else {}
        trained = (f"trained epochs {start + 1}–{outcome.epoch} (resumed after epoch {start})" if start
                   else f"trained {outcome.epoch} epochs")
        return JobResult(self.kind, FINISHED, f"{trained} into {output}", output,
                         outcome.epoch, {k: v for k, v in last.items() if k.startswith(("test_", "train_"))})

    def cancelled(self) -> bool:
        return as_flag(self.cancel)()

    def release(self) -> None:
        """Let go of the model, the optimizer and the device-resident data, so a GPU's memory returns to the
        system (and to the next job) when the run ends, however it ended."""
        trainer, self.trainer = self.trainer, None
        device = getattr(trainer, "device", None)
        del trainer
        if device is not None and device.type == "cuda":
            import gc

            import torch
            gc.collect()
            torch.cuda.empty_cache()


class EvaluateJob(Job):
    """Evaluates a checkpoint file (trainer.evaluation.evaluate_checkpoint): the results go into the file's
    metrics and its JSON report. The finished message lists the figures as cvae-eval prints them (the metric
    registry's formats: "test_images 10,000", not "1e+04")."""

    kind = "evaluate"

    def __init__(self, path: str | Path, options: dict | None = None, callbacks: Iterable[TrainingCallback] = (),
                 cancel=None):
        super().__init__(callbacks, cancel)
        self.path = Path(path)
        self.options = dict(options or {})

    def _run(self) -> JobResult:
        from cvae.metrics_registry import summary
        from trainer.evaluation import EvaluationCancelled, evaluate_checkpoint

        try:
            outcome = evaluate_checkpoint(self.path, progress=self.callbacks, cancel=as_flag(self.cancel),
                                          **self.options)
        except EvaluationCancelled:
            return JobResult(self.kind, CANCELLED, f"nothing was written; {self.path.name} is as it was", self.path)
        metrics = outcome.get("metrics", {})
        notes = "; ".join([*outcome.get("notes", []), *(f"{k} skipped: {v}" for k, v in
                                                       outcome.get("skipped", {}).items())])
        return JobResult(self.kind, FINISHED, f"evaluated {self.path.name}: {summary(metrics) or 'nothing measured'}"
                         + (f" ({notes})" if notes else ""), self.path, metrics=metrics)
