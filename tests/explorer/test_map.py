"""The latent map: clicks pin exactly the decoder's output, moves update the preview, the digit selector
re-decodes the same z, the backdrop follows zoom, and larger latents go through a slice or PCA plane."""

from __future__ import annotations

import pytest
import torch
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from cvae import latent as L


@pytest.fixture
def window(qtbot, main_window):
    win = main_window
    win.select_panel("map")
    settle(qtbot, win.map_panel)
    return win


def settle(qtbot, panel) -> None:
    """Wait until layout has stopped moving the view (the debounced backdrop has caught up)."""
    qtbot.waitUntil(lambda: panel.backdrop_decodes > 0 and not panel.backdrop_timer.isActive(), timeout=3000)


def viewport_pos(panel, x: float, y: float) -> QtCore.QPoint:
    """Viewport pixel nearest to the plane point (x, y)."""
    scene = panel.view_box.mapViewToScene(QtCore.QPointF(x, y))
    return panel.plot.mapFromScene(scene)


def plane_point(panel, pos: QtCore.QPoint) -> tuple[float, float]:
    """The plane point a viewport pixel maps to, through the scene and the ViewBox."""
    point = panel.view_box.mapSceneToView(panel.plot.mapToScene(pos))
    return point.x(), point.y()


def move(panel, pos: QtCore.QPoint, buttons=QtCore.Qt.MouseButton.NoButton) -> None:
    viewport = panel.plot.viewport()
    event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(pos),
                              QtCore.QPointF(viewport.mapToGlobal(pos)), QtCore.Qt.MouseButton.NoButton,
                              buttons, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(viewport, event)
    QTest.qWait(15)  # pyqtgraph rate-limits mouse moves to 100 per second


def hand_press(panel, qtbot, pos: QtCore.QPoint) -> None:
    """Like a hand: the pointer arrives at `pos` (the preview and its cursor marker follow it there), then presses."""
    move(panel, pos + QtCore.QPoint(-25, 12))
    move(panel, pos)
    x, y = plane_point(panel, pos)
    qtbot.waitUntil(lambda: panel.preview_xy == (x, y), timeout=2000)  # the cursor marker is now under the pointer
    QTest.mousePress(panel.plot.viewport(), QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                     pos)


def hand_click(panel, qtbot, pos: QtCore.QPoint) -> None:
    hand_press(panel, qtbot, pos)
    QTest.mouseRelease(panel.plot.viewport(), QtCore.Qt.MouseButton.LeftButton,
                       QtCore.Qt.KeyboardModifier.NoModifier, pos)


def test_click_pins_exactly_the_decoder_output(window, qtbot):
    panel = window.map_panel
    model = window.current_entry().checkpoint.model
    pos = viewport_pos(panel, 0.7, -1.3)
    x, y = plane_point(panel, pos)
    hand_click(panel, qtbot, pos)
    qtbot.waitUntil(lambda: len(panel.pins) == 1, timeout=2000)
    expected = L.decode(model, (x, y), torch.tensor([panel.digit]))[0]
    assert torch.equal(panel.pins[0].z, torch.tensor([[x, y]], dtype=torch.float32))
    assert torch.equal(panel.pins[0].image, expected)
    assert torch.equal(panel.preview.tensor, expected)
    # a second click elsewhere, and one on top of the first pin's marker, pin too
    second = viewport_pos(panel, -1.1, 0.4)
    hand_click(panel, qtbot, second)
    hand_click(panel, qtbot, pos)
    qtbot.waitUntil(lambda: len(panel.pins) == 3, timeout=2000)
    assert torch.equal(panel.pins[2].z, panel.pins[0].z)
    panel.clear_pins()
    assert panel.pins == []


