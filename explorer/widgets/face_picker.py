"""What an opened photo needs from the user before a face model can take it, and its attributes:

- FacePicker: a strip in the panel, shown only while a photo waits for a choice: several faces found (a thumbnail
  of each aligned candidate, largest first: click the one to use), or none (one line saying so, and the photo's
  plain centre crop offered as a button). Skip drops the photo. Nothing is modal, so the panel keeps working.
- AttributeDialog: one face's attributes as check boxes in people's groups (the judge's reading, or whatever the
  face is encoded under), for the user to correct.
"""

from __future__ import annotations

import torch
from PySide6 import QtCore, QtWidgets

from explorer.widgets.attributes import group_attributes, pretty
from explorer.widgets.face_views import thumbnail_icon

PICK_THUMBNAIL = 64


class FacePicker(QtWidgets.QFrame):
    """`picked(index)` when candidate face `index` is clicked, `centre_chosen()` for the centre crop, `skipped()`
    for Skip; `ask(...)` shows a question, `clear()` hides the strip."""

    picked = QtCore.Signal(int)
    centre_chosen = QtCore.Signal()
    skipped = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 3, 6, 3)
        self.label = QtWidgets.QLabel("")
        self.label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        row.addWidget(self.label, 1)
        self.choices = QtWidgets.QHBoxLayout()
        self.choices.setSpacing(4)
        row.addLayout(self.choices)
        self.skip_button = QtWidgets.QPushButton("Skip")
        self.skip_button.setToolTip("Do not use this photo")
        self.skip_button.clicked.connect(self.skipped)
        row.addWidget(self.skip_button)
        self.buttons: list[QtWidgets.QToolButton] = []   # one per candidate face
        self.centre_button: QtWidgets.QToolButton | None = None
        self.hide()

    def text(self) -> str:
        """The question shown, '' when none is."""
        return "" if self.isHidden() else self.label.text()

    def clear(self) -> None:
        while self.choices.count():
            widget = self.choices.takeAt(0).widget()
            if widget is not None:
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.buttons, self.centre_button = [], None
        self.label.setText("")
        self.hide()

    def ask(self, text: str, candidates: list[torch.Tensor], tips: list[str],
            centre: torch.Tensor | None = None) -> None:
        """Show `text` with a button per candidate picture (`tips` their tooltips), or, with `centre`, one button
        offering the centre crop."""
        self.clear()
        self.label.setText(text)
        for index, (picture, tip) in enumerate(zip(candidates, tips)):
            button = self._button(picture, f"face {index + 1}", tip)
            button.clicked.connect(lambda checked=False, i=index: self.picked.emit(i))
            self.buttons.append(button)
        if centre is not None:
            self.centre_button = self._button(centre, "Use the centre crop",
                                              "The photo's centre square, resized, without finding a face: the "
                                              "model will see it as it is, not aligned like its training faces")
            self.centre_button.clicked.connect(self.centre_chosen)
        self.show()

    def _button(self, picture: torch.Tensor, text: str, tip: str) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setIcon(thumbnail_icon(picture, PICK_THUMBNAIL))
        button.setIconSize(QtCore.QSize(PICK_THUMBNAIL, PICK_THUMBNAIL))
        button.setText(text)
        button.setToolTip(tip)
        button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.choices.addWidget(button)
        return button


class AttributeDialog(QtWidgets.QDialog):
    """Check boxes for one face's attributes (on at ≥ ½), grouped as people look for them; `values()` the
    attribute vector as ticked (1 on, 0 off)."""

    def __init__(self, names: list[str], label: torch.Tensor, title: str, note: str = "",
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.names = list(names)
        layout = QtWidgets.QVBoxLayout(self)
        if note:
            explain = QtWidgets.QLabel(note)
            explain.setWordWrap(True)
            layout.addWidget(explain)
        grid = QtWidgets.QGridLayout()
        self.boxes: dict[str, QtWidgets.QCheckBox] = {}
        column_rows = [0, 0]
        for number, (group, members) in enumerate(group_attributes(self.names)):
            column = 0 if column_rows[0] <= column_rows[1] else 1
            heading = QtWidgets.QLabel(f"<b>{group}</b>")
            grid.addWidget(heading, column_rows[column], column)
            column_rows[column] += 1
            for name in members:
                box = QtWidgets.QCheckBox(pretty(name))
                box.setChecked(float(label[self.names.index(name)]) >= 0.5)
                self.boxes[name] = box
                grid.addWidget(box, column_rows[column], column)
                column_rows[column] += 1
        layout.addLayout(grid)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> torch.Tensor:
        return torch.tensor([1.0 if self.boxes[name].isChecked() else 0.0 for name in self.names])
