"""The small widgets on their own, without a model: the pin strip and the plane controls."""

from __future__ import annotations

import torch
from PySide6 import QtCore
from PySide6.QtTest import QTest

from explorer.widgets.pin_strip import PinStrip
from explorer.widgets.plane_controls import PlaneControls


def test_pin_strip_reports_the_clicked_thumbnail_and_clears(qtbot):
    strip = PinStrip(hint="Nothing pinned yet")
    qtbot.addWidget(strip)
    strip.show()
    assert strip.count() == 0 and not strip.hint.isHidden()
    for shade in (0.2, 0.5, 0.8):
        strip.add_image(torch.full((1, 8, 8), shade), tooltip=f"shade {shade}")
    assert strip.count() == 3 and strip.hint.isHidden()
    assert strip.views[1].toolTip() == "shade 0.5"
    with qtbot.waitSignal(strip.clicked) as clicked:
        QTest.mouseClick(strip.views[1], QtCore.Qt.MouseButton.LeftButton)
    assert clicked.args == [1]
    strip.set_images([torch.zeros(1, 8, 8)] * 3)  # the same thumbnails, decoded again
    assert torch.equal(strip.views[2].tensor, torch.zeros(1, 8, 8))
    with qtbot.waitSignal(strip.cleared):
        QTest.mouseClick(strip.clear_button, QtCore.Qt.MouseButton.LeftButton)
    assert strip.count() == 0 and strip.views == [] and not strip.hint.isHidden()


def test_plane_controls_configure_and_report_the_users_plane(qtbot):
    controls = PlaneControls()
    qtbot.addWidget(controls)
    with qtbot.assertNotEmitted(controls.changed):
        controls.configure(2, has_encodings=True)
    assert not any(w.isEnabled() for w in controls.widgets)
    assert controls.choice().mode == "identity"
    with qtbot.assertNotEmitted(controls.changed):
        controls.configure(6, has_encodings=True)
    assert controls.mode_combo.isEnabled()
    assert controls.mode_combo.currentData() == "pca" and controls.choice().mode == "pca"
    assert not controls.dim_x.isEnabled()  # PCA picks its own axes
    assert controls.dim_x.maximum() == 5
    with qtbot.waitSignal(controls.changed) as changed:
        controls.mode_combo.setCurrentIndex(controls.mode_combo.findData("slice"))
    assert changed.args[0].mode == "slice" and controls.dim_x.isEnabled()
    controls.dim_y.setValue(4)
    with qtbot.waitSignal(controls.changed) as changed:
        controls.dim_x.setValue(2)
    assert changed.args[0].dims == (2, 4) and changed.args[0].base == "mean"
    # without encodings neither PCA nor their mean can be chosen
    controls.configure(6, has_encodings=False)
    assert controls.choice().mode == "slice" and controls.choice().base == "zero"
    assert not controls.mode_combo.model().item(0).isEnabled()
