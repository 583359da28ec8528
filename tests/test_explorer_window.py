"""Main window, model list and card, bad checkpoints, and `cvae-explorer --screenshot`."""

from __future__ import annotations

import pytest
from PySide6 import QtGui, QtWidgets

from explorer.app import main
from explorer.main_window import MainWindow
from explorer.model_card import card_rows


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
    for index in range(window.tabs.count()):
        assert not window.tabs.isTabEnabled(index)
        assert "classifier" in window.tabs.tabToolTip(index)
    assert window.tabs.count() == 2  # disabled, not hidden
    assert "accuracy" in window.card.text().lower()
    window.select_model("tiny-cvae")
    assert all(window.tabs.isTabEnabled(i) for i in range(window.tabs.count()))


def test_card_formats_metrics(window):
    rows = dict(card_rows(window.model_list.entries[3]))
    assert rows["Test accuracy"] == "10.00 %"
    architecture = dict(card_rows(window.model_list.entries[0]))["Architecture"]
    assert "label at every decoder layer" in architecture and "50% warped images" in architecture


def test_screenshot_writes_a_png(tmp_path, tiny_checkpoints, qapp, capsys):
    out = tmp_path / "shot.png"
    code = main([str(tiny_checkpoints["cvae"]), "--no-bundled", "--panel", "generate", "--size", "900x600",
                 "--screenshot", str(out)])
    assert code == 0
    image = QtGui.QImage(str(out))
    assert out.stat().st_size > 1000 and image.width() >= 900 and image.height() >= 600


def test_screenshot_with_a_bad_checkpoint_reports_on_stderr(tmp_path, tiny_checkpoints, qapp, capsys):
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "shot.png"
    code = main([str(bad), str(tiny_checkpoints["ae"]), "--no-bundled", "--screenshot", str(out)])
    assert code == 0 and out.stat().st_size > 0
    assert "garbage.pt" in capsys.readouterr().err


def test_bundled_models_open(tmp_path, qapp):
    resources = pytest.importorskip("resources")
    paths = getattr(resources, "bundled_checkpoints", lambda: [])()
    if not paths:
        pytest.skip("the bundled checkpoints are not in resources/ yet")
    win = MainWindow(dialogs=False)
    assert len(win.open_paths(paths, bundled=True)) == len(paths)
    assert win.current_entry().bundled
    win.deleteLater()
