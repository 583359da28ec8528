"""The list of open models: bundled checkpoints first, then whatever the user opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from cvae.checkpoint import Checkpoint, load_checkpoint
from cvae.latent import prepare_for_inference
from cvae.models import FAMILY_NAMES


@dataclass
class ModelEntry:
    checkpoint: Checkpoint
    path: Path
    bundled: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def family(self) -> str:
        return self.checkpoint.family

    @property
    def title(self) -> str:
        family = FAMILY_NAMES.get(self.family, self.family)  # a name to read, never a decision
        latent = self.checkpoint.capabilities.latent_dim
        return f"{self.name} — {family}" + (f", latent {latent}" if latent else "")


def open_entry(path: str | Path, bundled: bool = False) -> ModelEntry:
    """Load a checkpoint on the CPU; raises cvae.errors.CheckpointError with a one-line message."""
    path = Path(path).expanduser()
    checkpoint = load_checkpoint(path, device="cpu")
    checkpoint.model = prepare_for_inference(checkpoint.model, copy=False)  # frozen, with the fast decode paths
    return ModelEntry(checkpoint, path.resolve() if path.exists() else path, bundled)


class ModelList(QtWidgets.QListWidget):
    """One row per open model; `entry_selected` fires with the ModelEntry (or None when empty)."""

    entry_selected = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.entries: list[ModelEntry] = []
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.currentRowChanged.connect(self._row_changed)
        self.setToolTip("Open models. File › Open… adds a checkpoint.")
        # a long title ends in "…" (the whole title is the row's tooltip) instead of a horizontal scroll bar that
        # hides the last row
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideRight)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt naming): as tall as its rows, so the card gets the rest
        rows = max(2, self.count())
        height = rows * max(self.sizeHintForRow(0), 16) + 2 * self.frameWidth() + 4
        return QtCore.QSize(super().sizeHint().width(), height)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802
        return QtCore.QSize(super().minimumSizeHint().width(), 2 * 16 + 2 * self.frameWidth())

    def add_entry(self, entry: ModelEntry, replace: bool = False) -> int:
        """Append (or find, when the same file is already open) and return its row; `replace` swaps in the new
        entry for the same file (a run that trained further) and re-shows it if it is selected."""
        for row, existing in enumerate(self.entries):
            if existing.path == entry.path:
                if replace:
                    self.entries[row] = entry
                    self.item(row).setText(entry.title)
                    if row == self.currentRow():
                        self.entry_selected.emit(entry)
                return row
        self.entries.append(entry)
        item = QtWidgets.QListWidgetItem(entry.title)
        item.setToolTip(f"{entry.title}\n{entry.path}" + (" (bundled)" if entry.bundled else ""))
        self.addItem(item)
        return len(self.entries) - 1

    def find(self, name: str) -> int:
        """Row of the model whose file name or stem is `name` (exact first, then substring); -1 if none."""
        for row, entry in enumerate(self.entries):
            if name in (entry.name, entry.path.name):
                return row
        for row, entry in enumerate(self.entries):
            if name.lower() in entry.name.lower():
                return row
        return -1

    def current_entry(self) -> ModelEntry | None:
        row = self.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _row_changed(self, row: int) -> None:
        self.entry_selected.emit(self.entries[row] if 0 <= row < len(self.entries) else None)
