"""Main window, model list and card, bad checkpoints, and `cvae-explorer --screenshot`."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

import pyqtgraph as pg

from explorer import app as app_module
from explorer.app import main
from explorer.main_window import MainWindow
from explorer.model_card import card_rows
from tests.fixtures import make_checkpoint


@pytest.fixture
def window(main_window):
    return main_window


@pytest.fixture
def critical(monkeypatch):
    """Record QMessageBox.critical calls instead of showing modal dialogs."""
    calls = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda parent, title, text, *a, **k: calls.append(
        (title, text)) or QtWidgets.QMessageBox.StandardButton.Ok)
    return calls


def test_models_listed_and_first_selected(window):
    assert [e.name for e in window.model_list.entries] == ["tiny-cvae", "tiny-vae", "tiny-ae", "tiny-classifier"]
    assert window.current_entry().name == "tiny-cvae"
    text = window.card.text()
    for expected in ("conditional VAE", "mnist", "543.2 nats", "Latent size", "Epochs"):
        assert expected in text


@pytest.mark.parametrize("content", [b"this is not a checkpoint", "truncated"])
def test_bad_checkpoint_shows_an_error_and_the_app_keeps_working(window, critical, tmp_path, tiny_checkpoints,
                                                                 content):
    bad = tmp_path / "bad.pt"
    if content == "truncated":
        data = tiny_checkpoints["cvae"].read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(content)
    before = list(window.model_list.entries)
    assert window.open_paths([bad, tiny_checkpoints["vae"]]) == [before[1]]  # the good one still "opens"
    assert len(critical) == 1
    title, text = critical[0]
    assert "bad.pt" in text and "\n" not in text
    assert window.model_list.entries == before
    assert window.select_model("tiny-ae")
    assert window.current_entry().name == "tiny-ae"
    assert window.map_panel.model is window.current_entry().checkpoint.model


def test_panels_disabled_for_the_classifier_with_a_reason(window):
    window.select_model("tiny-classifier")
    model_panels = [i for i, p in enumerate(window.panels) if p.needs_model]
    assert len(model_panels) == 5  # map, generate, interpolate, edit, evaluate
    for index in model_panels:
        assert not window.tabs.isTabEnabled(index)
        assert "classifier" in window.tabs.tabToolTip(index)
    assert window.tabs.count() == len(window.panels)  # disabled, not hidden
    assert window.tabs.isTabEnabled(window.panels.index(window.train_panel))  # training needs no model
    assert "accuracy" in window.card.text().lower()
    window.select_model("tiny-cvae")
    assert all(window.tabs.isTabEnabled(i) for i in range(window.tabs.count()))


def test_card_formats_metrics(window):
    rows = dict(card_rows(window.model_list.entries[3]))
    assert rows["Test accuracy"] == "10.00 %"
    architecture = dict(card_rows(window.model_list.entries[0]))["Architecture"]
    assert "label at every decoder layer" in architecture and "50% warped images" in architecture


def test_card_names_each_class_and_says_how_long_training_took(tmp_path):
    from cvae.checkpoint import load_checkpoint, save_checkpoint
    from explorer.model_list import open_entry

    checkpoint = load_checkpoint(make_checkpoint(tmp_path / "clothes.pt"))
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    checkpoint.label_names = names
    checkpoint.metrics.update(conditional_accuracy=0.65, conditional_accuracy_per_class=[0.1 * i for i in range(10)],
                              reconstruction_accuracy=1.0,
                              reconstruction_accuracy_per_class=[1.0] * 10, train_seconds=868)
    entry = open_entry(save_checkpoint(checkpoint, tmp_path / "clothes.pt"))
    rows = card_rows(entry)
    per_label = [value for label, value in rows if label.endswith("per label")]
    assert per_label[0].startswith("T-shirt/top 0, Trouser 10, Pullover 20")
    assert per_label[0].endswith("Ankle boot 90 %")
    assert len(per_label) == 1  # the reconstructions' per-label list stays in the file, off the card
    assert dict(rows)["Reconstruction accuracy"] == "100.00 %" and "trained in 14 min" in dict(rows)["Training"]


def test_long_model_titles_end_in_an_ellipsis_not_a_scroll_bar(window, qtbot):
    models = window.model_list
    models.setFixedWidth(120)  # far narrower than "tiny-cvae — conditional VAE (class label), latent 2"
    qtbot.wait(50)
    assert not models.horizontalScrollBar().isVisible()
    assert models.textElideMode() == QtCore.Qt.TextElideMode.ElideRight
    assert models.item(0).toolTip().startswith(models.entries[0].title)


def test_screenshot_writes_a_png(tmp_path, tiny_checkpoints, qapp, capsys):
    out = tmp_path / "shot.png"
    code = main([str(tiny_checkpoints["cvae"]), "--no-bundled", "--panel", "generate", "--size", "900x600",
                 "--screenshot", str(out)])
    assert code == 0
    image = QtGui.QImage(str(out))
    assert out.stat().st_size > 1000 and image.width() >= 900 and image.height() >= 600


@pytest.mark.slow  # over a second: app runs on the bundled models
def test_screenshot_with_a_bad_checkpoint_reports_on_stderr_and_fails(tmp_path, tiny_checkpoints, qapp, capsys):
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "shot.png"
    code = main([str(bad), str(tiny_checkpoints["ae"]), "--no-bundled", "--screenshot", str(out)])
    assert code == 2 and out.stat().st_size > 0  # what could be shown is written; the exit says not all of it
    assert "garbage.pt" in capsys.readouterr().err


@pytest.fixture
def shown(monkeypatch):
    """Run `main --screenshot` but record the window it would grab instead of writing a file."""
    windows = []

    def record(app, window, path):
        windows.append(window)
        return 0
    monkeypatch.setattr(app_module, "_screenshot", record)
    return windows


def test_a_random_bytes_checkpoint_alone_exits_non_zero_and_shows_the_empty_state(tmp_path, qapp, shown, capsys):
    bad = tmp_path / "random.pt"
    bad.write_bytes(bytes(range(256)) * 8)
    assert main([str(bad), "--no-bundled", "--screenshot", str(tmp_path / "shot.png")]) == 2
    assert "random.pt" in capsys.readouterr().err
    window = shown[0]
    assert window.right.currentWidget() is window.empty_state  # how to open a model, not controls over nothing
    assert "File › Open" in window.empty_label.text()
    assert not any(w.isEnabled() for w in window.map_panel.plane_widgets)
    assert not any(window.tabs.isTabEnabled(i) for i, p in enumerate(window.panels) if p.needs_model)


def test_an_unknown_model_name_exits_non_zero(tiny_checkpoints, tmp_path, qapp, shown, capsys):
    assert main([str(tiny_checkpoints["cvae"]), "--no-bundled", "--model", "nosuch",
                 "--screenshot", str(tmp_path / "shot.png")]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert main([str(tiny_checkpoints["cvae"]), "--no-bundled", "--model", "tiny-cvae",
                 "--screenshot", str(tmp_path / "shot.png")]) == 0


def test_a_panel_that_does_not_apply_exits_non_zero(tiny_checkpoints, tmp_path, qapp, shown, capsys):
    assert main([str(tiny_checkpoints["classifier"]), "--no-bundled", "--panel", "generate",
                 "--screenshot", str(tmp_path / "shot.png")]) == 2
    assert "generate panel does not apply" in capsys.readouterr().err


@pytest.mark.slow  # over a second: three app runs, two on the bundled models
def test_the_first_checkpoint_given_is_selected_even_when_no_panel_applies(tmp_path, tiny_checkpoints, qapp,
                                                                           shown):
    faces = make_checkpoint(tmp_path / "faces.pt", "beta-cvae")
    assert main([str(tiny_checkpoints["cvae"]), "--no-bundled", "--screenshot", str(tmp_path / "a.png")]) == 0
    assert main([str(tiny_checkpoints["vae"]), str(faces), "--screenshot", str(tmp_path / "b.png")]) == 0
    assert shown[-1].current_entry().name == "tiny-vae"  # the first file given, not the first bundled model
    assert main([str(faces), str(tiny_checkpoints["vae"]), "--screenshot", str(tmp_path / "c.png")]) == 0
    window = shown[-1]
    assert window.current_entry().name == "faces"
    assert "β-CVAE" in window.card.text()


def test_switching_models_leaves_one_row_of_digit_buttons_on_screen(window):
    """What a screenshot grabs after a switch (events processed, but no return to the event loop, which is when
    deleteLater() deletes): one row of buttons."""
    panel = window.map_panel
    for name in ("tiny-vae", "tiny-cvae", "tiny-ae"):
        window.select_model(name)
        QtWidgets.QApplication.processEvents()
        on_screen = [b for b in panel.findChildren(QtWidgets.QToolButton) if b.isVisibleTo(window)]
        assert len(on_screen) == 10, name


def test_screenshot_of_another_model_shows_one_row_of_digit_buttons(tmp_path, tiny_checkpoints, qapp, shown):
    assert main([str(tiny_checkpoints["cvae"]), str(tiny_checkpoints["vae"]), "--no-bundled", "--model", "tiny-vae",
                 "--screenshot", str(tmp_path / "shot.png")]) == 0
    window = shown[0]
    assert len([b for b in window.map_panel.findChildren(QtWidgets.QToolButton) if b.isVisibleTo(window)]) == 10


def test_model_card_fits_without_scrolling(window, qtbot):
    window.select_model("tiny-cvae")
    qtbot.waitUntil(lambda: window.card_scroll.verticalScrollBar().maximum() == 0, timeout=2000)
    rows = window.model_list.count()
    assert window.model_list.height() < (rows + 3) * window.model_list.sizeHintForRow(0) + 20  # no empty list area


def test_legend_sits_beside_the_plot_and_hides_classes(window):
    panel = window.map_panel
    window.select_model("tiny-cvae")
    assert not [i for i in panel.plot.scene().items() if isinstance(i, pg.LegendItem)]  # nothing over the tiles
    assert panel.legend.names() == [str(d) for d in range(10)]
    panel.legend.boxes[3].setChecked(False)
    hidden = [s for s, c in zip(panel._scatters, panel._scatter_classes) if not s.isVisible()]
    assert len(hidden) == 1 and panel._scatter_classes[panel._scatters.index(hidden[0])] == 3
    panel.scatter_check.setChecked(False)
    panel.scatter_check.setChecked(True)
    assert sum(not s.isVisible() for s in panel._scatters) == 1  # class 3 stays hidden


def test_key_hint_only_for_models_that_take_a_digit(window):
    panel = window.map_panel
    window.select_model("tiny-cvae")
    assert "Keys 0–9: digit" in panel.help_label.text()
    for name in ("tiny-vae", "tiny-ae"):
        window.select_model(name)
        assert "Keys" not in panel.help_label.text()


def test_generate_message_does_not_outlive_its_model(window, monkeypatch):
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    window.session.set_data_dir(None)
    window.select_model("tiny-ae")  # the autoencoder asks for a data folder
    assert window.select_panel("generate")
    assert not window.generate_panel.message_box.isHidden()
    window.select_model("tiny-classifier")  # (the window's panel: up to date even while its tab is disabled)
    assert window.generate_panel.message_box.isHidden()
    window.select_model("tiny-vae")
    assert window.generate_panel.message_box.isHidden() and window.generate_panel.grid is not None


@pytest.mark.slow  # over a second: opens the bundled models
def test_bundled_models_open(tmp_path, qapp):
    from cvae_explorer_resources import bundled_checkpoints  # installed under the project's own name
    paths = bundled_checkpoints()
    from cvae_explorer_resources import ORDER
    names = [p.name for p in paths]
    assert names[0] == "mnist-cvae.pt" and names == [n for n in ORDER if n in names] + sorted(set(names) - set(ORDER))
    assert {"celeba-beta-cvae.pt", "celeba-judge.pt"} <= set(names)
    win = MainWindow(dialogs=False)
    assert len(win.open_paths(paths, bundled=True)) == len(paths)
    assert win.current_entry().bundled and win.current_entry().name == "mnist-cvae"
    assert not win.errors
    win.deleteLater()


@pytest.mark.slow  # over a second: opens the bundled models
def test_every_bundled_title_fits_the_model_list_at_the_default_window_size(tmp_path, qtbot):
    """Issue 19, 7: at the default size the list cut the face model's title ("celeba-beta-cvae — β-CVAE (mul…")."""
    from cvae_explorer_resources import bundled_checkpoints

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    win.open_paths(bundled_checkpoints(), bundled=True)
    win.show()
    qtbot.waitExposed(win)
    assert (win.width(), win.height()) == (1360, 860) and app_module.build_parser().get_default("size") == "1360x860"
    listed = win.model_list
    metrics = QtGui.QFontMetrics(listed.font())
    room = listed.viewport().width()
    for row, entry in enumerate(listed.entries):
        text = metrics.horizontalAdvance(entry.title)
        assert listed.visualItemRect(listed.item(row)).width() <= room, entry.title  # the item as the view lays it
        assert text + 8 <= room, f"{entry.title!r} needs {text} px of {room}"  # with the item's text margins
    assert listed.sizeHintForColumn(0) <= room
    win.runner.shutdown()


