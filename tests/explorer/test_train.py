"""The Train panel: a run started from the window trains on a worker thread, reports progress, curves and
samples, ends in the model list, cancels and resumes, reports divergence, and never freezes or outlives the
window."""

from __future__ import annotations

import pytest
import shiboken6
from PySide6 import QtCore, QtWidgets

from cvae.checkpoint import load_checkpoint
from explorer.main_window import MainWindow
from tests.formats import make_mnist
from trainer.callbacks import TrainingCallback
from trainer.jobs import CANCELLED, DIVERGED, FINISHED, TrainJob


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("data"), train=160, test=40)


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    win.resize(1300, 850)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.runner.shutdown()


def set_up(panel, data_dir, out, epochs=2, **train):
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist"))
    panel.data_dir_edit.setText(str(data_dir))
    panel.family_combo.setCurrentIndex(panel.family_combo.findData("cvae"))
    panel.model_form.set_value("conv_channels", (4, 8))
    panel.model_form.set_value("hidden_dim", 16)
    panel.train_form.set_value("epochs", epochs)
    panel.train_form.set_value("batch_size", 16)
    for name, value in train.items():
        panel.train_form.set_value(name, value)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.output_edit.setText(str(out))


def wait_end(qtbot, panel, timeout=60_000):
    qtbot.waitUntil(lambda: panel.last_result is not None and not panel.runner.running("train"), timeout=timeout)
    return panel.last_result


@pytest.mark.slow  # GUI training
def test_a_run_started_from_the_window_trains_and_joins_the_model_list(window, qtbot, data_dir, tmp_path):
    panel = window.train_panel
    assert window.select_panel("train")
    out = tmp_path / "digits.pt"
    set_up(panel, data_dir, out)
    assert panel.start()
    assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    result = wait_end(qtbot, panel)
    assert result.status == FINISHED and result.epoch == 2
    assert panel.progress.value() == panel.progress.maximum() > 0
    assert [r["epoch"] for r in panel.history] == [1, 2]
    assert len(panel.epoch_curves["test_nelbo"].getData()[0]) == 2 and len(panel.batch_loss) > 0
    assert panel.samples_view.tensor is not None
    assert out.resolve() in [e.path for e in window.model_list.entries]  # the finished run joins the list
    assert load_checkpoint(out).epoch == 2
    assert window.train_panel.settings.value("train/data_dir") == str(data_dir)  # remembered
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()


class HeldAfterTheFirstEpoch(TrainJob):
    """The Train panel's job, held after epoch 1 (saved and reported) until the cancel flag is set: the run cannot
    finish before the panel's cancel is seen."""

    def __init__(self, spec, callbacks=(), cancel=None, **kwargs):
        class Hold(TrainingCallback):
            def on_epoch(self, record):
                if record["epoch"] == 1:
                    assert cancel.wait(60), "no cancel within a minute"

        super().__init__(spec, [*callbacks, Hold()], cancel, **kwargs)


@pytest.mark.slow  # GUI training
def test_cancel_then_resume_from_the_window(window, qtbot, data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("explorer.panels.train.TrainJob", HeldAfterTheFirstEpoch)
    panel = window.train_panel
    out = tmp_path / "run.pt"
    set_up(panel, data_dir, out, epochs=3)
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.history) == 1, timeout=60_000)  # epoch 1 done and saved
    panel.cancel()
    result = wait_end(qtbot, panel)
    assert result.status == CANCELLED and result.epoch == 1 and "Cancelled" in panel.status_label.text()
    assert load_checkpoint(out).epoch == 1
    panel.last_result = None
    panel.ask = lambda title, text, choices: "Resume"  # the output exists: the panel asks what to do
    assert panel.start()
    result = wait_end(qtbot, panel)
    assert result.status == FINISHED and load_checkpoint(out).epoch == 3


def test_an_existing_output_is_never_replaced_silently(window, data_dir, tmp_path):
    panel = window.train_panel
    out = tmp_path / "keep.pt"
    out.write_bytes(b"precious")
    set_up(panel, data_dir, out)
    asked = []
    panel.ask = lambda title, text, choices: asked.append(text) or "Cancel"
    assert not panel.start() and not window.runner.running()
    assert asked and str(out) in asked[0] and out.read_bytes() == b"precious"


@pytest.mark.slow  # GUI training
def test_a_diverging_run_says_diverged(window, qtbot, data_dir, tmp_path):
    panel = window.train_panel
    set_up(panel, data_dir, tmp_path / "boom.pt", learning_rate=1e20)
    assert panel.start()
    result = wait_end(qtbot, panel)
    assert result.status == DIVERGED and "Diverged" in panel.status_label.text()


