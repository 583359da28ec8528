"""The job runner: moves a trainer job (TrainJob, EvaluateJob) onto a QThread and turns its callbacks into
signals, so the window stays responsive while it runs.

The job is *built* on the worker thread (a factory is handed over, not a job): loading data and models takes
seconds. Batch progress is throttled to what a person can see (~20 updates a second); epochs, samples, phases
and the end always get through. One job per kind at a time.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
from typing import Callable

from PySide6 import QtCore

from explorer.pyside_hooks import disable_feature_source_check
from trainer.jobs import FAILED, JobCallback, JobResult

disable_feature_source_check()  # jobs import modules (torch._dynamo, ...) on first use: no source reading for them

PROGRESS_INTERVAL = 0.05  # seconds between two progress signals of one job (~20 a second)


class SignalCallback(JobCallback):
    """Runs on the worker thread; Qt queues each emitted signal to the receivers' (GUI) thread."""

    def __init__(self, worker: "JobWorker"):
        self.worker = worker
        self._last = 0.0

    def on_batch(self, progress) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL or progress.batch == progress.batches:
            self._last = now
            self.worker.progress.emit(progress)

    def on_progress(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL or done == total:
            self._last = now
            self.worker.counted.emit(done, total, what)

    def on_phase(self, phase: str, images: int | None = None) -> None:
        self.worker.phase.emit(phase if images is None else f"{phase} {images:,} images")

    def on_epoch(self, record: dict) -> None:
        self.worker.epoch.emit(dict(record))

    def on_samples(self, epoch: int, images) -> None:
        self.worker.samples.emit(epoch, images.detach().cpu().clone())

    def on_checkpoint(self, path, epoch: int) -> None:
        self.worker.saved.emit(str(path), epoch)


class JobWorker(QtCore.QObject):
    progress = QtCore.Signal(object)        # trainer.callbacks.BatchProgress
    counted = QtCore.Signal(int, int, str)  # an evaluation's (done, total, what)
    phase = QtCore.Signal(str)
    epoch = QtCore.Signal(dict)
    samples = QtCore.Signal(int, object)    # epoch, (N, C, H, W) images
    saved = QtCore.Signal(str, int)         # checkpoint path, epoch
    ended = QtCore.Signal(object)           # trainer.jobs.JobResult

    def __init__(self, kind: str, factory: Callable, cancel: threading.Event):
        super().__init__()
        self.kind = kind
        self.factory = factory
        self.cancel = cancel

    @QtCore.Slot()
    def run(self) -> None:
        callback = SignalCallback(self)
        try:
            job = self.factory([callback], self.cancel)
        except Exception as exc:  # building the job is the factory's business; its failure still ends the job
            result = JobResult(self.kind, FAILED, f"{type(exc).__name__}: {exc}")
            self.ended.emit(result)
            return
        result = job.run()  # calls on_end exactly once; the result travels through `ended` below
        self.ended.emit(dataclasses.replace(result, kind=self.kind))


WORKER_SIGNALS = ("progress", "counted", "phase", "epoch", "samples", "saved", "ended")


def result_text(result: JobResult) -> str:
    """What a panel says when a job ends: "Finished: trained 3 epochs into runs/digits.pt". A message that
    already starts with its status word does not say it twice ("Cancelled; epoch 2 is saved in …", not
    "Cancelled: cancelled; epoch 2 is saved in …")."""
    status, message = result.status.capitalize(), result.message.strip()
    if message.lower().startswith(result.status.lower()):
        return status + message[len(result.status):]
    return f"{status}: {message}" if message else status


class JobRunner(QtCore.QObject):
    """Starts, cancels and tracks jobs by kind; `ended(kind, result)` fires on the GUI thread."""

    started = QtCore.Signal(str)
    ended = QtCore.Signal(str, object)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._running: dict[str, tuple[QtCore.QThread, JobWorker]] = {}
        # While a job runs, Python's garbage collector runs on the GUI thread only. Left automatic, it may run on
        # the worker (which allocates a lot) and collect a Qt object's wrapper there; shiboken then destroys the
        # object on the GUI thread holding the GIL while it takes a Qt connection mutex, and a worker emitting a
        # signal holds such a mutex while it waits for the GIL: a deadlock (seen in a test run).
        self._collector = QtCore.QTimer(self)
        self._collector.setInterval(2000)
        self._collector.timeout.connect(gc.collect)
        self._gc_was_enabled = True

    def running(self, kind: str | None = None) -> bool:
        return bool(self._running) if kind is None else kind in self._running

    def start(self, kind: str, factory: Callable[[list, threading.Event], object],
              slots: dict[str, Callable] | None = None) -> JobWorker | None:
        """Run `factory(callbacks, cancel)`'s job on a new thread; None when a job of this kind is running.

        slots: {signal name: receiver} of the worker ("progress", "counted", "phase", "epoch", "samples", "saved",
        "ended"), connected *before* the thread starts, so that a job that ends at once (a bad path, a missing
        data set) still reaches its panel. Connecting to the returned worker afterwards can miss signals."""
        if kind in self._running:
            return None
        unknown = sorted(set(slots or {}) - set(WORKER_SIGNALS))
        if unknown:
            raise ValueError(f"JobWorker has no signal {', '.join(unknown)}; expected some of "
                             f"{', '.join(WORKER_SIGNALS)}")
        if not self._running:
            gc.collect()  # what is garbage now goes on this thread, before the worker starts allocating
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
            self._collector.start()
        thread = QtCore.QThread()
        thread.setObjectName(f"cvae-{kind}-job")
        worker = JobWorker(kind, factory, threading.Event())
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # a bound method of this (GUI-thread) object: Qt queues the call here; a bare lambda would run on the
        # worker's thread and wait for itself
        worker.ended.connect(self._finish)
        for name, receiver in (slots or {}).items():  # the runner's own bookkeeping above runs first
            getattr(worker, name).connect(receiver)
        self._running[kind] = (thread, worker)
        thread.start()
        self.started.emit(kind)
        return worker

    def cancel(self, kind: str) -> None:
        if kind in self._running:
            self._running[kind][1].cancel.set()

    @QtCore.Slot(object)
    def _finish(self, result: JobResult) -> None:
        kind = result.kind
        thread, worker = self._running.pop(kind, (None, None))
        if thread is not None:
            thread.quit()
            thread.wait()
            worker.deleteLater()
            thread.deleteLater()
        if not self._running:
            self._collector.stop()
            if self._gc_was_enabled:
                gc.enable()
        self.ended.emit(kind, result)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel every job and wait for its thread (the loop stops within one batch and keeps its last good
        checkpoint). True when no thread is left running."""
        for kind in list(self._running):
            self.cancel(kind)
        deadline = time.monotonic() + timeout_ms / 1000
        while self._running and time.monotonic() < deadline:  # each job's `ended` arrives as a queued call
            QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
        return not self._running