def test_one_data_folder_for_every_panel(window, tmp_path):
    window.set_data_dir(tmp_path)
    for panel in (window.generate_panel, window.interpolate_panel, window.edit_panel):
        assert str(panel.session.data_dir) == str(tmp_path)
    assert str(tmp_path) in window.edit_panel.folder_row.folder_label.text()
    assert window.train_panel.data_dir_edit.text() == str(tmp_path) == window.evaluate_panel.data_dir_edit.text()
    assert window.train_panel.settings.value("train/data_dir") == str(tmp_path)


def test_screenshot_attributes_force_the_face_toggles_and_edit_rows(tmp_path, qapp, shown, capsys):
    from explorer.panels.edit import KEEP, OFF, ON
    from tests.fixtures import face_checkpoint
    from tests.formats import CELEBA_NAMES

    face = face_checkpoint(tmp_path / "face.pt", names=CELEBA_NAMES)
    assert main([str(face), "--no-bundled", "--panel", "edit", "--attributes", "Smiling=1.5,Male=0",
                 "--screenshot", str(tmp_path / "shot.png")]) == 0
    window = shown[0]
    assert window.generate_panel.toggles.state() == {"Smiling": True, "Male": False}
    assert window.edit_panel.attribute_state("Smiling") == (ON, 1.5)
    assert window.edit_panel.attribute_state("Male")[0] == OFF
    assert window.edit_panel.attribute_state("Eyeglasses")[0] == KEEP
    assert main([str(face), "--no-bundled", "--attributes", "Smilling=1", "--screenshot",
                 str(tmp_path / "shot.png")]) == 2
    assert "Smilling not among the model's attributes" in capsys.readouterr().err


