"""Training jobs: built and run by whoever runs them, cooperative cancel, and exactly one on_end with a status."""

from __future__ import annotations

import threading

import pytest

from cvae.checkpoint import load_checkpoint
from tests.formats import make_mnist
from trainer.jobs import CANCELLED, DIVERGED, FAILED, FINISHED, JobCallback, TrainJob, TrainSpec

TINY_MODEL = {"conv_channels": (4, 8), "hidden_dim": 16}


class Recorder(JobCallback):
    def __init__(self, cancel_at=None, cancel=None):
        self.batches, self.epochs, self.ends, self.samples = [], [], [], []
        self.cancel_at, self.cancel = cancel_at, cancel

    def on_batch(self, progress):
        self.batches.append((progress.epoch, progress.batch))
        if self.cancel_at == (progress.epoch, progress.batch):
            self.cancel.set()

    def on_epoch(self, record):
        self.epochs.append(record)

    def on_samples(self, epoch, images):
        self.samples.append(epoch)

    def on_end(self, result):
        self.ends.append(result)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("data"), train=96, test=32)


def spec(data_dir, out, **train) -> TrainSpec:
    return TrainSpec("mnist", out, str(data_dir), "cvae", dict(TINY_MODEL),
                     {"epochs": 2, "batch_size": 16, "device": "cpu", **train})


def test_a_finished_job_ends_once_with_its_checkpoint(data_dir, tmp_path):
    recorder = Recorder()
    result = TrainJob(spec(data_dir, tmp_path / "run.pt"), [recorder]).run()
    assert recorder.ends == [result] and result.status == FINISHED and result.epoch == 2
    assert [r["epoch"] for r in recorder.epochs] == [1, 2] and recorder.samples == [1, 2]
    assert load_checkpoint(result.checkpoint_path).epoch == 2 and "test_nelbo" in result.metrics


def test_cancel_stops_within_one_batch_and_keeps_the_last_epoch(data_dir, tmp_path):
    cancel = threading.Event()
    recorder = Recorder(cancel_at=(2, 2), cancel=cancel)
    result = TrainJob(spec(data_dir, tmp_path / "run.pt", epochs=3), [recorder], cancel).run()
    assert result.status == CANCELLED and result.epoch == 1 and recorder.ends == [result]
    assert recorder.batches[-1] == (2, 2)  # not one batch more after the flag
    assert load_checkpoint(tmp_path / "run.pt").epoch == 1
    resumed = TrainJob(TrainSpec("mnist", tmp_path / "run.pt", str(data_dir), resume=True), [Recorder()]).run()
    assert resumed.status == FINISHED and resumed.epoch == 3  # the run's own total


def test_a_diverging_job_reports_diverged_through_on_end(data_dir, tmp_path):
    recorder = Recorder()
    result = TrainJob(spec(data_dir, tmp_path / "run.pt", learning_rate=1e20), [recorder]).run()
    assert recorder.ends == [result] and result.status == DIVERGED
    assert "diverged" in result.message and "\n" not in result.message


@pytest.mark.parametrize("make, expected", [
    (lambda d, t: TrainSpec("mnist", t / "run.pt", str(t / "missing")), "does not exist"),
    (lambda d, t: TrainSpec("mnist", t / "run.pt", str(d), train={"epochs": 0}), "epochs must be at least 1"),
    (lambda d, t: TrainSpec("mnist", t / "run.pt", str(d), "beta-cvae"), "needs attribute labels"),
    (lambda d, t: TrainSpec("mnist", t / "nothing.pt", str(d), resume=True), "no run at"),
])
def test_bad_input_fails_with_one_line(make, expected, data_dir, tmp_path):
    recorder = Recorder()
    result = TrainJob(make(data_dir, tmp_path), [recorder]).run()
    assert result.status == FAILED and expected in result.message and "\n" not in result.message
    assert recorder.ends == [result] and not (tmp_path / "run.pt").exists()


