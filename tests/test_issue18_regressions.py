"""Regression tests of issue 18's bugs 3, 4, 5 and the Evaluate and Train panels' stale state (bug 6), and of
issue 19's "Cancelled: cancelled;" and bundled-report items: each failed on the code before its fix."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from PySide6 import QtCore

from cvae import fid
from tests.explorer.test_train import set_up, wait_end
from tests.fixtures import face_judge, make_checkpoint
from tests.formats import CELEBA_NAMES, make_celeba_hq, make_mnist
from trainer import eval_cli
from trainer.jobs import CANCELLED, FAILED, FINISHED, EvaluateJob


@pytest.fixture(autouse=True)
def no_inception_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-hub"))
    monkeypatch.delenv(fid.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv(fid.CACHE_ENV, str(tmp_path / "fid-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))  # where bundled models' reports go


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("digits"), train=40, test=20)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    make_celeba_hq(root / "celebahq64", count=16, size=16, names=CELEBA_NAMES)
    return root


# ----- bug 4: cvae-eval's printing, the evaluate job's summary ------------------------------------------------

def test_cvae_eval_prints_a_face_models_editing_figures(tmp_path, faces, capsys):
    """`cvae-eval face.pt --metrics editing` ended in "TypeError: unsupported format string passed to
    dict.__format__" after writing its report."""
    face, judge = make_checkpoint(tmp_path / "face.pt", "beta-cvae"), face_judge(tmp_path / "judge.pt")
    code = eval_cli.main([str(face), "--data-dir", str(faces), "--judge", str(judge), "--metrics", "editing",
                          "--device", "cpu", "--no-update", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Edit: Smiling" in out and "added" in out and "others kept" in out and "PSNR" in out
    assert "judge_attribute_accuracy" in out and out.count("\n") > 6


@pytest.mark.slow  # over a second: a whole evaluation from the panel
def test_the_evaluate_jobs_summary_prints_counts_in_full(tmp_path, digits):
    """The Evaluate panel's summary showed 10,000 prior samples as "1e+04"."""
    cvae, judge = make_checkpoint(tmp_path / "d.pt", "cvae"), make_checkpoint(tmp_path / "j.pt", "classifier")
    job = EvaluateJob(cvae, {"metrics": ("conditional-accuracy",), "data_dir": str(digits), "device": "cpu",
                             "judge_path": str(judge), "conditional_per_class": 1000})
    result = job.run()
    assert result.status == FINISHED, result.message
    assert "conditional_samples 10,000" in result.message and "e+" not in result.message
    assert "test_images" not in result.message and "%" in result.message  # accuracies as percentages


# ----- the Evaluate panel ---------------------------------------------------------------------------------------

@pytest.fixture
def window(qtbot, tmp_path, tiny_checkpoints, digits):
    from explorer.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    win.open_paths([shutil.copy(tiny_checkpoints[f], tmp_path / f"my-{f}.pt") for f in ("cvae", "ae")])
    win.show()
    panel = win.evaluate_panel
    panel.data_dir_edit.setText(str(digits))
    panel.extra_options = {"conditional_per_class": 5}
    panel.samples_spin.setValue(100)
    yield win
    win.runner.shutdown()


def run_evaluation(qtbot, panel):
    panel.last_result = None
    assert panel.start()
    qtbot.waitUntil(lambda: panel.last_result is not None and not panel.runner.running("evaluate"), timeout=60_000)
    return panel.last_result


@pytest.mark.slow  # over a second: a whole evaluation from the panel
def test_evaluating_an_autoencoder_with_the_default_ticks_succeeds(window, qtbot):
    """Bug 3: the panel ticked "judge-fd" (and offered "fid") for an autoencoder, which the evaluation refuses
    (no prior), so Evaluate with the default ticks failed."""
    assert window.select_model("my-ae") and window.select_panel("evaluate")
    panel = window.evaluate_panel
    result = run_evaluation(qtbot, panel)
    assert result.status == FINISHED, result.message
    assert "test_rec" in result.metrics and panel.status_label.text().startswith("Finished: evaluated my-ae.pt")
    boxes = panel.metric_checks
    for name in ("judge-fd", "fid", "conditional-accuracy"):
        assert not boxes[name].isEnabled() and not boxes[name].isChecked()
    assert "no prior to sample from" in boxes["judge-fd"].toolTip()


@pytest.mark.slow  # over a second: a whole evaluation from the panel
def test_the_evaluate_panel_forgets_the_last_result_when_another_model_is_selected(window, qtbot):
    """Bug 6: "Finished: evaluated X" stayed on the panel after another model was selected."""
    assert window.select_model("my-cvae") and window.select_panel("evaluate")
    panel = window.evaluate_panel
    for name, box in panel.metric_checks.items():
        box.setChecked(name == "loss")
    result = run_evaluation(qtbot, panel)
    assert result.status == FINISHED
    # the evaluated file is read again (its new figures): the same model, so the result stays
    assert panel.status_label.text().startswith("Finished: evaluated my-cvae.pt")
    assert window.select_model("my-ae")
    assert "my-cvae" not in panel.status_label.text() and "Finished" not in panel.status_label.text()
    assert panel.last_result is None and panel.progress.value() == 0


# ----- bug 5: a job that ends at once still reaches its panel ---------------------------------------------------

@pytest.fixture
def jobs_end_before_start_returns(monkeypatch):
    """QThread.start returns only once the job has run and emitted its end: the worst case of a job that fails
    at once (before this fix the panels connected their slots after start, and never heard of it)."""
    from explorer import jobs

    ran = threading.Event()
    original_run, original_start = jobs.JobWorker.run, QtCore.QThread.start

    def run(self):
        original_run(self)
        ran.set()

    def start(self, *args):
        ran.clear()
        original_start(self, *args)
        assert ran.wait(30), "the job did not end"
        time.sleep(0.05)  # the ended signal is queued by now

    monkeypatch.setattr(jobs.JobWorker, "run", run)
    monkeypatch.setattr(QtCore.QThread, "start", start)


@pytest.mark.slow  # over a second: evaluation jobs from the panel
def test_an_evaluation_that_fails_at_once_reaches_the_panel(window, qtbot, tmp_path, jobs_end_before_start_returns):
    assert window.select_model("my-cvae") and window.select_panel("evaluate")
    panel = window.evaluate_panel
    panel.data_dir_edit.setText(str(tmp_path / "no-such-folder"))
    assert panel.start()
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=10_000)
    assert panel.last_result.status == FAILED
    assert panel.status_label.text().startswith("Failed:") and "no-such-folder" in panel.status_label.text()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_a_training_run_that_fails_at_once_reaches_the_panel(train_window, qtbot, tmp_path,
                                                            jobs_end_before_start_returns):
    panel = train_window.train_panel
    panel.output_edit.setText(str(tmp_path / "never-trained.pt"))
    assert panel.start(resume=True)  # there is no run to resume: the job fails at once
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=10_000)
    assert panel.last_result.status == FAILED and "no run at" in panel.status_label.text()
    assert panel.status_label.text().startswith("Failed:") and panel.start_button.isEnabled()