# --- the empty state: all of its text shows; not shown while the bundled models are still being opened ---

@pytest.fixture
def empty_window(qtbot, tmp_path):
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(dialogs=False, settings=settings)
    qtbot.addWidget(win)
    return win


@pytest.mark.parametrize("size", [(1360, 860), (1010, 614)])  # the default size, and the smallest the window takes
def test_the_empty_state_shows_all_of_its_text(empty_window, qtbot, size):
    window = empty_window
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    QtWidgets.QApplication.processEvents()
    label = window.empty_label
    assert window.right.currentWidget() is window.empty_state and label.isVisible()
    assert label.wordWrap()
    needed = label.heightForWidth(label.width())
    lines = QtGui.QFontMetrics(label.font()).lineSpacing()
    assert needed > 3 * lines  # the heading and a paragraph that wraps: more than the first line of it
    assert label.height() >= needed, f"{label.height()} px for text that needs {needed} px at {label.width()} px"
    page = window.empty_state.rect()
    assert page.contains(label.geometry())  # and nothing of the label is outside the page
    # the buttons sit below all of it, not over its last line
    assert window.empty_open_button.geometry().top() >= label.geometry().bottom()
    # the whole sentence renders: the label's last text line has ink on it (the old layout cut it off there)
    image = label.grab().toImage()
    bottom_band = [image.pixelColor(x, y).lightness() for y in range(max(0, label.height() - 2 * lines),
                                                                      label.height()) for x in range(image.width())]
    assert min(bottom_band) < 128