def test_an_existing_file_is_never_replaced_unless_asked(data_dir, tmp_path):
    out = tmp_path / "run.pt"
    out.write_bytes(b"precious")
    result = TrainJob(spec(data_dir, out)).run()
    assert result.status == FAILED and "already exists" in result.message and out.read_bytes() == b"precious"
    assert TrainJob(TrainSpec(**{**spec(data_dir, out).__dict__, "overwrite": True})).run().status == FINISHED


def test_out_of_memory_suggests_a_smaller_batch_and_lets_go_of_the_model(data_dir, tmp_path, monkeypatch):
    import torch

    from cvae.models.generative import GenerativeModel

    def exhausted(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(GenerativeModel, "loss", exhausted)
    recorder = Recorder()
    job = TrainJob(spec(data_dir, tmp_path / "run.pt", batch_size=32), [recorder])
    result = job.run()
    assert result.status == FAILED and recorder.ends == [result]
    assert "out of CPU memory at batch size 32" in result.message and "smaller batch" in result.message
    assert job.trainer is None  # released: nothing keeps the weights or the data on the device


def test_a_cancel_in_the_first_epoch_keeps_a_part_way_checkpoint(data_dir, tmp_path):
    cancel = threading.Event()
    recorder = Recorder(cancel_at=(1, 2), cancel=cancel)
    result = TrainJob(spec(data_dir, tmp_path / "run.pt"), [recorder], cancel).run()
    assert result.status == CANCELLED and result.epoch == 0
    assert result.checkpoint_path == tmp_path / "run.pt" and "batch 2/" in result.message
    resumed = TrainJob(TrainSpec("mnist", tmp_path / "run.pt", str(data_dir), resume=True)).run()
    assert resumed.status == FINISHED and resumed.epoch == 2


def test_a_callback_list_forwards_each_event_to_each_callback_in_order():
    """One object holds a run's callbacks (pythae's CallbackHandler): each event reaches each callback in order,
    a callback without that event's method is passed over, and forward_end=False keeps on_end back."""
    from trainer.callbacks import CallbackList

    heard = []

    class Full(JobCallback):
        def __init__(self, name):
            self.name = name

        def on_phase(self, phase, images=None):
            heard.append((self.name, "phase", phase, images))

        def on_progress(self, done, total, what):
            heard.append((self.name, "progress", done, total))

        def on_end(self, result):
            heard.append((self.name, "end", result))

    class PhaseOnly:  # an evaluation's progress object has only some of the methods
        def on_phase(self, text):
            heard.append(("bare", "phase", text))

    callbacks = CallbackList([Full("a"), PhaseOnly(), Full("b")])
    callbacks.on_phase("saving")  # no image count: the one-argument on_phase takes it too
    callbacks.on_progress(1, 2, "loss")
    callbacks.on_end("done")
    assert heard == [("a", "phase", "saving", None), ("bare", "phase", "saving"), ("b", "phase", "saving", None),
                     ("a", "progress", 1, 2), ("b", "progress", 1, 2), ("a", "end", "done"), ("b", "end", "done")]
    heard.clear()
    held = CallbackList([Full("a"), Full("b")], forward_end=False)
    held.on_end("loop's result")
    held.on_phase("evaluating", 32)
    assert heard == [("a", "phase", "evaluating", 32), ("b", "phase", "evaluating", 32)] and len(held) == 2


def test_run_statuses_are_one_vocabulary_that_reads_as_words():
    import json

    from trainer import jobs, loop
    from trainer.callbacks import RunStatus

    assert [s.value for s in RunStatus] == ["finished", "cancelled", "diverged", "failed"]
    assert jobs.FINISHED is RunStatus.FINISHED and jobs.CANCELLED is RunStatus.CANCELLED
    assert FINISHED == "finished" and f"{CANCELLED}" == "cancelled" and json.dumps(FAILED) == '"failed"'
    assert not hasattr(jobs, "_Forward") and loop.CallbackList is jobs.CallbackList
