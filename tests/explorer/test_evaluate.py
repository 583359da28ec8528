"""The Evaluate panel: measures the selected model as a background job, writes the figures into the checkpoint
and its report, lists past results, and says what to do when the FID weights are missing."""

from __future__ import annotations

import shutil

import pytest
from PySide6 import QtCore

from cvae.checkpoint import load_checkpoint
from explorer.main_window import MainWindow
from tests.formats import make_mnist
from trainer.jobs import CANCELLED, FAILED, FINISHED


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("data"), train=40, test=60)


@pytest.fixture
def window(qtbot, tmp_path, tiny_checkpoints, data_dir, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-hub"))  # no Inception weights anywhere
    monkeypatch.delenv("CVAE_INCEPTION_WEIGHTS", raising=False)
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    path = shutil.copy(tiny_checkpoints["cvae"], tmp_path / "digits.pt")
    win.open_paths([path])
    win.show()
    panel = win.evaluate_panel
    panel.data_dir_edit.setText(str(data_dir))
    panel.extra_options = {"conditional_per_class": 20, "fid_cache": str(tmp_path / "fid-cache")}
    panel.samples_spin.setValue(100)
    assert win.select_panel("evaluate")
    yield win
    win.runner.shutdown()


def run(qtbot, panel):
    panel.last_result = None
    assert panel.start()
    qtbot.waitUntil(lambda: panel.last_result is not None and not panel.runner.running("evaluate"), timeout=60_000)
    return panel.last_result


def choose(panel, *names):
    for name, box in panel.metric_checks.items():
        box.setChecked(name in names)


@pytest.mark.slow  # over a second: a whole evaluation from the panel
def test_evaluating_writes_the_figures_and_lists_them(window, qtbot):
    panel = window.evaluate_panel
    choose(panel, "loss", "conditional-accuracy", "judge-fd")
    result = run(qtbot, panel)
    assert result.status == FINISHED, result.message
    saved = load_checkpoint(window.current_entry().path).metrics
    for key in ("test_nelbo", "conditional_accuracy"):
        assert key in saved and key in result.metrics
    assert any("judge" in key for key in saved)  # the judge Fréchet distance, never called FID
    assert panel.table.rowCount() == 2  # the checkpoint's metrics, then this evaluation from the report
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    assert "conditional_accuracy" in headers
    assert window.current_entry().checkpoint.metrics["conditional_accuracy"] == saved["conditional_accuracy"]


def test_missing_inception_weights_say_what_to_do(window, qtbot):
    panel = window.evaluate_panel
    choose(panel, "fid")
    before = load_checkpoint(window.current_entry().path).metrics
    result = run(qtbot, panel)
    assert result.status == FAILED and "pt_inception-2015-12-05-6726825d.pth" in result.message
    assert "\n" not in result.message and "pt_inception" in panel.status_label.text()
    assert "bold" in panel.weights_button.styleSheet()  # points at the way to provide the file
    assert load_checkpoint(window.current_entry().path).metrics == before


def test_cancel_writes_nothing(window, qtbot):
    panel = window.evaluate_panel
    choose(panel, "loss", "conditional-accuracy")
    panel.extra_options["conditional_per_class"] = 5000
    before = load_checkpoint(window.current_entry().path).metrics
    assert panel.start()
    qtbot.waitUntil(lambda: panel.progress.value() > 0 or panel.last_result is not None, timeout=60_000)
    window.runner.cancel("evaluate")
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=60_000)
    assert panel.last_result.status == CANCELLED
    assert load_checkpoint(window.current_entry().path).metrics == before