@pytest.mark.slow  # GUI training
def test_the_window_stays_responsive_while_a_run_trains(window, qtbot, data_dir, tmp_path):
    """The GUI thread's event loop keeps turning while the run trains (how fast it turns is a benchmark's figure:
    benchmarks/bench_gui_responsiveness.py)."""
    panel = window.train_panel
    set_up(panel, data_dir, tmp_path / "busy.pt", epochs=50)  # cancelled long before its end
    assert panel.start()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=60_000)
    turns = []  # for each 0 ms timer: whether the run was still training when it fired
    while len(turns) < 40:
        fired = []
        QtCore.QTimer.singleShot(0, lambda: fired.append(window.runner.running("train")))
        qtbot.waitUntil(lambda: bool(fired), timeout=5_000)  # a frozen window would wait for the whole run
        turns += fired
        QtWidgets.QApplication.processEvents()
    window.runner.cancel("train")
    assert wait_end(qtbot, panel).status == CANCELLED
    assert all(turns)  # every timer fired while the run was training


@pytest.mark.slow  # GUI training
def test_closing_the_window_mid_run_stops_the_thread_and_leaves_no_half_file(qtbot, data_dir, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    win.show()
    panel = win.train_panel
    out = tmp_path / "closing" / "run.pt"
    set_up(panel, data_dir, out, epochs=50)
    assert panel.start()
    worker_thread = win.runner._running["train"][0]
    qtbot.waitUntil(lambda: len(panel.history) >= 1, timeout=60_000)
    assert win.close()
    # finished, or already deleted: the runner deletes a thread only after wait() has returned
    assert not win.runner.running() and (not shiboken6.isValid(worker_thread) or worker_thread.isFinished())
    leftovers = [p.name for p in out.parent.iterdir() if not p.name.endswith((".pt", ".metrics.jsonl"))]
    assert leftovers == []  # no temporary checkpoint left behind
    assert 1 <= load_checkpoint(out).epoch < 50
    win.deleteLater()


@pytest.mark.slow  # GUI training
def test_garbage_is_collected_on_the_gui_thread_while_a_job_runs(window, qtbot, data_dir, tmp_path):
    import gc
    assert gc.isenabled()
    panel = window.train_panel
    set_up(panel, data_dir, tmp_path / "gc.pt", epochs=1)
    assert panel.start()
    assert not gc.isenabled() and window.runner._collector.isActive()  # the worker never runs the collector
    wait_end(qtbot, panel)
    assert gc.isenabled() and not window.runner._collector.isActive()


def test_the_epoch_axis_reads_in_epochs_and_the_legends_sit_under_the_plots(qtbot, tmp_path):
    """Issue 19, 7: early in a run the loss axis read "epoch (x0.001)" with ticks 0–400 (pyqtgraph's automatic SI
    prefix), and the legends sat inside the plots, over the curves."""
    from explorer.panels.train import TrainPanel
    from explorer.session import Session
    from trainer.callbacks import BatchProgress

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    panel = TrainPanel(Session(settings))
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    qtbot.waitExposed(panel)
    for batch in range(1, 41):  # the first 0.4 of epoch 1 of 5
        panel._progress(BatchProgress(epoch=1, epochs=5, batch=batch, batches=100, loss=500.0 - batch,
                                      images_per_second=900.0, elapsed=batch * 0.1, eta=100.0))
    panel._epoch({"epoch": 1, "train_nelbo": 460.0, "test_nelbo": 470.0, "train_kl": 8.0, "test_kl": 7.5})
    QtWidgets.QApplication.processEvents()
    for plot in (panel.loss_plot, panel.kl_plot):
        item = plot.getPlotItem()
        axis = item.getAxis("bottom")
        assert axis.labelString().count("epoch") == 1 and "(x" not in axis.labelString()  # no SI scaling
        low, high = item.viewRange()[0]
        assert low <= 0 and 5 <= high < 5.5  # the run's whole length, in epochs
        legend = item.legend
        assert [label.text for _, label in legend.items]  # it names the curves …
        view = item.getViewBox().sceneBoundingRect()
        assert legend.sceneBoundingRect().top() >= view.bottom()  # … from below the data area, never over it
        assert legend.sceneBoundingRect().width() > 0 and legend.isVisible()
    assert "held-out −ELBO" in [label.text for _, label in panel.loss_plot.getPlotItem().legend.items]


def test_the_curves_are_built_when_the_train_tab_is_first_shown(main_window, qtbot):
    """Opening a window on models (the latent map in front) does not pay for the Train panel's two plots; showing
    the tab puts both on screen, the batch curve empty until a run reports."""
    window, panel = main_window, main_window.train_panel
    assert window.tabs.currentWidget() is not panel and panel._plots is None
    window.select_panel("train")
    qtbot.waitUntil(lambda: panel.loss_plot.isVisible() and panel.kl_plot.isVisible(), timeout=2000)
    assert [panel.plots_box.layout().itemAt(i).widget() for i in range(2)] == [panel.loss_plot, panel.kl_plot]
    assert panel.batch_curve.getData()[0] is None or len(panel.batch_curve.getData()[0]) == 0
