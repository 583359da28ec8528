"""Attribute toggles for face models: the 40 CelebA attributes in the groups of explorer.widgets.attributes (the
way people describe a face), each tri-state — on, off, or "as sampled" (drawn like the data) — with that module's
presets. Names a model has that are not CelebA's land in an "Other" group, so any attribute file works."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from explorer.widgets.attributes import group_attributes, presets_for, pretty

EVERYONE_AS_SAMPLED = "Everyone as sampled"  # the combo's first entry: no attribute forced
ON, OFF, SAMPLED = QtCore.Qt.CheckState.Checked, QtCore.Qt.CheckState.Unchecked, QtCore.Qt.CheckState.PartiallyChecked


class AttributeToggles(QtWidgets.QWidget):
    """`changed` fires once per user action (a toggle or a preset), however many boxes that action moved."""

    changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.boxes: dict[str, QtWidgets.QCheckBox] = {}
        self.names: list[str] = []
        self._quiet = False
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        preset_row = QtWidgets.QHBoxLayout()
        preset_row.addWidget(QtWidgets.QLabel("Preset:"))
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.activated.connect(self._preset_chosen)
        preset_row.addWidget(self.preset_combo, 1)
        outer.addLayout(preset_row)
        hint = QtWidgets.QLabel("☑ on · ☐ off · ▣ as sampled (drawn like the data); click to cycle")
        hint.setStyleSheet("color: #666")
        hint.setWordWrap(True)
        outer.addWidget(hint)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidgetResizable(True)
        outer.addWidget(self.scroll, 1)

    def set_names(self, names: list[str]) -> None:
        """One tri-state box per attribute name, in people's groups; all start as sampled."""
        self.names = list(names)
        self.boxes = {}
        body = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(body)
        for title, members in group_attributes(self.names):  # the same groups as the Edit panel's
            box = QtWidgets.QGroupBox(title)
            grid = QtWidgets.QGridLayout(box)
            grid.setVerticalSpacing(0)
            for i, name in enumerate(members):
                check = QtWidgets.QCheckBox(pretty(name))
                check.setTristate(True)
                check.setCheckState(SAMPLED)
                check.setToolTip(f"{name}: on, off, or as sampled")
                check.stateChanged.connect(self._toggled)
                grid.addWidget(check, i // 2, i % 2)
                self.boxes[name] = check
            column.addWidget(box)
        column.addStretch(1)
        self.scroll.setWidget(body)
        self.preset_combo.clear()
        self.preset_combo.addItem(EVERYONE_AS_SAMPLED, {})
        for title, values in presets_for(list(self.boxes)):
            self.preset_combo.addItem(title, {name: value > 0 for name, value in values.items()})

    def state(self) -> dict[str, bool]:
        """{attribute: forced value} for every attribute that is not "as sampled"."""
        return {name: box.checkState() == ON for name, box in self.boxes.items() if box.checkState() != SAMPLED}

    def set_state(self, forced: dict[str, bool]) -> None:
        """Force these attributes on/off, everything else as sampled; one `changed`."""
        self._quiet = True
        try:
            for name, box in self.boxes.items():
                box.setCheckState(SAMPLED if name not in forced else (ON if forced[name] else OFF))
        finally:
            self._quiet = False
        self.changed.emit()

    def _preset_chosen(self, index: int) -> None:
        self.set_state(dict(self.preset_combo.itemData(index) or {}))

    def _toggled(self, *_) -> None:
        if not self._quiet:
            self.changed.emit()
