"""How an attribute edit is made, shared by Edit and Generate: by "label" (the same code, the edited labels), by
latent attribute "direction" (the code moved along the checkpoint's directions, the labels as they were) or "both",
and whether to "adjust related attributes" (the attributes that go with an edited one in the training labels set to
their most likely values, cvae.attribute_edits.implied_edit), with a line saying which ones that set. The arithmetic
is cvae.attribute_edits'; this widget only asks and tells. A checkpoint without directions (written before they
were derived) or without training attribute rows gets those choices disabled, with the reason as their tooltip."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from cvae.attribute_edits import EDIT_MODES
from explorer.widgets.attributes import pretty

MODE_TIPS = {
    "label": "By label: the same latent code, decoded under the edited attributes",
    "direction": "By latent direction: the code moved along each edited attribute's latent direction (fitted to "
                 "the training faces' codes, the other attributes held fixed) by the change asked, decoded under "
                 "the attributes as they were",
    "both": "Both: the code moved along the directions and decoded under the edited attributes",
}
NO_DIRECTIONS = ("This checkpoint ships no latent attribute directions (it was written before they were derived), "
                 "so edits go by label only. Add them from its data folder with "
                 "cvae.derived.add_attribute_directions(file, data_dir), or for the bundled face model "
                 "scripts/build_face_models.py --directions-only")
NO_ROWS = ("This checkpoint ships no training attribute rows, so which attributes go with another is unknown; "
           "each edit sets only the attributes asked")
RELATED_TIP = ("Also set the attributes that go with each edited one in the training labels (|correlation| above "
               "{threshold:g}) to their most likely values given its new value: e.g. Male on also removes heavy "
               "make-up, lipstick and earrings")


def edit_support(checkpoint):
    """(attribute directions (A, latent) or None, training attribute rows (R, A) or None) that `checkpoint`
    ships for attribute edits (cvae.derived), each only when it fits the model's attributes and latent."""
    from cvae.derived import Derived

    derived, caps = Derived.of(checkpoint), checkpoint.capabilities
    directions, rows = derived.attribute_directions, derived.attribute_rows
    if directions is None or tuple(directions.shape) != (caps.label_count, caps.latent_dim):
        directions = None
    if rows is None or rows.dim() != 2 or rows.shape[1] != caps.label_count or not len(rows):
        rows = None
    return directions, rows


def known_mode(mode: str) -> str:
    """`mode` itself when it is one of EDIT_MODES; else ValueError naming them."""
    if mode not in EDIT_MODES:
        raise ValueError(f"edit mode {mode!r}; expected one of {', '.join(EDIT_MODES)}")
    return mode


def implied_text(implied: dict[str, float]) -> str:
    """'also set: no Heavy Makeup, Wearing Lipstick' for {name: value set}; '' when nothing was."""
    if not implied:
        return ""
    return "also set: " + ", ".join(pretty(name) if value >= 0.5 else f"no {pretty(name)}"
                                    for name, value in implied.items())


class EditModeBox(QtWidgets.QWidget):
    """The edit mode combo and the "adjust related attributes" box; `changed()` when either changes."""

    changed = QtCore.Signal()

    def __init__(self, default_mode: str = "label", parent: QtWidgets.QWidget | None = None):
        """Each model shown starts at `default_mode` (when its checkpoint allows it; else "label") and with
        related attributes adjusted when it ships training rows: on the bundled face model, by both judges, the
        single flip changes Male in 19-25% of faces, the flip with its related attributes in 97-99% (README,
        "faces v2")."""
        super().__init__(parent)
        self.default_mode = known_mode(default_mode)
        from cvae.attribute_edits import IMPLIED_THRESHOLD

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Edit by:"))
        self.mode_combo = QtWidgets.QComboBox()
        for mode in EDIT_MODES:
            self.mode_combo.addItem(mode, mode)
        self.mode_combo.currentIndexChanged.connect(lambda _: self.changed.emit())
        row.addWidget(self.mode_combo)
        self.related = QtWidgets.QCheckBox("adjust related attributes")
        self.related_tip = RELATED_TIP.format(threshold=IMPLIED_THRESHOLD)
        self.related.toggled.connect(lambda _: self.changed.emit())
        row.addWidget(self.related)
        row.addStretch(1)
        layout.addLayout(row)
        self.implied_label = QtWidgets.QLabel("")
        self.implied_label.setStyleSheet("color: #555")
        self.implied_label.setWordWrap(True)
        self.implied_label.hide()
        layout.addWidget(self.implied_label)
        self.directions_reason: str | None = None  # why the direction modes are off (None: they are on)
        self.related_reason: str | None = None
        self.set_support(directions=False, rows=False)

    def set_support(self, directions: bool, rows: bool) -> None:
        """What the checkpoint shown allows: directions (the direction modes), training rows (related
        attributes). A mode or option it does not allow is disabled (and unset), its tooltip saying why; the rest
        start at the defaults (a new model is a fresh start)."""
        self.directions_reason = None if directions else NO_DIRECTIONS
        self.related_reason = None if rows else NO_ROWS
        self.blockSignals(True)
        try:
            model = self.mode_combo.model()
            for index, mode in enumerate(EDIT_MODES):
                usable = mode == "label" or directions
                item = model.item(index) if isinstance(model, QtGui.QStandardItemModel) else None
                if item is not None:
                    item.setEnabled(usable)
                self.mode_combo.setItemData(index, MODE_TIPS[mode] if usable else NO_DIRECTIONS,
                                            QtCore.Qt.ItemDataRole.ToolTipRole)
            self.mode_combo.setCurrentIndex(EDIT_MODES.index(self.default_mode) if directions else 0)
            self.mode_combo.setToolTip("How an edit is made: label, latent direction or both"
                                       + ("" if directions else f".\n{NO_DIRECTIONS}"))
            self.related.setEnabled(rows)
            self.related.setChecked(rows)
            self.related.setToolTip(self.related_tip if rows else NO_ROWS)
        finally:
            self.blockSignals(False)
        self.show_implied({})

    def mode_enabled(self, mode: str) -> bool:
        model = self.mode_combo.model()
        item = model.item(EDIT_MODES.index(mode)) if isinstance(model, QtGui.QStandardItemModel) else None
        return item is None or item.isEnabled()

    def mode(self) -> str:
        return self.mode_combo.currentData() or "label"

    def set_mode(self, mode: str) -> None:
        """Choose label, direction or both; a mode this checkpoint does not allow is refused with the reason."""
        if not self.mode_enabled(known_mode(mode)):
            raise ValueError(self.directions_reason or f"edit mode {mode} is not available")
        self.mode_combo.setCurrentIndex(EDIT_MODES.index(mode))

    def adjust_related(self) -> bool:
        return self.related.isEnabled() and self.related.isChecked()

    def set_adjust_related(self, on: bool) -> None:
        if on and not self.related.isEnabled():
            raise ValueError(self.related_reason or "related attributes are not available")
        self.related.setChecked(on)

    def show_implied(self, implied: dict[str, float]) -> str:
        """Show which attributes the related-attribute edit set ({name: value}); returns the line shown."""
        text = implied_text(implied)
        self.implied_label.setText(text)
        self.implied_label.setVisible(bool(text))
        return text
