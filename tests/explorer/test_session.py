"""The explorer's session (explorer.session): one owner of the data folder, the settings, the judge and the job
runner. A hidden panel shows a newly selected model only when it is shown; the judge reaches the Edit panel with the
model (one decode, not two); Generate reads the session's folder and loads the test set off the GUI thread; a
folder without test images leaves Edit with no faces of the previous folder; Train and Evaluate show one folder."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from PySide6 import QtCore

from cvae import data as cvae_data
from explorer.main_window import MainWindow
from explorer.model_list import open_entry
from explorer.panels import PANELS
from explorer.panels.edit import ON, EditPanel
from explorer.session import DATA_DIR_KEY, Session
from tests.explorer.test_interpolate import ini_settings, wait_for_test_set
from tests.fixtures import face_checkpoint, face_folder, face_judge
from tests.formats import CELEBA_NAMES, make_mnist


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))


def window_on(qtbot, tmp_path, paths, settings=None) -> MainWindow:
    win = MainWindow(dialogs=False, settings=settings or ini_settings(tmp_path))
    qtbot.addWidget(win)
    win.open_paths([str(p) for p in paths])
    return win


def tab(win, key):
    """The panel in the window's tabs, as it is (not through window.panel(), which brings it up to date)."""
    return next(win.tabs.widget(i) for i in range(win.tabs.count()) if win.tabs.widget(i).key == key)


def test_the_panels_are_registered_in_one_list(qtbot, tmp_path):
    win = window_on(qtbot, tmp_path, [])
    assert [type(win.tabs.widget(i)) for i in range(win.tabs.count())] == list(PANELS)
    assert all(panel.session is win.session for panel in win.panels)
    assert win.train_panel.runner is win.evaluate_panel.runner is win.session.runner is win.runner
    win.runner.shutdown()


def test_a_hidden_panel_shows_the_model_only_when_it_is_shown(qtbot, tmp_path, tiny_checkpoints):
    face = face_checkpoint(tmp_path / "face.pt", derived={"sample_means": torch.randn(6, 8),
                                                          "sample_labels": torch.zeros(6, 40)})
    win = window_on(qtbot, tmp_path, [tiny_checkpoints["cvae"], face])
    win.select_model("tiny-cvae")
    assert win.select_panel("map")
    edit, interpolate = tab(win, "edit"), tab(win, "interpolate")
    win.select_model("face")  # the map does not apply: Generate comes to the front, Edit stays hidden
    assert edit.entry is None and edit.decodes == 0 and edit.stale
    assert interpolate.entry is None and interpolate.decodes == 0
    assert tab(win, "generate").entry is not None  # the panel in front shows it at once
    assert win.select_panel("edit")
    assert edit.entry is win.current_entry() and edit.decodes == 1 and not edit.stale
    win.runner.shutdown()


def test_the_judge_comes_with_the_model_in_one_decode(qtbot, tmp_path):
    face = face_checkpoint(tmp_path / "face.pt", names=CELEBA_NAMES,
                           derived={"sample_means": torch.randn(6, 8), "sample_labels": torch.zeros(6, 40)})
    other = face_checkpoint(tmp_path / "other.pt", names=CELEBA_NAMES, seed=1,
                            derived={"sample_means": torch.randn(6, 8), "sample_labels": torch.zeros(6, 40)})
    win = window_on(qtbot, tmp_path, [face, other, face_judge(tmp_path / "judge.pt")])
    win.select_model("face")
    assert win.select_panel("edit")
    edit = tab(win, "edit")
    before = edit.decodes
    win.select_model("other")
    assert edit.decodes == before + 1  # was + 2: the window handed the judge over afterwards, decoded again
    assert edit.readings is not None and edit.judge is win.session.judge is not None
    edit.set_attribute("Smiling", ON)
    edit.flush()
    assert "judge: Smiling" in edit.tiles[0].caption.text()
    win.runner.shutdown()