# ----- the Train panel's stale state ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("train-data"), train=96, test=16)


@pytest.fixture
def train_window(qtbot, tmp_path):
    from explorer.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    win.show()
    assert win.select_panel("train")
    yield win
    win.runner.shutdown()


def legend_names(plot) -> list[str]:
    return [label.text for _, label in plot.getPlotItem().legend.items]


@pytest.mark.slow  # GUI training
def test_a_new_run_shows_nothing_of_the_previous_one(train_window, qtbot, train_data, tmp_path):
    """Bug 6: after a failed start the panel showed the previous run's progress bar and samples, and a new run
    started with the previous run's axes, legend and "Samples after epoch 2"."""
    panel = train_window.train_panel
    set_up(panel, train_data, tmp_path / "first.pt", epochs=2)
    assert panel.start()
    assert wait_end(qtbot, panel).status == FINISHED
    assert panel.samples_view.tensor is not None and "epoch 2" in panel.samples_caption.text()
    assert "held-out −ELBO" in legend_names(panel.loss_plot)
    assert panel.loss_plot.getPlotItem().viewRange()[0][1] > 1.5  # two epochs on the x axis

    panel.last_result = None
    set_up(panel, tmp_path / "no-data-here", tmp_path / "second.pt", epochs=2)
    assert panel.start()  # a start that fails: there is no data set in that folder
    assert wait_end(qtbot, panel).status == FAILED
    assert panel.samples_view.tensor is None and panel.samples_caption.text() == ""
    assert panel.progress.value() == 0 and "ETA" not in panel.progress.format()
    assert legend_names(panel.loss_plot) == ["loss (batches)"] and legend_names(panel.kl_plot) == []
    assert panel.history == [] and panel.loss_plot.getPlotItem().viewRange()[0][1] <= 1.01


@pytest.mark.slow  # GUI training
def test_a_cancelled_run_shows_no_eta_and_says_cancelled_once(train_window, qtbot, train_data, tmp_path):
    """Bug 6: after Cancel the progress bar still showed an ETA; issue 19: "Cancelled: cancelled; …"."""
    panel = train_window.train_panel
    set_up(panel, train_data, tmp_path / "long.pt", epochs=50)
    assert panel.start()
    qtbot.waitUntil(lambda: "ETA" in panel.progress.format(), timeout=60_000)
    panel.cancel()
    assert wait_end(qtbot, panel).status == CANCELLED
    assert "ETA" not in panel.progress.format()
    text = panel.status_label.text()
    assert text.startswith("Cancelled") and "Cancelled: cancelled" not in text, text


# ----- issue 19: a bundled model's report goes to the user's cache folder ---------------------------------------

def test_a_bundled_models_report_goes_to_the_cache_folder_not_into_the_package(tmp_path, digits, capsys):
    from trainer.evaluation import report_path
    try:
        from cvae_explorer_resources import FOLDER
    except ImportError:
        from pathlib import Path
        FOLDER = Path(__file__).resolve().parents[1] / "resources"

    bundled = FOLDER / "mnist-ae.pt"
    beside = bundled.with_name("mnist-ae.eval.json")
    existed = beside.exists()
    before = bundled.read_bytes()
    try:
        code = eval_cli.main([str(bundled), "--data-dir", str(digits), "--metrics", "loss", "--device", "cpu",
                              "--no-update"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert beside.exists() == existed  # nothing new in the package's folder
        report = tmp_path / "user-cache" / "cvae-explorer" / "evaluations" / "mnist-ae.eval.json"
        assert report_path(bundled) == report and report.is_file()
        assert f"wrote {report}" in err and "cache folder" in err
        assert bundled.read_bytes() == before
    finally:
        if not existed:
            beside.unlink(missing_ok=True)
