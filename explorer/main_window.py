"""The main window: model list and card on the left, panels in tabs on the right."""

from __future__ import annotations

import os
import sys

from PySide6 import QtCore, QtGui, QtWidgets

from cvae.errors import CvaeError
from explorer.help import add_help_menu
from explorer.model_card import ModelCard
from explorer.model_list import ModelEntry, ModelList, open_entry
from explorer.panels import PANELS, Panel
from explorer.panels.latent_map import gestures
from explorer.session import Session


def _panel(key: str) -> property:
    return property(lambda window: window.panel(key), doc=f"The {key} panel, showing the selected model.")


class MainWindow(QtWidgets.QMainWindow):
    """The model list and card on the left, the panels (explorer.panels.PANELS) in tabs on the right, all sharing
    one session (explorer.session): its data folder, settings, judge and job runner."""

    map_panel, generate_panel, interpolate_panel = _panel("map"), _panel("generate"), _panel("interpolate")
    edit_panel, train_panel, evaluate_panel = _panel("edit"), _panel("train"), _panel("evaluate")

    def __init__(self, data_dir: str | os.PathLike | None = None, dialogs: bool = True,
                 settings: QtCore.QSettings | None = None):
        super().__init__()
        # `cvae-explorer --data-dir` is this session's folder for every panel (not saved: the remembered one stays)
        self.session = Session(settings, data_dir, parent=self)
        self.runner = self.session.runner
        self.dialogs = dialogs          # False: report errors on stderr (off-screen runs)
        self.errors: list[str] = []     # every error reported, newest last
        self.setWindowTitle("cVAE Explorer")

        self.model_list = ModelList()
        self.card = ModelCard()
        card_scroll = self.card_scroll = QtWidgets.QScrollArea()
        card_scroll.setWidget(self.card)
        card_scroll.setWidgetResizable(True)
        left = self.left_splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        models_box = QtWidgets.QWidget()
        models_layout = QtWidgets.QVBoxLayout(models_box)
        models_layout.setContentsMargins(0, 0, 0, 0)
        self.models_heading = QtWidgets.QLabel("<b>Models</b>")
        models_layout.addWidget(self.models_heading)
        models_layout.addWidget(self.model_list)
        left.addWidget(models_box)
        left.addWidget(card_scroll)
        left.setStretchFactor(0, 0)
        left.setStretchFactor(1, 1)
        left.setMinimumWidth(250)
        self._user_sized_list = False  # once the user drags the divider, window resizes keep their choice
        left.splitterMoved.connect(lambda *_: setattr(self, "_user_sized_list", True))

        self.tabs = QtWidgets.QTabWidget()
        self._preferred_tab = 0  # the panel the user chose last; kept across models that disable it for a while
        self._switching = False
        self.panels: list[Panel] = [cls(self.session) for cls in PANELS]
        for panel in self.panels:
            self.tabs.addTab(panel, panel.title)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._panels = {panel.key: panel for panel in self.panels}
        self._panels["train"].on_checkpoint_ready = self.checkpoint_ready
        self._panels["evaluate"].on_results_written = lambda path: self.open_paths([path], replace=True)
        self.empty_state = self._build_empty_state()
        self.right = QtWidgets.QStackedWidget()
        self.right.addWidget(self.empty_state)
        self.right.addWidget(self.tabs)

        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 960])  # at the default 1360 wide, the longest bundled title fits the list whole
        self.setCentralWidget(splitter)
        self._build_menus()
        self.model_list.entry_selected.connect(self.show_entry)
        self.resize(1360, 860)
        self.show_entry(None)

    EMPTY_TEXT = ("<h3>No model is open</h3>"
                  "<p>Open a checkpoint (<code>.pt</code>) written by <code>cvae-train</code> with <b>File › Open…</b> "
                  "(Ctrl+O), or give its path on the command line: <code>cvae-explorer runs/model.pt</code>.</p>")

    def _build_empty_state(self) -> QtWidgets.QWidget:
        """What the right side shows while no model is open: how to open one, not controls over nothing (and,
        while the bundled models are being opened, that they are)."""
        page = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(page)
        layout.addStretch(1)
        self.empty_label = QtWidgets.QLabel(self.EMPTY_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setMaximumWidth(520)
        # No alignment flag on the label's layout item: an aligned item is given its unwrapped size hint's height,
        # which cut the text after its first line; centred by stretches instead, it gets the height its width needs.
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.empty_label, 100)
        row.addStretch(1)
        layout.addLayout(row)
        self.empty_open_button = QtWidgets.QPushButton("Open checkpoint…")
        self.empty_open_button.clicked.connect(self.open_dialog)
        layout.addWidget(self.empty_open_button, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        self.empty_train_button = QtWidgets.QPushButton("Train a new model…")
        self.empty_train_button.clicked.connect(lambda: self.select_panel("train"))
        layout.addWidget(self.empty_train_button, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        self._loading = None
        return page

    def show_loading(self, message: str | None) -> None:
        """While `message` (e.g. the bundled models being opened), the empty side says that instead of "No model
        is open" and offers no buttons; None: back to the empty state's own text, shown when no model is open."""
        self._loading = message
        self.empty_label.setText(f"<h3>{message}</h3>" if message else self.EMPTY_TEXT)
        for button in (self.empty_open_button, self.empty_train_button):
            button.setVisible(not message)

    def fit_model_list(self) -> None:
        """Give the model list the height of its rows (up to 40% of the column) and the card the rest."""
        total = sum(self.left_splitter.sizes()) or self.left_splitter.height()
        if total <= 0:
            return
        wanted = self.model_list.sizeHint().height() + self.models_heading.sizeHint().height() + 6
        top = min(wanted, int(total * 0.4))
        self.left_splitter.setSizes([top, total - top])

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if not self._user_sized_list:
            self.fit_model_list()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = file_menu.addAction("&Open…")
        open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.open_dialog)
        data_action = file_menu.addAction("Choose &data folder…")
        data_action.triggered.connect(self.choose_data_folder)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        view_menu = self.menuBar().addMenu("&View")
        for index, panel in enumerate(self.panels):
            action = view_menu.addAction(panel.title)
            action.setShortcut(QtGui.QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda checked=False, key=panel.key: self.select_panel(key))
        self.help_menu = add_help_menu(self, lambda: gestures(self.current_entry()))

    # ----- models -----
    def open_paths(self, paths, bundled: bool = False, replace: bool = False) -> list[ModelEntry]:
        """Open checkpoints; a bad one is reported (dialog or stderr) and skipped, the rest still open.
        `replace`: a file that is already open is read again (a run that trained further)."""
        opened = []
        for path in paths:
            try:
                entry = open_entry(path, bundled=bundled)
            except CvaeError as exc:
                self.report_error("Cannot open checkpoint", str(exc))
                continue
            except Exception as exc:  # an unexpected failure must not take the window down either
                self.report_error("Cannot open checkpoint", f"{path}: {type(exc).__name__}: {exc}")
                continue
            row = self.model_list.add_entry(entry, replace=replace)
            opened.append(self.model_list.entries[row])
        if opened:
            self.session.models_listed(self.model_list.entries)  # a judge opened after its model reads it now
        if opened and self.model_list.currentRow() < 0:
            self.select_first_explorable()
        self.fit_model_list()
        return opened

    def select_first_explorable(self) -> None:
        """Select the first model that some panel applies to (the judge has none), else the first."""
        for row, entry in enumerate(self.model_list.entries):
            if any(panel.unavailable_reason(entry) is None for panel in self.panels):
                self.model_list.setCurrentRow(row)
                return
        if self.model_list.entries:
            self.model_list.setCurrentRow(0)

    def open_dialog(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open checkpoints", "", "Checkpoints (*.pt);;All files (*)")
        opened = self.open_paths(paths)
        if opened:
            self.select_model(self.model_list.entries.index(opened[-1]))

    def report_error(self, title: str, message: str) -> None:
        self.errors.append(message)
        if self.dialogs:
            QtWidgets.QMessageBox.critical(self, title, message)
        else:
            print(f"cvae-explorer: {message}", file=sys.stderr)

    def select_model(self, row_or_name) -> bool:
        row = row_or_name if isinstance(row_or_name, int) else self.model_list.find(str(row_or_name))
        if not 0 <= row < len(self.model_list.entries):
            return False
        self.model_list.setCurrentRow(row)
        return True

    def current_entry(self) -> ModelEntry | None:
        return self.model_list.current_entry()

    def _tab_changed(self, index: int) -> None:
        if not self._switching:
            self._preferred_tab = index
            if 0 <= index < len(self.panels):
                self.panels[index].catch_up()  # a hidden panel shows the model selected meanwhile

    def show_entry(self, entry: ModelEntry | None) -> None:
        """Show `entry` (None: no model): the tabs that apply to it are enabled, the user's panel (or the first that
        applies) comes to the front, then the session says which model it is; the panel in front shows it at
        once, the others when they are next shown."""
        self.card.set_entry(entry)
        self._switching = True  # disabling the current tab moves Qt's current tab: not the user's choice
        try:
            for index, panel in enumerate(self.panels):
                reason = None if entry is None else panel.unavailable_reason(entry)
                usable = reason is None and (entry is not None or not panel.needs_model)
                self.tabs.setTabEnabled(index, usable)
                self.tabs.setTabToolTip(index, reason or ("" if entry is not None else "No model selected"))
            if self.tabs.isTabEnabled(self._preferred_tab):
                self.tabs.setCurrentIndex(self._preferred_tab)
            elif not self.tabs.isTabEnabled(self.tabs.currentIndex()):
                enabled = [i for i in range(self.tabs.count()) if self.tabs.isTabEnabled(i)]
                if enabled:
                    self.tabs.setCurrentIndex(enabled[0])
        finally:
            self._switching = False
        self.session.set_model(entry, self.model_list.entries)  # its judge first, then every panel hears of it
        self.right.setCurrentWidget(self.tabs if entry is not None else self.empty_state)
        if entry is not None:
            self.statusBar().showMessage(f"{entry.title}  ·  {entry.path}")
        elif not self.model_list.entries:
            self.statusBar().showMessage("No models: use File › Open… to open a checkpoint")

    # ----- panels -----
    def panel(self, key: str) -> Panel:
        """The panel `key`, showing the selected model (a hidden one catches up now: code is about to use it)."""
        if key not in self._panels:
            raise KeyError(f"unknown panel {key!r}; expected one of {', '.join(p.key for p in self.panels)}")
        panel = self._panels[key]
        panel.catch_up()
        return panel

    def select_panel(self, key: str) -> bool:
        if key not in self._panels:
            raise KeyError(f"unknown panel {key!r}; expected one of {', '.join(p.key for p in self.panels)}")
        index = self.panels.index(self._panels[key])
        if not self.tabs.isTabEnabled(index):
            return False
        self.right.setCurrentWidget(self.tabs)
        self.tabs.setCurrentIndex(index)
        self._preferred_tab = index
        return True

    def choose_data_folder(self) -> None:
        self.session.choose_data_dir(self)

    def set_data_dir(self, folder) -> None:
        """One data folder for every panel, remembered for the next session (the session's)."""
        self.session.set_data_dir(folder)

    # ----- jobs -----
    def checkpoint_ready(self, path) -> None:
        """A training job wrote `path`: open it (again, if it is open: it trained further) and say so."""
        opened = self.open_paths([path], replace=True)
        if opened:
            self.statusBar().showMessage(f"{opened[0].name} is in the model list: explore it in the other tabs")

    def ask_to_stop_jobs(self) -> bool:
        """True when the window may close: no job runs, or the user agreed to stop it (nothing is lost but the
        epoch under way: the last finished one is saved)."""
        if not self.runner.running():
            return True
        if self.dialogs:
            answer = QtWidgets.QMessageBox.question(
                self, "A job is running", "A training or evaluation job is running. Stop it and quit? "
                "The last finished epoch stays saved; --resume (or Resume…) continues it.")
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return False
        return True

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        if not self.ask_to_stop_jobs():
            event.ignore()
            return
        self.statusBar().showMessage("Stopping the running job after its current batch …")
        self.runner.shutdown()
        super().closeEvent(event)

    def flush(self) -> None:
        for panel in self.panels:
            panel.flush()
