"""Input widgets built from a configuration class's declared fields (cvae.options): the range, the choices and
the help text come from the same declaration as `cvae-train`'s options, so the window and the CLI never
disagree about what a value may be."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from cvae.options import cli_name

BIG = 1_000_000_000


def label_for(name: str) -> str:
    return name.replace("_", " ").capitalize()


class FloatBox(QtWidgets.QDoubleSpinBox):
    """A float spin box that shows 0.001 and 1e-05 rather than 0.001000 and 0.000010."""

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt naming)
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int):  # noqa: D102
        from PySide6 import QtGui
        try:
            float(text)
        except ValueError:
            ok = text.strip() in ("", "-", ".", "-.") or text.lower().rstrip("-+").endswith("e")
            return (QtGui.QValidator.State.Intermediate if ok else QtGui.QValidator.State.Invalid), text, position
        return QtGui.QValidator.State.Acceptable, text, position


class OptionForm(QtWidgets.QWidget):
    """A form of one widget per declared field; `values()` reads them back as the field's Python type."""

    changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QtWidgets.QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        self.types: dict[str, type] = {}
        self.config_class = None

    def set_config_class(self, cls, skip: tuple[str, ...] = (), defaults: dict | None = None) -> None:
        """One row per field of `cls` that has a command-line name (the user-settable ones), minus `skip`."""
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.widgets, self.types, self.config_class = {}, {}, cls
        defaults = defaults or {}
        for name, declared in cls.options():
            if cli_name(name, declared) is None or name in skip:
                continue
            value = defaults.get(name, cls.default_of(name))
            widget = self._widget(declared, value)
            widget.setToolTip(f"{declared.help} (cvae-train {cli_name(name, declared)})")
            widget.setObjectName(name)
            self.widgets[name] = widget
            self.types[name] = type(value)
            self.layout_.addRow(label_for(name), widget)
            self.set_value(name, value)

    def _widget(self, declared, value) -> QtWidgets.QWidget:
        if isinstance(value, bool):
            widget = QtWidgets.QCheckBox()
            widget.toggled.connect(self.changed)
        elif declared.choices:
            widget = QtWidgets.QComboBox()
            for choice in declared.choices:
                widget.addItem(str(choice), choice)
            widget.currentIndexChanged.connect(self.changed)
        elif isinstance(value, int):
            widget = QtWidgets.QSpinBox()
            low = int(declared.low) + (1 if declared.low_open else 0) if declared.low is not None else -BIG
            high = int(declared.high) - (1 if declared.high_open else 0) if declared.high is not None else BIG
            widget.setRange(low, high)
            widget.valueChanged.connect(self.changed)
        elif isinstance(value, float):
            widget = FloatBox()
            widget.setDecimals(8)
            widget.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
            low = declared.low if declared.low is not None else -BIG
            high = declared.high if declared.high is not None else BIG
            if declared.low_open:
                low += 1e-6
            if declared.high_open:
                high -= 1e-6
            widget.setRange(low, high)
            widget.valueChanged.connect(self.changed)
        else:  # text: comma-separated integers (conv channels) or a free string
            widget = QtWidgets.QLineEdit()
            widget.textChanged.connect(self.changed)
        return widget

    def set_value(self, name: str, value) -> None:
        widget = self.widgets[name]
        if isinstance(widget, QtWidgets.QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QtWidgets.QComboBox):
            widget.setCurrentIndex(max(0, widget.findData(value)))
        elif isinstance(widget, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
            widget.setValue(value)
        else:
            widget.setText(",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value))

    def value(self, name: str):
        widget, kind = self.widgets[name], self.types[name]
        if isinstance(widget, QtWidgets.QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QtWidgets.QComboBox):
            return widget.currentData()
        if isinstance(widget, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
            return kind(widget.value())
        text = widget.text().strip()
        if kind is tuple:
            return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        return text

    def values(self) -> dict:
        """Every field's value; a malformed text field raises ValueError naming it."""
        out = {}
        for name in self.widgets:
            try:
                out[name] = self.value(name)
            except ValueError:
                raise ValueError(f"{label_for(name)}: expected comma-separated whole numbers such as 32,64, got "
                                 f"{self.widgets[name].text()!r}") from None
        return out
