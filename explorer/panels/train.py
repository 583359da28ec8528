"""Train: set up a run (data, model family and sizes, hyperparameters, device, output file), start it as a
background job, watch its loss curves, per-epoch samples and progress, cancel or resume it; the finished
checkpoint joins the model list. The inputs are built from the configuration declarations (cvae.options), the
same ones `cvae-train` reads, and the run is the same TrainJob the CLI's loop runs."""

from __future__ import annotations

import zlib
from pathlib import Path

import pyqtgraph as pg
import torch
from PySide6 import QtCore, QtWidgets

from cvae import latent as L
from cvae import metrics_registry as registry
from cvae.data import DATA_DIR_ENV, DATASETS
from cvae.models import FAMILY_NAMES, config_class
from explorer.images import ImageView
from explorer.jobs import result_text
from explorer.panels import Panel
from explorer.widgets.data_folder import DataFolderField
from explorer.widgets.option_form import OptionForm
from explorer.widgets.plots import epoch_axis, legend_below, span_epochs
from trainer.config import TrainConfig
from trainer.jobs import CANCELLED, FINISHED, TrainJob, TrainSpec
from trainer.progress import format_seconds

FAMILIES = {  # what each data set's labels allow, the conditional one first (the default)
    "mnist": ("cvae", "vae", "ae", "classifier"),
    "fashion-mnist": ("cvae", "vae", "ae", "classifier"),
    "celeba": ("beta-cvae", "vae", "ae", "attribute-judge"),
}
DATASET_DEFAULTS = {  # sensible starting points per data set (everything else: the declared defaults)
    "mnist": {"epochs": 10, "batch_size": 100},
    "fashion-mnist": {"epochs": 10, "batch_size": 100},
    "celeba": {"epochs": 20, "batch_size": 64, "learning_rate": 5e-4},
}
COLOURS = {  # a loss term's (train, held-out) colours; terms not listed take the next pair of PALETTE
    "nelbo": ("#1f77b4", "#d62728"), "rec": ("#aec7e8", "#ff9896"), "cross_entropy": ("#1f77b4", "#d62728"),
    "kl": ("#9467bd", "#e377c2"), "accuracy": ("#2ca02c", "#8c564b"),
}
PALETTE = (("#ff7f0e", "#ffbb78"), ("#17becf", "#9edae5"), ("#bcbd22", "#dbdb8d"), ("#7f7f7f", "#c7c7c7"))


