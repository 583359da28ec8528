"""Evaluate: measure the selected model (held-out loss, conditional accuracy, a Fréchet distance in the judge's
features, FID, the face metrics) as a background job with progress and cancel, and see every past result for it
in one table (from the checkpoint's metrics and its JSON report). The measuring is trainer.evaluation's, the same
as `cvae-eval`'s; which boxes apply to the model, their labels and the table's figures are the metric registry's
(cvae.metrics_registry), so the panel offers exactly what the evaluation accepts."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from cvae import metrics_registry as registry
from cvae.data import DATA_DIR_ENV
from explorer.jobs import result_text
from explorer.panels import GENERATIVE, Panel
from explorer.widgets.data_folder import DataFolderField
from trainer.evaluation import report_path
from trainer.jobs import CANCELLED, FAILED, FINISHED, EvaluateJob

REPORT_SUFFIX = ".eval.json"
IDLE_TEXT = "Choose what to measure and press Evaluate."


def past_metrics(entry) -> list[tuple[str, dict]]:
    """(where, metrics) of every result: the checkpoint's own metrics first, then every record of its JSON report
    (beside the checkpoint, or in the user's cache folder for a bundled model)."""
    found = [("checkpoint", dict(entry.checkpoint.metrics))]
    path = report_path(Path(entry.path))
    try:
        records = json.loads(path.read_text()) if path.is_file() else []
    except (OSError, ValueError):
        records = []
    if isinstance(records, dict):
        records = records.get("evaluations", [records])
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict):
            metrics = record.get("metrics", record)
            if isinstance(metrics, dict):
                found.append((str(record.get("time", record.get("timestamp", "report"))), metrics))
    return found


def past_results(entry) -> list[tuple[str, dict[str, str]]]:
    """(where, {column: text}) rows of past_metrics, as the table shows them."""
    return [(where, registry.table_row(metrics)) for where, metrics in past_metrics(entry)]


def result_notes(entry) -> list[str]:
    """The registry's notes on those figures (a loss in nats below 0: why), each once."""
    notes: list[str] = []
    for _, metrics in past_metrics(entry):
        notes += [note for note in registry.figure_notes(metrics) if note not in notes]
    return notes


def _path_of(entry) -> Path | None:
    return None if entry is None else Path(entry.path).resolve()