@pytest.mark.slow  # over a second: a whole evaluation from the panel
def test_cancel_says_cancelling_at_once_and_the_bar_stays_where_it_was(window, qtbot):
    """Issue 19, 6: Cancel showed nothing for seconds, then the bar jumped to full and the status named the next
    phase. Now the panel says "Cancelling…" on the click; progress and phases still queued from the worker (the
    batch under way) no longer move the bar or the status; the end says cancelled, with the bar where it was."""
    panel = window.evaluate_panel
    choose(panel, "loss", "conditional-accuracy")
    panel.extra_options["conditional_per_class"] = 5000
    before = load_checkpoint(window.current_entry().path).metrics
    assert panel.start()
    qtbot.waitUntil(lambda: panel.progress.format().startswith("conditional accuracy")
                    or panel.last_result is not None, timeout=60_000)  # 50,000 samples: far from their end
    assert panel.last_result is None
    panel.cancel_button.click()
    assert panel.status_label.text().startswith("Cancelling…")  # at once, before the worker has seen the flag
    assert not panel.cancel_button.isEnabled() and "cancelling…" in panel.progress.format()
    value, maximum = panel.progress.value(), panel.progress.maximum()
    panel._counted(maximum, maximum, "conditional accuracy")  # what a late signal from the worker would do
    panel._phase("the judge reading the reconstructions")
    assert panel.progress.value() == value and panel.status_label.text().startswith("Cancelling…")
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=60_000)
    assert panel.last_result.status == CANCELLED and panel.status_label.text().startswith("Cancelled")
    assert panel.progress.value() == value < panel.progress.maximum() and "cancelled" in panel.progress.format()
    assert load_checkpoint(window.current_entry().path).metrics == before
    assert not (window.current_entry().path.with_name("digits.eval.json")).exists()  # nothing was written


def test_a_negative_loss_in_nats_is_explained_under_the_table(window, tmp_path):
    from cvae.checkpoint import save_checkpoint
    from tests.fixtures import make_checkpoint

    panel = window.evaluate_panel
    assert panel.notes_label.text() == ""  # the digit model's loss is positive: nothing to explain
    face = load_checkpoint(make_checkpoint(tmp_path / "face.pt", "beta-cvae"))
    face.metrics = {"test_nelbo": -9170.1, "test_rec": -9226.5, "test_kl": 56.5, "test_images": 3000}
    window.open_paths([str(save_checkpoint(face, tmp_path / "face.pt"))])
    window.select_model("face")
    assert "negative: a Gaussian density of continuous pixel values can exceed 1" in panel.notes_label.text()


def test_evaluate_does_not_apply_to_the_judge(tiny_checkpoints, qtbot):
    from explorer.model_list import open_entry
    from explorer.panels.evaluate import EvaluatePanel
    assert "judge" in EvaluatePanel.unavailable_reason(open_entry(tiny_checkpoints["classifier"]))


def test_metrics_that_do_not_apply_show_unticked_and_the_users_ticks_come_back(window, tiny_checkpoints):
    panel = window.evaluate_panel
    boxes = panel.metric_checks
    assert boxes["conditional-accuracy"].isChecked() and not boxes["editing"].isChecked()  # a digit cVAE
    boxes["loss"].setChecked(False)  # the user's choice
    window.open_paths([str(tiny_checkpoints["vae"])])
    window.select_model("tiny-vae")  # unconditional: conditional accuracy does not apply
    assert window.current_entry().path.name == "tiny-vae.pt"
    assert not boxes["conditional-accuracy"].isEnabled() and not boxes["conditional-accuracy"].isChecked()
    assert not boxes["loss"].isChecked() and "conditional-accuracy" not in panel.chosen_metrics()
    window.select_model("digits")
    assert boxes["conditional-accuracy"].isChecked() and not boxes["loss"].isChecked()
    assert panel.chosen_metrics() == ["conditional-accuracy", "judge-fd"]


def test_the_command_lines_data_folder_fills_the_train_and_evaluate_fields_for_this_session(qtbot, tmp_path,
                                                                                          data_dir):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    settings.setValue("train/data_dir", "/remembered")
    win = MainWindow(data_dir=data_dir, dialogs=False, settings=settings)
    qtbot.addWidget(win)
    assert win.evaluate_panel.data_dir_edit.text() == str(data_dir)
    assert win.train_panel.data_dir_edit.text() == str(data_dir)
    assert settings.value("train/data_dir") == "/remembered"
    win.runner.shutdown()
    without = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(without)
    assert without.evaluate_panel.data_dir_edit.text() == "/remembered"
    without.runner.shutdown()