def devices() -> list[tuple[str, str]]:
    """(label, value) of every device this machine has, with what was found; `auto` first."""
    found = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            found.append((f"cuda:{index} — {props.name}, {props.total_memory / 2 ** 30:.0f} GiB", f"cuda:{index}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(("mps — Apple GPU", "mps"))
    best = found[0][0].split(" — ")[0] if found else "cpu"
    return [(f"auto (here: {best})", "auto"), *found, ("cpu", "cpu")]


class TrainPanel(Panel):
    key = "train"
    title = "Train"
    needs_model = False  # a new run starts from nothing

    def __init__(self, session=None, ask=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, parent)  # self.settings, self.runner and the data folder are the session's
        self.ask = ask or self._ask_dialog  # (title, text, choices) -> the chosen one, or None
        self.entry = None
        self.worker = None
        self.history: list[dict] = []
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.last_result = None
        self.shown_output: Path | None = None  # the run whose curves are shown
        self.on_checkpoint_ready = None  # set by the main window: opens the finished checkpoint

        self._build_settings()
        self._build_live()
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        splitter.addWidget(self.settings_scroll)
        splitter.addWidget(self.live)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 700])
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(splitter)
        self._dataset_changed()
        self._set_running(False)

    # ----- construction -----
    def _build_settings(self) -> None:
        box = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(box)

        data = QtWidgets.QGroupBox("Data")
        form = QtWidgets.QFormLayout(data)
        self.dataset_combo = QtWidgets.QComboBox()
        for name in DATASETS:
            self.dataset_combo.addItem(name, name)
        self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(
            self.settings.value("train/dataset", "mnist"))))
        self.dataset_combo.currentIndexChanged.connect(self._dataset_changed)
        form.addRow("Dataset", self.dataset_combo)
        self.data_folder = DataFolderField(self.session, f"the folder that holds MNIST/, celebahq64/ … "
                                                         f"(${DATA_DIR_ENV})")
        self.data_dir_edit = self.data_folder.edit
        form.addRow("Data folder", self.data_folder)
        self.limit_spin = QtWidgets.QSpinBox()
        self.limit_spin.setRange(0, 10_000_000)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setToolTip("Train on the first N training images only (quick runs); 0 = all")
        form.addRow("Training images", self.limit_spin)
        column.addWidget(data)

        model = QtWidgets.QGroupBox("Model")
        model_layout = QtWidgets.QVBoxLayout(model)
        family_row = QtWidgets.QFormLayout()
        self.family_combo = QtWidgets.QComboBox()
        self.family_combo.currentIndexChanged.connect(self._family_changed)
        family_row.addRow("Family", self.family_combo)
        model_layout.addLayout(family_row)
        self.model_form = OptionForm()
        model_layout.addWidget(self.model_form)
        column.addWidget(model)

        training = QtWidgets.QGroupBox("Training")
        training_layout = QtWidgets.QVBoxLayout(training)
        self.train_form = OptionForm()
        self.train_form.set_config_class(TrainConfig, skip=("device",))
        training_layout.addWidget(self.train_form)
        device_row = QtWidgets.QFormLayout()
        self.device_combo = QtWidgets.QComboBox()
        for label, value in devices():
            self.device_combo.addItem(label, value)
        self.device_combo.setToolTip("auto picks CUDA, then MPS, then the CPU (cvae-train --device)")
        device_row.addRow("Device", self.device_combo)
        training_layout.addLayout(device_row)
        column.addWidget(training)

        output = QtWidgets.QGroupBox("Output")
        out_row = QtWidgets.QHBoxLayout(output)
        self.output_edit = QtWidgets.QLineEdit(str(Path("runs") / "model.pt"))
        self.output_edit.setToolTip("The checkpoint, written after every epoch; NAME.metrics.jsonl goes beside it. "
                                    "An existing file is never replaced without asking.")
        out_choose = QtWidgets.QPushButton("Choose…")
        out_choose.clicked.connect(self._choose_output)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(out_choose)
        column.addWidget(output)

        buttons = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.resume_button = QtWidgets.QPushButton("Resume…")
        self.resume_button.setToolTip("Continue a run from its checkpoint (the output file), to its own epoch total "
                                      "or to the Epochs above when that is larger, on the data it was trained on")
        self.resume_button.clicked.connect(self.resume_dialog)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; the last finished epoch stays saved")
        self.cancel_button.clicked.connect(self.cancel)
        for button in (self.start_button, self.resume_button, self.cancel_button):
            buttons.addWidget(button)
        self.other_data_check = QtWidgets.QCheckBox("Resume on other data")
        self.other_data_check.setToolTip("Let a resumed run go on with training data other than its own (another "
                                         "number of images or folder); without it such a resume is refused. The "
                                         "change is recorded in the run's history")
        column.addWidget(self.other_data_check)
        column.addLayout(buttons)
        column.addStretch(1)
        self.settings_scroll = QtWidgets.QScrollArea()
        self.settings_scroll.setWidget(box)
        self.settings_scroll.setWidgetResizable(True)
        self.settings_scroll.setMinimumWidth(340)

    def _build_live(self) -> None:
        self.live = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(self.live)
        self.status_label = QtWidgets.QLabel("Set up a run on the left and press Start training.")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%p%")
        layout.addWidget(self.progress)
        self.spanned_epochs = None  # the run length the x axes show
        # one curve per loss term the run reports (train_X, test_X), made when its first point arrives: the
        # registry's term table says its label and plot, so a model's own terms get curves too
        self.epoch_curves: dict[str, pg.PlotDataItem] = {}
        self._plots = None  # (loss plot, KL plot, batch curve): built when first shown or needed (_ensure_plots)
        self.plots_box = QtWidgets.QWidget()
        QtWidgets.QHBoxLayout(self.plots_box).setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots_box, 2)  # the curves and their legends below them get two thirds
        samples_box = QtWidgets.QHBoxLayout()
        self.samples_view = ImageView("Samples from the model appear here after each epoch", minimum=160)
        self.samples_caption = QtWidgets.QLabel("")
        self.samples_caption.setStyleSheet("color: #666")
        samples_box.addWidget(self.samples_view, 1)
        layout.addLayout(samples_box, 1)
        layout.addWidget(self.samples_caption)

    def _ensure_plots(self) -> tuple:
        """The two plots and the batch-loss curve, built the first time they are shown or drawn on: two pyqtgraph
        plots are most of what this panel costs to build, and a window that never opens the Train tab needs none."""
        if self._plots is None:
            # legends under the plots (inside, they covered the curves); x in epochs, the run's whole length
            loss_plot = pg.PlotWidget(title="Loss per image (nats)")
            legend_below(loss_plot, columns=2)
            epoch_axis(loss_plot)
            loss_plot.showGrid(x=True, y=True, alpha=0.3)
            batch_curve = loss_plot.plot([], [], pen=pg.mkPen("#7f7f7f", width=1), name="loss (batches)")
            kl_plot = pg.PlotWidget(title="KL (nats) or accuracy")
            legend_below(kl_plot, columns=1)
            epoch_axis(kl_plot)
            kl_plot.showGrid(x=True, y=True, alpha=0.3)
            row = self.plots_box.layout()
            row.addWidget(loss_plot, 3)
            row.addWidget(kl_plot, 2)
            self._plots = (loss_plot, kl_plot, batch_curve)
        return self._plots

    @property
    def loss_plot(self) -> pg.PlotWidget:
        return self._ensure_plots()[0]

    @property
    def kl_plot(self) -> pg.PlotWidget:
        return self._ensure_plots()[1]

    @property
    def batch_curve(self) -> pg.PlotDataItem:
        return self._ensure_plots()[2]

    def showEvent(self, event) -> None:
        self._ensure_plots()
        super().showEvent(event)

    # ----- settings -----
    def _dataset_changed(self) -> None:
        dataset = self.dataset_combo.currentData()
        self.family_combo.blockSignals(True)
        self.family_combo.clear()
        for family in FAMILIES.get(dataset, ("cvae",)):
            self.family_combo.addItem(f"{family} — {FAMILY_NAMES.get(family, family)}", family)
        self.family_combo.blockSignals(False)
        for name, value in DATASET_DEFAULTS.get(dataset, {}).items():
            if name in self.train_form.widgets:
                self.train_form.set_value(name, value)
        self._family_changed()

    def _family_changed(self) -> None:
        family = self.family_combo.currentData()
        if family:
            self.model_form.set_config_class(config_class(family))

    def _choose_output(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Checkpoint to write", self.output_edit.text(),
                                                        "Checkpoints (*.pt)")
        if path:
            self.output_edit.setText(path if path.endswith(".pt") else path + ".pt")

    def spec(self, resume: bool = False, overwrite: bool = False) -> TrainSpec:
        """The run the widgets describe (ValueError for a malformed field)."""
        train = self.train_form.values()
        train["device"] = self.device_combo.currentData()
        return TrainSpec(
            dataset=self.dataset_combo.currentData(), output=Path(self.output_edit.text().strip()).expanduser(),
            data_dir=self.data_dir_edit.text().strip() or None, family=self.family_combo.currentData(),
            model=self.model_form.values(), train=train, limit=self.limit_spin.value() or None, resume=resume,
            overwrite=overwrite, resume_other_data=resume and self.other_data_check.isChecked(), epochs_at_least=True)

    # ----- running -----
    def start(self, resume: bool = False) -> bool:
        """Start the run the widgets describe; an existing output file is only replaced or resumed when the user
        says so. False when nothing was started."""
        if self.runner.running("train"):
            self._say("A training run is already going; cancel it first (one at a time).")
            return False
        output = Path(self.output_edit.text().strip()).expanduser()
        if not self.output_edit.text().strip():
            self._say("Choose an output file for the checkpoint.")
            return False
        overwrite = False
        if output.exists() and not resume:
            choice = self.ask("Output file exists", f"{output} already exists. Resume that run, replace it, or "
                              "cancel?", ("Resume", "Replace", "Cancel"))
            if choice == "Resume":
                resume = True
            elif choice == "Replace":
                overwrite = True
            else:
                return False
        try:
            spec = self.spec(resume=resume, overwrite=overwrite)
        except ValueError as exc:
            self._say(str(exc))
            return False
        self.data_folder.commit()  # the run's folder is the session's from now on, and remembered
        self._ensure_plots()  # here, on the GUI thread: the run's curves are drawn on them
        self.settings.setValue("train/dataset", spec.dataset)
        self._reset_live(keep=resume and spec.output == self.shown_output)
        self.shown_output = spec.output
        self.worker = self.runner.start(
            "train", lambda callbacks, cancel: TrainJob(spec, callbacks, cancel),
            slots={"progress": self._progress, "phase": self._phase, "epoch": self._epoch, "samples": self._samples,
                   "ended": self._ended})
        self._set_running(True)
        what = "Resuming" if resume else "Starting"
        self._say(f"{what} {spec.family or 'the default model'} on {spec.dataset} into {spec.output} "
                  "(loading data …)")
        return True

    def resume_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Resume a run", self.output_edit.text(),
                                                        "Checkpoints (*.pt)")
        if path:
            self.output_edit.setText(path)
            self.start(resume=True)

    def cancel(self) -> None:
        if self.runner.running("train"):
            self.runner.cancel("train")
            self._say("Cancelling after the current batch …")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _reset_live(self, keep: bool) -> None:
        """A new run starts from a clean display: no earlier run's progress, ETA, samples or axes. keep: the
        run resumes the one shown, whose epoch curves stay."""
        if not keep:
            self.history = []
        self.batch_x, self.batch_loss = [], []
        self.progress.setMaximum(100)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.samples_view.set_image(None)
        self.samples_caption.setText("")
        for plot in (self.loss_plot, self.kl_plot):  # the earlier run's curves and legend entries go
            item = plot.getPlotItem()
            for curve in [c for c in self.epoch_curves.values() if c in item.items]:
                item.removeItem(curve)
            item.getViewBox().setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # and its axes: the new run's
            item.enableAutoRange()                                              # points set them
        self.epoch_curves = {}
        self.spanned_epochs = None
        self._redraw_curves()

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    # ----- job signals (GUI thread) -----
    def _progress(self, progress) -> None:
        total = progress.epochs * progress.batches
        done = (progress.epoch - 1) * progress.batches + progress.batch
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"epoch {progress.epoch}/{progress.epochs} · %p% · "
                                f"{progress.images_per_second:,.0f} img/s · ETA {format_seconds(progress.eta)}")
        if progress.epochs != self.spanned_epochs:
            self.spanned_epochs = progress.epochs
            for plot in (self.loss_plot, self.kl_plot):
                span_epochs(plot, progress.epochs)
        if progress.loss is not None:
            self.batch_x.append(progress.epoch - 1 + progress.batch / progress.batches)
            self.batch_loss.append(progress.loss)
            self.batch_curve.setData(self.batch_x, self.batch_loss)
        self._say(f"Training: epoch {progress.epoch} of {progress.epochs}, batch {progress.batch} of "
                  f"{progress.batches}")

    def _phase(self, text: str) -> None:
        self._say(f"{text[0].upper()}{text[1:]} …")

    def _epoch(self, record: dict) -> None:
        self.history = [r for r in self.history if r.get("epoch") != record.get("epoch")] + [record]
        self._redraw_curves()

    def _redraw_curves(self) -> None:
        points: dict[str, list[tuple[int, float]]] = {}
        for record in self.history:
            for key, side, term in registry.record_terms(record):
                if key not in self.epoch_curves:
                    self.epoch_curves[key] = self._new_curve(side, term)
                points.setdefault(key, []).append((record["epoch"], record[key]))
        for key, curve in self.epoch_curves.items():
            shown = points.get(key, [])
            curve.setData([p[0] for p in shown], [p[1] for p in shown])
        if not self.batch_x:
            self.batch_curve.setData([], [])

    def _new_curve(self, side: str, term) -> pg.PlotDataItem:
        """A curve for the loss term `term` of one side (train, held-out), in its legend from the start."""
        pair = COLOURS.get(term.name) or PALETTE[zlib.crc32(term.name.encode()) % len(PALETTE)]
        colour = pair[0] if side == "train" else pair[1]
        plot = self.loss_plot if term.axis == "loss" else self.kl_plot
        return plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour,
                         name=f"{side} {term.label}")

    def _samples(self, epoch: int, images) -> None:
        columns = min(8, len(images))
        self.samples_view.set_image(L.tile(images, columns, padding=2, pad_value=0.5))
        self.samples_caption.setText(f"Samples after epoch {epoch} (the same latents every epoch, so they compare)")

    def _ended(self, result) -> None:
        self.last_result = result
        self._set_running(False)
        self.worker = None
        if result.status == FINISHED:
            self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(f"%p% · {result.status}")  # the ETA was the running job's; it has ended
        self._say(result_text(result))
        if result.checkpoint_path is not None and result.status in (FINISHED, CANCELLED):
            if self.on_checkpoint_ready is not None:
                self.on_checkpoint_ready(result.checkpoint_path)

    # ----- dialogs -----
    def _ask_dialog(self, title: str, text: str, choices: tuple[str, ...]) -> str | None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, title, text, parent=self)
        buttons = {box.addButton(choice, QtWidgets.QMessageBox.ButtonRole.AcceptRole): choice for choice in choices}
        box.exec()
        return buttons.get(box.clickedButton())
