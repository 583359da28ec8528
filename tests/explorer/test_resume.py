"""The Train panel's Resume… on a run stopped part-way (issue 19's story): other training data is refused with
what differs and how to go on, "Resume on other data" goes on and says so in the run's history, and the progress
bar counts the run's own total from where it stopped."""

from __future__ import annotations

import threading

import pytest
from PySide6 import QtCore

from cvae.checkpoint import load_checkpoint
from tests.explorer.test_train import set_up, wait_end, window  # noqa: F401 (window is a fixture)
from tests.formats import make_mnist
from trainer.jobs import CANCELLED, FAILED, FINISHED, JobCallback, TrainJob, TrainSpec

pytestmark = pytest.mark.slow  # GUI training: runs resumed from the Train panel


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("data"), train=96, test=32)  # 6 batches of 16 an epoch


class CancelAt(JobCallback):
    def __init__(self, at, cancel):
        self.at, self.cancel = at, cancel

    def on_batch(self, progress):
        if (progress.epoch, progress.batch) == self.at:
            self.cancel.set()


def stopped_run(data_dir, out):
    """A 3-epoch run stopped after batch 4 of epoch 2, as the panel's Cancel would leave it."""
    cancel = threading.Event()
    job = TrainJob(TrainSpec("mnist", out, str(data_dir), "cvae", {"conv_channels": (4, 8), "hidden_dim": 16},
                             {"epochs": 3, "batch_size": 16, "device": "cpu"}), [CancelAt((2, 4), cancel)], cancel)
    assert job.run().status == CANCELLED


def test_resume_on_other_data_is_refused_until_ticked_and_the_bar_counts_the_run(window, qtbot, data_dir,  # noqa: F811
                                                                                tmp_path):
    panel = window.train_panel
    out = tmp_path / "run.pt"
    stopped_run(data_dir, out)
    set_up(panel, data_dir, out, epochs=2)  # fewer than the run's own 3: the Epochs box is a floor on resume
    panel.limit_spin.setValue(32)  # another run's setting, still in the box
    assert panel.start(resume=True)
    result = wait_end(qtbot, panel)
    assert result.status == FAILED
    text = panel.status_label.text()
    assert text.startswith(f"Failed: {out} was trained on 96 mnist train images") and "now selected has 32" in text
    assert "tick “Resume on other data”" in text and load_checkpoint(out).training_state["partial"]

    panel.limit_spin.setValue(0)  # back to the run's own data: resumed where it stopped, counted in its own total
    shown = []
    original = panel._progress

    class Recorder(QtCore.QObject):
        """The panel's progress slot plus a note of what the bar shows. A QObject's method, so the worker's signal
        is queued to the GUI thread like the panel's own slot (a bare lambda would run on the worker thread)."""

        @QtCore.Slot(object)
        def progress(self, progress):
            original(progress)
            shown.append((progress.epoch, progress.epochs, progress.batch, panel.progress.value(),
                          panel.progress.maximum(), panel.progress.format().split(" · ")[0]))

    recorder = Recorder()
    panel._progress = recorder.progress
    panel.last_result = None
    assert panel.start(resume=True)
    result = wait_end(qtbot, panel)
    assert result.status == FINISHED and result.epoch == 3
    assert shown[0] == (2, 3, 5, 6 + 5, 3 * 6, "epoch 2/3") and shown[-1][:3] == (3, 3, 6)
    assert "data_changed" not in load_checkpoint(out).history[1]


def test_resume_on_other_data_when_ticked_records_the_change(window, qtbot, data_dir, tmp_path):  # noqa: F811
    panel = window.train_panel
    out = tmp_path / "run.pt"
    stopped_run(data_dir, out)
    set_up(panel, data_dir, out, epochs=3)
    panel.limit_spin.setValue(32)
    panel.other_data_check.setChecked(True)
    assert panel.start(resume=True)
    result = wait_end(qtbot, panel)
    assert result.status == FINISHED and result.epoch == 3, panel.status_label.text()
    record = load_checkpoint(out).history[1]
    assert record["data_changed"]["now"]["count"] == 32 and record["data_changed"]["restarted_epoch"] == 2
    assert record["lr"] is not None and record["beta"] is not None
