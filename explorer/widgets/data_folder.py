"""The data folder as the panels show it, fed by the session (explorer.session), so every panel shows the same
folder and choosing one anywhere chooses it everywhere:

- DataFolderField: an editable path with Choose… (Train and Evaluate, which start jobs on what is typed);
- DataFolderRow: "Data folder: …" with what was found there, Choose…, and a one-line message under it (the panels
  that read test images: Generate, Interpolate, Edit).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from cvae.data import DATA_DIR_ENV


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class DataFolderField(QtWidgets.QWidget):
    """A line edit holding the session's data folder and a Choose… button. The text follows the session; what the
    user types is the session's folder once `commit()` is called (when a job starts on it)."""

    def __init__(self, session, placeholder: str = "", parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.session = session
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QtWidgets.QLineEdit(str(session.data_dir or ""))
        self.edit.setPlaceholderText(placeholder or f"the data folder (${DATA_DIR_ENV})")
        self.choose_button = QtWidgets.QPushButton("Choose…")
        self.choose_button.clicked.connect(lambda: session.choose_data_dir(self, self.edit.text() or None))
        row.addWidget(self.edit, 1)
        row.addWidget(self.choose_button)
        session.data_dir_changed.connect(self._changed)

    def folder(self) -> str | None:
        """The folder typed, or None when the field is empty."""
        return self.edit.text().strip() or None

    def commit(self) -> str | None:
        """Make the typed folder the session's, and remember it (a job starts on it); returns it."""
        folder = self.folder()
        self.session.set_data_dir(folder)
        return folder

    def _changed(self, folder) -> None:
        self.edit.setText(str(folder) if folder else "")


class DataFolderRow(QtWidgets.QWidget):
    """'Data folder: …  ·  state' with a Choose button, and a one-line message under it (hidden when empty)."""

    def __init__(self, session, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.state = ""
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.folder_label = QtWidgets.QLabel("")
        self.folder_label.setStyleSheet("color: #666")
        self.folder_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.folder_label, 1)
        self.choose_button = QtWidgets.QPushButton("Choose data folder…")
        self.choose_button.clicked.connect(lambda: session.choose_data_dir(self))
        row.addWidget(self.choose_button)
        layout.addLayout(row)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a33")
        self.message.hide()
        layout.addWidget(self.message)
        session.data_dir_changed.connect(lambda folder: self.set_state(""))
        self.set_state("")

    def set_state(self, state: str = "") -> None:
        """What was found in the session's folder ("loading test images …", "64 test images", …)."""
        self.state = state
        folder = self.session.data_dir
        text = f"Data folder: {folder}" if folder else f"No data folder (choose one, or set {DATA_DIR_ENV})"
        self.folder_label.setText(text + (f"  ·  {state}" if state else ""))

    def set_message(self, text: str) -> None:
        self.message.setText(one_line(text) if text else "")
        self.message.setVisible(bool(text))
