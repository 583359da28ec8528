"""The explorer's session: the one owner of what the panels share — the data folder, the settings, the open
attribute (or class) judge, the job runner and the model shown — with a signal for each change, so no panel
resolves the folder, writes the settings key or picks the judge itself.

The data folder is, first to last: the one chosen in this session (a panel's Choose…, File › Choose data folder…,
a run started on a folder, or `cvae-explorer --data-dir`, which is not remembered), the remembered one (the
QSettings key "train/data_dir"), $CVAE_DATA_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from cvae.data import DATA_DIR_ENV
from explorer.jobs import JobRunner
from explorer.judges import judge_for

DATA_DIR_KEY = "train/data_dir"  # the remembered data folder (the key's name predates the other panels using it)


def default_settings() -> QtCore.QSettings:
    return QtCore.QSettings("cvae-explorer", "explorer")


class Session(QtCore.QObject):
    """`data_dir_changed(Path | None)` when the folder the panels read changes; `model_changed(entry | None)` when
    another model is shown (its judge already chosen); `judge_changed(judge | None)` when the judge of the same
    model changes (a judge opened or closed)."""

    data_dir_changed = QtCore.Signal(object)
    model_changed = QtCore.Signal(object)
    judge_changed = QtCore.Signal(object)

    def __init__(self, settings: QtCore.QSettings | None = None, data_dir: str | os.PathLike | None = None,
                 runner: JobRunner | None = None, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else default_settings()
        self._chosen: Path | None = Path(data_dir).expanduser() if data_dir else None
        self.runner = runner if runner is not None else JobRunner(self)
        self.entry = None   # the model shown (explorer.model_list.ModelEntry), None when none is
        self.judge = None   # images -> probabilities for the shown model's labels (explorer.judges), or None
        self._loader = None

    @property
    def loader(self):
        """The one worker that loads test images for the panels (explorer.faces.HeldOutLoader): what one panel
        loaded, another gets without reading it again."""
        if self._loader is None:
            from explorer.faces import HeldOutLoader
            self._loader = HeldOutLoader(self)
        return self._loader

    # ----- the data folder -----
    @property
    def data_dir(self) -> Path | None:
        """The folder the panels read test images from and Train and Evaluate start with (see the module's text)."""
        if self._chosen is not None:
            return self._chosen
        remembered = self.settings.value(DATA_DIR_KEY, "")
        if remembered:
            return Path(str(remembered)).expanduser()
        env = os.environ.get(DATA_DIR_ENV)
        return Path(env).expanduser() if env else None

    def set_data_dir(self, folder: str | os.PathLike | None, remember: bool = True) -> None:
        """Use `folder` in every panel from now on (None: back to the remembered one or $CVAE_DATA_DIR), and
        remember it for the next session unless `remember` is False."""
        before = self.data_dir
        self._chosen = Path(folder).expanduser() if folder else None
        if remember:
            self.settings.setValue(DATA_DIR_KEY, str(self._chosen) if self._chosen is not None else "")
        if self.data_dir != before:
            self.data_dir_changed.emit(self.data_dir)

    def choose_data_dir(self, parent: QtWidgets.QWidget | None = None, start: str | os.PathLike | None = None) -> bool:
        """Ask for a folder (the file dialog); True when one was chosen (and is now the session's)."""
        folder = QtWidgets.QFileDialog.getExistingDirectory(parent, "Choose the data folder",
                                                            str(start or self.data_dir or Path.home()))
        if folder:
            self.set_data_dir(folder)
        return bool(folder)

    # ----- the model and its judge -----
    def set_model(self, entry, entries=()) -> None:
        """Show `entry` (or None); its judge is chosen among `entries` (the open models) before anyone hears of
        it, so a panel reads the new model with the new judge once."""
        self.entry = entry
        self.judge = judge_for(entry, list(entries))
        self.model_changed.emit(entry)

    def models_listed(self, entries) -> None:
        """The open models changed (a file opened or re-read): choose the judge again; `judge_changed` when it
        now reads with another model."""
        judge = judge_for(self.entry, list(entries))
        if getattr(judge, "model", None) is not getattr(self.judge, "model", None):
            self.set_judge(judge)

    def set_judge(self, judge) -> None:
        """A callable images (N, C, H, W) in [0, 1] → (N, K) probabilities (with `label_names`), or None."""
        self.judge = judge
        self.judge_changed.emit(judge)