class EvaluatePanel(Panel):
    key = "evaluate"
    title = "Evaluate"

    requirements = ((GENERATIVE, "This model is a classifier (a judge): its test accuracy is on its card; "
                                 "evaluation here is for generators."),)

    def __init__(self, session=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, parent)  # self.settings, self.runner and the data folder are the session's
        self.entry = None
        self.last_result = None
        self.on_results_written = None  # set by the main window: re-reads the checkpoint it wrote into
        self.extra_options: dict = {}  # more evaluate_checkpoint arguments (tests: a small FID network)

        layout = QtWidgets.QVBoxLayout(self)
        choose = QtWidgets.QGroupBox("Measure")
        form = QtWidgets.QFormLayout(choose)
        self.metric_checks: dict[str, QtWidgets.QCheckBox] = {}
        # what the user wants measured where it applies: a metric that does not apply shows unticked (and
        # disabled), and comes back ticked or not as the user left it when a model it applies to is selected
        self.wanted_metrics = {metric.name: metric.ticked for metric in registry.METRICS}
        checks = QtWidgets.QGridLayout()  # three to a row: six in one row crowd a laptop-wide window
        for index, metric in enumerate(registry.METRICS):
            name = metric.name
            box = QtWidgets.QCheckBox(metric.label)
            box.setToolTip(metric.help)
            box.setChecked(self.wanted_metrics[name])
            box.toggled.connect(lambda on, name=name, box=box: self._remember(name, box, on))
            self.metric_checks[name] = box
            checks.addWidget(box, index // 3, index % 3)
        checks.setColumnStretch(3, 1)
        form.addRow("Metrics", checks)
        self.samples_spin = QtWidgets.QSpinBox()
        self.samples_spin.setRange(100, 100_000)
        self.samples_spin.setSingleStep(1000)
        self.samples_spin.setValue(int(self.settings.value("evaluate/samples", 10_000)))
        self.samples_spin.setToolTip("Generated images for the Fréchet distances (below 2,048 the estimate is biased)")
        form.addRow("Samples", self.samples_spin)
        self.data_folder = DataFolderField(self.session, f"the folder with the test images (${DATA_DIR_ENV})")
        self.data_dir_edit = self.data_folder.edit
        form.addRow("Data folder", self.data_folder)
        weights_row = QtWidgets.QHBoxLayout()
        self.weights_edit = QtWidgets.QLineEdit(str(self.settings.value("evaluate/inception_weights", "") or ""))
        self.weights_edit.setPlaceholderText("pt_inception-2015-12-05-6726825d.pth (default: torch hub's cache)")
        self.weights_button = QtWidgets.QPushButton("Choose Inception weights…")
        self.weights_button.clicked.connect(self._choose_weights)
        weights_row.addWidget(self.weights_edit, 1)
        weights_row.addWidget(self.weights_button)
        form.addRow("FID weights", weights_row)
        layout.addWidget(choose)

        buttons = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Evaluate")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; nothing is written")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancelling = False  # Cancel was pressed: the job's last progress and phases no longer show
        self.progress = QtWidgets.QProgressBar()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        layout.addLayout(buttons)
        self.status_label = QtWidgets.QLabel(IDLE_TEXT)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        self.table = QtWidgets.QTableWidget()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setToolTip("Every result for this model: its checkpoint's metrics, then each evaluation in its "
                              f"report (NAME{REPORT_SUFFIX})")
        layout.addWidget(self.table, 1)
        self.notes_label = QtWidgets.QLabel("")  # what the figures need said (a negative loss in nats: why)
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: #555")
        layout.addWidget(self.notes_label)
        self._set_running(False)

    # ----- model -----
    def set_entry(self, entry) -> None:
        # another model (not the same file re-read after an evaluation wrote into it): the last result was not its
        changed = _path_of(entry) != _path_of(self.entry)
        self.entry = entry
        if changed and not self.runner.running("evaluate"):
            self._reset_result()
        if entry is None:
            self.table.clear()
            self.table.setRowCount(0)
            self.notes_label.setText("")
            return
        capabilities = entry.checkpoint.capabilities
        for metric in registry.METRICS:
            box, why_not = self.metric_checks[metric.name], metric.why_not(capabilities)
            box.setEnabled(why_not is None)
            box.setChecked(why_not is None and self.wanted_metrics[metric.name])
            box.setToolTip(metric.help if why_not is None else f"Does not apply: {why_not}")
        self.show_results()

    def _reset_result(self) -> None:
        self.last_result = None
        self.status_label.setText(IDLE_TEXT)
        self.progress.setMaximum(100)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.weights_button.setStyleSheet("")

    def _remember(self, name: str, box: QtWidgets.QCheckBox, on: bool) -> None:
        if box.isEnabled():  # the user's tick, not the unticking of a metric that does not apply
            self.wanted_metrics[name] = on

    def show_results(self) -> None:
        rows = past_results(self.entry) if self.entry is not None else []
        notes = result_notes(self.entry) if self.entry is not None else []
        self.notes_label.setText(" ".join(f"Note: {note}." for note in notes))
        keys = sorted({k for _, metrics in rows for k in metrics})
        self.table.clear()
        self.table.setColumnCount(len(keys) + 1)
        self.table.setHorizontalHeaderLabels(["from", *keys])
        self.table.setRowCount(len(rows))
        for row, (where, metrics) in enumerate(rows):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(where))
            for column, key in enumerate(keys, 1):
                if key in metrics:
                    self.table.setItem(row, column, QtWidgets.QTableWidgetItem(metrics[key]))
        self.table.resizeColumnsToContents()

    # ----- running -----
    def chosen_metrics(self) -> list[str]:
        return [name for name, box in self.metric_checks.items() if box.isChecked() and box.isEnabled()]

    def start(self) -> bool:
        if self.entry is None:
            return False
        if self.runner.running("evaluate"):
            self.status_label.setText("An evaluation is already running; cancel it first (one at a time).")
            return False
        metrics = self.chosen_metrics()
        if not metrics:
            self.status_label.setText("Tick at least one metric.")
            return False
        options = {"metrics": tuple(metrics), "data_dir": self.data_folder.commit(),
                   "fid_samples": self.samples_spin.value(),
                   "inception_weights": self.weights_edit.text().strip() or None, "device": "auto",
                   "update_checkpoint": not self.entry.bundled}  # the shipped files stay as shipped
        options.update(self.extra_options)
        self.settings.setValue("evaluate/samples", self.samples_spin.value())
        self.settings.setValue("evaluate/inception_weights", options["inception_weights"] or "")
        path = Path(self.entry.path)
        self._reset_result()
        self.cancelling = False
        worker = self.runner.start("evaluate", lambda callbacks, cancel: EvaluateJob(path, options, callbacks, cancel),
                                   slots={"counted": self._counted, "phase": self._phase, "ended": self._ended})
        if worker is None:
            return False
        self._set_running(True)
        self.status_label.setText(f"Evaluating {self.entry.name}: {', '.join(metrics)} …")
        return True

    def cancel(self) -> None:
        """Cancel the running evaluation: said at once; the job stops after the batch it is on, writing nothing."""
        if not self.runner.running("evaluate"):
            return
        self.runner.cancel("evaluate")
        self.cancelling = True
        self.cancel_button.setEnabled(False)
        self.status_label.setText("Cancelling… (after the current batch; nothing is written)")
        self.progress.setFormat(f"{self.progress.format()} · cancelling…")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _counted(self, done: int, total: int, what: str) -> None:
        if self.cancelling:  # a batch that was already under way: the bar stays where Cancel found it
            return
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{what}: {done:,}/{total:,}")

    def _phase(self, text: str) -> None:
        if not self.cancelling:  # the next phase is not going to run
            self.status_label.setText(f"{text} …")

    def _ended(self, result) -> None:
        self.last_result = result
        self.cancelling = False
        self._set_running(False)
        self.status_label.setText(result_text(result))
        weights_missing = result.status == FAILED and "pt_inception" in result.message
        self.weights_button.setStyleSheet("font-weight: bold" if weights_missing else "")
        if result.status == CANCELLED:  # the bar stays where Cancel found it
            self.progress.setFormat(self.progress.format().replace("cancelling…", "cancelled"))
        if result.status == FINISHED:
            self.progress.setValue(self.progress.maximum())
            if self.on_results_written is not None:
                self.on_results_written(result.checkpoint_path)
            self.show_results()

    # ----- dialogs -----
    def _choose_weights(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "pytorch-fid's Inception weights", str(Path.home()),
                                                        "PyTorch weights (*.pth *.pt)")
        if path:
            self.weights_edit.setText(path)