def test_moving_the_mouse_updates_the_preview(window, qtbot):
    panel = window.map_panel
    model = window.current_entry().checkpoint.model
    for target in ((1.5, 1.0), (-2.0, 0.5)):
        pos = viewport_pos(panel, *target)
        move(panel, pos)
        x, y = plane_point(panel, pos)
        qtbot.waitUntil(lambda: panel.preview_xy == (x, y), timeout=2000)
        assert torch.equal(panel.preview.tensor, L.decode(model, (x, y), torch.tensor([panel.digit]))[0])
    assert panel.pins == []  # moving never pins


def test_drag_sweeps_the_preview_instead_of_panning(window, qtbot):
    panel = window.map_panel
    model = window.current_entry().checkpoint.model
    before = panel.view_box.viewRange()
    viewport = panel.plot.viewport()
    start, end = viewport_pos(panel, -1.0, -1.0), viewport_pos(panel, 1.0, 1.0)
    hand_press(panel, qtbot, start)
    seen = []
    for step in range(1, 6):
        point = start + (end - start) * (step / 5)
        move(panel, point, QtCore.Qt.MouseButton.LeftButton)
        seen.append(panel.preview_xy)
    QTest.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, end)
    x, y = plane_point(panel, end)
    assert panel.preview_xy == pytest.approx((x, y))
    assert len(set(seen)) == 5  # the preview followed every step of the sweep
    assert torch.equal(panel.preview.tensor, L.decode(model, panel.preview_xy, torch.tensor([panel.digit]))[0])
    assert panel.view_box.viewRange() == before
    assert panel.pins == []


def test_shift_drag_pans(window, qtbot):
    panel = window.map_panel
    before = panel.view_box.viewRange()
    viewport = panel.plot.viewport()
    start, end = viewport_pos(panel, 0.0, 0.0), viewport_pos(panel, 1.0, 0.0)
    shift = QtCore.Qt.KeyboardModifier.ShiftModifier
    move(panel, start)
    QTest.mousePress(viewport, QtCore.Qt.MouseButton.LeftButton, shift, start)
    for step in range(1, 6):
        point = start + (end - start) * (step / 5)
        event = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(point),
                                  QtCore.QPointF(viewport.mapToGlobal(point)), QtCore.Qt.MouseButton.NoButton,
                                  QtCore.Qt.MouseButton.LeftButton, shift)
        QtWidgets.QApplication.sendEvent(viewport, event)
        QTest.qWait(15)
    QTest.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, shift, end)
    (x0, x1), _ = panel.view_box.viewRange()
    assert x0 == pytest.approx(before[0][0] - 1.0, abs=0.1) and x1 == pytest.approx(before[0][1] - 1.0, abs=0.1)
    assert panel.pins == []


def test_digit_selector_re_decodes_the_same_z(window, qtbot):
    panel = window.map_panel
    model = window.current_entry().checkpoint.model
    panel.pin_at(0.25, 0.5)
    panel.preview_at(-0.5, 1.25)
    z_preview, z_pin = panel.preview_z.clone(), panel.pins[0].z.clone()
    button = panel.digit_group.button(7)
    QTest.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    assert panel.digit == 7
    assert torch.equal(panel.preview_z, z_preview)
    assert torch.equal(panel.preview.tensor, L.decode(model, z_preview, torch.tensor([7]))[0])
    assert torch.equal(panel.pins[0].z, z_pin)
    assert torch.equal(panel.pins[0].image, L.decode(model, z_pin, torch.tensor([7]))[0])
    assert not torch.equal(panel.pins[0].image, L.decode(model, z_pin, torch.tensor([0]))[0])


