"""Edit's per-attribute control: keep / on / off and the strength "on" gives (a slider over STRENGTH_RANGE with its
value beside it); the same slider serves a class model's strength."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from explorer.widgets.attributes import pretty

KEEP, ON, OFF = "keep", "on", "off"
STRENGTH_RANGE = (-1.0, 2.0)
SLIDER_STEPS = 100  # slider ticks per unit of strength
TOGGLE_COLOURS = {"keep": ("#e4e4e4", "black", "#aaa"), "on": ("#2f6fd0", "white", "#1d4f9e"),
                  "off": ("#b5473a", "white", "#8a3328")}  # a checked switch: background, text, border
TOGGLE_STYLES = {state: f"QToolButton {{ padding: 1px 2px; }} QToolButton:checked {{ background: {bg}; "
                        f"color: {fg}; border: 1px solid {border}; border-radius: 2px; }}"
                 for state, (bg, fg, border) in TOGGLE_COLOURS.items()}


class StrengthSlider(QtWidgets.QWidget):
    """A horizontal slider over STRENGTH_RANGE with its value printed beside it; `changed(float)`."""

    changed = QtCore.Signal(float)

    def __init__(self, value: float = 1.0, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(int(STRENGTH_RANGE[0] * SLIDER_STEPS), int(STRENGTH_RANGE[1] * SLIDER_STEPS))
        self.slider.setSingleStep(5)
        self.slider.setPageStep(25)
        self.slider.setMinimumWidth(60)
        self.slider.setToolTip("The label value given: 1 is the attribute as in the data, 0 absent; beyond 1 "
                               "exaggerates it, below 0 pushes it away")
        row.addWidget(self.slider, 1)
        self.readout = QtWidgets.QLabel("")
        self.readout.setFixedWidth(34)
        row.addWidget(self.readout)
        self.slider.valueChanged.connect(self._moved)
        self.set_value(value)

    def value(self) -> float:
        return self.slider.value() / SLIDER_STEPS

    def set_value(self, value: float) -> None:
        self.slider.setValue(round(float(value) * SLIDER_STEPS))
        self._show()

    def _show(self) -> None:
        self.readout.setText(f"{self.value():.2f}")

    def _moved(self) -> None:
        self._show()
        self.changed.emit(self.value())


class AttributeRow(QtWidgets.QWidget):
    """One attribute: its name, keep / on / off, and the strength "on" gives it; `changed()` on any change."""

    changed = QtCore.Signal()

    def __init__(self, name: str, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.name = name
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        label = QtWidgets.QLabel(pretty(name))
        label.setFixedWidth(138)
        label.setToolTip(name)
        row.addWidget(label)
        self.group = QtWidgets.QButtonGroup(self)
        self.buttons: dict[str, QtWidgets.QToolButton] = {}
        tips = {KEEP: "Each face keeps its own value", ON: "On for every face, at the strength on the right",
                OFF: "Off for every face (value 0)"}
        for state in (KEEP, ON, OFF):
            button = QtWidgets.QToolButton()
            button.setStyleSheet(TOGGLE_STYLES[state])
            button.setText(state)
            button.setCheckable(True)
            button.setToolTip(tips[state])
            button.setFixedWidth(38)
            self.group.addButton(button)
            self.buttons[state] = button
            row.addWidget(button)
        self.buttons[KEEP].setChecked(True)
        self.strength = StrengthSlider(1.0)
        self.strength.setEnabled(False)
        row.addWidget(self.strength, 1)
        self.group.buttonToggled.connect(self._toggled)
        self.strength.changed.connect(lambda value: self.changed.emit())

    @property
    def state(self) -> str:
        return next(s for s, b in self.buttons.items() if b.isChecked())

    def set_state(self, state: str, strength: float | None = None) -> None:
        if state not in self.buttons:
            raise ValueError(f"unknown state {state!r}; expected keep, on or off")
        if strength is not None:
            self.strength.set_value(strength)
        self.buttons[state].setChecked(True)

    def _toggled(self, button, checked: bool) -> None:
        if checked:
            self.strength.setEnabled(self.state == ON)
            self.changed.emit()

    def value(self) -> float | None:
        """The label value this row sets for every face: the strength when on, 0 when off; None when kept."""
        if self.state == KEEP:
            return None
        return self.strength.value() if self.state == ON else 0.0