def test_a_judge_opened_after_its_model_reads_it(qtbot, tmp_path):
    face = face_checkpoint(tmp_path / "face.pt", names=CELEBA_NAMES,
                           derived={"sample_means": torch.randn(6, 8), "sample_labels": torch.zeros(6, 40)})
    win = window_on(qtbot, tmp_path, [face])
    assert win.select_panel("edit")
    edit = tab(win, "edit")
    assert edit.judge is None and edit.readings is None
    win.open_paths([str(face_judge(tmp_path / "judge.pt"))])
    assert edit.judge is not None and edit.readings is not None
    win.runner.shutdown()


def test_generate_reads_the_remembered_folder_off_the_gui_thread(qtbot, tmp_path, tiny_checkpoints, monkeypatch):
    data = make_mnist(tmp_path / "digits", train=8, test=40)
    real, loads, threads = cvae_data.load_dataset, [], []

    def slow(*args, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(0.5)
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cvae_data, "load_dataset", slow)
    win = window_on(qtbot, tmp_path, [tiny_checkpoints["ae"]], ini_settings(tmp_path, data))
    assert win.select_panel("generate")
    generate = tab(win, "generate")
    win.select_model("tiny-ae")
    assert generate.grid is None and "Loading" in generate.message.text()
    qtbot.waitUntil(lambda: generate.grid is not None, timeout=10_000)
    assert threading.main_thread() not in threads  # the autoencoder's test images are read on a worker thread
    assert generate.message_box.isHidden() and generate.images.shape[0] == 64 and len(loads) == 1
    win.runner.shutdown()


def test_a_folder_without_test_images_leaves_edit_without_the_previous_faces(qtbot, tmp_path):
    root = face_folder(tmp_path / "data", "celeba-hq")
    session = Session(ini_settings(tmp_path, root))
    panel = EditPanel(session)
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(face_checkpoint(tmp_path / "face.pt")))
    wait_for_test_set(qtbot, panel)
    assert panel.source == "test" and panel.faces
    empty = tmp_path / "empty"
    empty.mkdir()
    session.set_data_dir(empty)
    assert panel.faces == [] and panel.source == "" and not panel.tiles  # at once, not when the load fails
    panel.faces_from.settle()
    text = panel.message.text()
    assert str(empty) in text and "\n" not in text and not panel.message.isHidden()
    assert panel.faces_from.test_faces == [] and panel.source_combo.findData("test") < 0
    assert "no test images" in panel.folder_row.folder_label.text()


def test_one_data_folder_field_fed_by_the_session(qtbot, tmp_path, tiny_checkpoints):
    settings = ini_settings(tmp_path)
    win = window_on(qtbot, tmp_path, [tiny_checkpoints["cvae"]], settings)
    train, evaluate = win.train_panel, win.evaluate_panel
    train.data_dir_edit.setText(str(tmp_path / "typed"))
    assert train.data_folder.commit() == str(tmp_path / "typed")  # as a run started on it does
    assert evaluate.data_dir_edit.text() == str(tmp_path / "typed") == str(win.session.data_dir)
    assert settings.value(DATA_DIR_KEY) == str(tmp_path / "typed")
    assert str(win.edit_panel.folder_row.session.data_dir) == str(tmp_path / "typed")
    win.runner.shutdown()


def test_the_session_resolves_the_folder_once(tmp_path, monkeypatch, qapp):
    settings = ini_settings(tmp_path)
    monkeypatch.setenv("CVAE_DATA_DIR", str(tmp_path / "env"))
    assert Session(settings).data_dir == tmp_path / "env"
    settings.setValue(DATA_DIR_KEY, str(tmp_path / "remembered"))
    assert Session(settings).data_dir == tmp_path / "remembered"
    session = Session(settings, data_dir=tmp_path / "given")  # cvae-explorer --data-dir: this session only
    heard = []
    session.data_dir_changed.connect(heard.append)
    assert session.data_dir == tmp_path / "given" and settings.value(DATA_DIR_KEY) == str(tmp_path / "remembered")
    session.set_data_dir(tmp_path / "chosen")
    assert session.data_dir == tmp_path / "chosen" and settings.value(DATA_DIR_KEY) == str(tmp_path / "chosen")
    session.set_data_dir(tmp_path / "chosen")  # no change: no signal
    assert heard == [tmp_path / "chosen"]