def test_backdrop_covers_the_view_after_zoom(window, qtbot):
    panel = window.map_panel
    panel.flush()
    qtbot.waitUntil(lambda: panel.backdrop_decodes >= 1, timeout=3000)
    decodes = panel.backdrop_decodes
    panel.view_box.scaleBy((0.4, 0.4), center=QtCore.QPointF(1.0, 0.5))
    panel.view_box.translateBy(x=0.3)
    qtbot.waitUntil(lambda: panel.backdrop_decodes > decodes, timeout=3000)
    view = panel.view_range()
    rect = panel.backdrop.mapRectToParent(panel.backdrop.boundingRect())
    assert view.width() < 4  # really zoomed in
    for r in (panel.backdrop_rect, rect):
        assert r.left() <= view.left() + 1e-9 and r.right() >= view.right() - 1e-9
        assert r.top() <= view.top() + 1e-9 and r.bottom() >= view.bottom() - 1e-9
    # the tiles are the decodes of the new region: the top-left tile is the decoder's output at that cell centre
    columns, rows = panel.backdrop_grid()
    model = window.current_entry().checkpoint.model
    images, _ = L.decode_grid(model, (view.left(), view.right()), (view.top(), view.bottom()), columns, rows,
                              torch.tensor([panel.digit]))
    image = panel.backdrop.image  # rows flipped so that y points up
    h, w = images.shape[-2:]
    top_left = image[-h:, :w]
    expected = (images[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()[::-1]
    assert (top_left == expected).all()


def test_unconditional_models_disable_the_digit_selector(window, qtbot):
    panel = window.map_panel
    window.select_model("tiny-vae")
    assert window.tabs.isTabEnabled(window.tabs.indexOf(panel))
    assert not any(b.isEnabled() for b in panel.digit_buttons)
    assert "unconditional" in panel.digit_buttons[0].toolTip()
    assert panel.labels_for_decode() is None
    assert panel.plane.mode == "pca" and len(panel._scatters) == 10


def test_larger_latent_slice_and_pca_planes(window, qtbot):
    panel = window.map_panel
    window.select_model("tiny-ae")
    model = window.current_entry().checkpoint.model
    assert model.latent_dim == 4 and panel.plane.mode == "pca"
    encodings = window.current_entry().checkpoint.derived["test_encodings"]
    panel.pin_at(0.5, -0.25)
    plane = panel.plane
    expected_z = plane.base + 0.5 * plane.axes[0] - 0.25 * plane.axes[1]
    assert torch.allclose(panel.pins[0].z[0], expected_z, atol=1e-6)
    assert torch.equal(panel.pins[0].image, L.decode(model, panel.pins[0].z)[0])
    # a 2-D slice through dims 3 and 1, others at zero
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("slice"))
    panel.base_combo.setCurrentIndex(panel.base_combo.findData("zero"))
    panel.dim_x.setValue(3)
    assert panel.plane.mode == "slice" and panel.plane.dims == (3, 1)
    z, image = panel.decode_point(1.0, 2.0)
    assert torch.equal(z, torch.tensor([[0.0, 2.0, 0.0, 1.0]]))
    assert torch.equal(image, L.decode(model, z)[0])
    assert panel.plane.project(encodings).shape == (len(encodings), 2)


def test_a_checkpoint_without_encodings_still_maps(qtbot, tmp_path):
    """No test-set encodings: no dots, a note that says so, PCA not offered, and the map still decodes and pins."""
    from explorer.main_window import MainWindow
    from tests.fixtures import make_checkpoint
    win = MainWindow(dialogs=False)
    qtbot.addWidget(win)
    win.open_paths([make_checkpoint(tmp_path / "bare-vae.pt", "vae", encodings=0),
                    make_checkpoint(tmp_path / "bare-cvae.pt", "cvae", encodings=0)])
    win.resize(1200, 800)
    win.show()
    panel = win.map_panel
    for name in ("bare-vae", "bare-cvae"):
        win.select_model(name)
        assert win.tabs.isTabEnabled(win.tabs.indexOf(panel)) and not win.errors
        assert panel.encodings is None and panel._scatters == [] and panel.legend.names() == []
        assert "no test-set encodings" in panel.note_label.text()
        model = win.current_entry().checkpoint.model
        pin = panel.pin_at(0.5, -0.5)
        assert torch.equal(pin.image, L.decode(model, pin.z, panel.labels_for_decode())[0])
    assert panel.plane.mode == "identity"  # the cVAE's 2-D latent is the plane itself
    win.select_model("bare-vae")
    assert panel.plane.mode == "slice"  # without encodings there is no PCA to take