def test_the_empty_state_says_loading_while_the_bundled_models_open(tmp_path, qapp, shown, tiny_checkpoints,
                                                                    monkeypatch):
    seen = []
    original = MainWindow.open_paths

    def open_paths(self, paths, bundled=False, replace=False):
        if bundled:
            seen.append((self.right.currentWidget() is self.empty_state, self.empty_label.text(),
                         self.empty_open_button.isHidden(), self.empty_train_button.isHidden()))
        return original(self, paths, bundled=bundled, replace=replace)
    monkeypatch.setattr(MainWindow, "open_paths", open_paths)
    monkeypatch.setattr(app_module, "_bundled", lambda: [tiny_checkpoints["cvae"]])
    assert main(["--screenshot", str(tmp_path / "shot.png")]) == 0
    on_page, text, open_hidden, train_hidden = seen[0]
    assert on_page and "Loading the bundled models" in text and "No model is open" not in text
    assert open_hidden and train_hidden  # no "Open checkpoint…" while they open
    window = shown[0]
    assert window.right.currentWidget() is window.tabs  # then the model, not the empty state
    assert "No model is open" in window.empty_label.text()  # the empty state has its own text back
    assert not window.empty_open_button.isHidden()


def test_when_no_bundled_model_opens_the_empty_state_says_how_to_open_one(tmp_path, qapp, shown, monkeypatch):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(app_module, "_bundled", lambda: [bad])
    assert main(["--screenshot", str(tmp_path / "shot.png")]) == 2
    window = shown[0]
    assert window.right.currentWidget() is window.empty_state
    assert "No model is open" in window.empty_label.text() and "cvae-explorer runs/model.pt" in window.empty_label.text()
    assert not window.empty_open_button.isHidden()
