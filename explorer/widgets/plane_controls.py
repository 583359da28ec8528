"""The "Plane:" row: how a latent of more than two dimensions is laid flat (PCA of the encodings, or a 2-D slice
through two chosen dimensions with the others at the encodings' mean or at zero). It only reports the user's
choice; the panel, which holds the encodings, turns that into a cvae.plane.LatentPlane."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from cvae.plane import IDENTITY, PCA, SLICE

FLAT_REASON = "The latent is 2-D: the map is the latent plane itself."


@dataclass(frozen=True)
class PlaneChoice:
    mode: str                 # IDENTITY (a 2-D latent), PCA or SLICE: cvae.plane's names
    dims: tuple[int, int]     # the slice's x and y dimensions, always two different ones
    base: str                 # where a slice holds the other dimensions: "mean" (of the encodings) or "zero"


class PlaneControls(QtWidgets.QWidget):
    """`changed(PlaneChoice)` fires when the user changes the plane, never while `configure` sets it up."""

    changed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.latent_dim = 2
        self._configuring = False
        self.mode_combo = QtWidgets.QComboBox()
        self.mode_combo.addItem("PCA of the encodings", PCA)
        self.mode_combo.addItem("2-D slice", SLICE)
        self.dim_x = QtWidgets.QSpinBox()
        self.dim_y = QtWidgets.QSpinBox()
        self.base_combo = QtWidgets.QComboBox()
        self.base_combo.addItem("mean of the encodings", "mean")
        self.base_combo.addItem("zero (prior mean)", "zero")
        self.widgets = [self.mode_combo, self.dim_x, self.dim_y, self.base_combo]
        self.mode_combo.currentIndexChanged.connect(self._user_changed)
        self.base_combo.currentIndexChanged.connect(self._user_changed)
        for spin in (self.dim_x, self.dim_y):
            spin.valueChanged.connect(self._user_changed)

        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.title_label = QtWidgets.QLabel("Plane:")
        row.addWidget(self.title_label)
        row.addWidget(self.mode_combo)
        row.addWidget(QtWidgets.QLabel("x = z["))
        row.addWidget(self.dim_x)
        row.addWidget(QtWidgets.QLabel("], y = z["))
        row.addWidget(self.dim_y)
        row.addWidget(QtWidgets.QLabel("], other dimensions at"))
        row.addWidget(self.base_combo)
        row.addStretch(1)

    def configure(self, latent_dim: int, has_encodings: bool) -> None:
        """Set up for a latent of `latent_dim` dimensions: PCA and the encodings' mean when there are encodings
        (otherwise those choices are greyed out), a slice through z[0] and z[1] otherwise; all disabled, with the
        reason as tooltip, for a 2-D latent."""
        self.latent_dim = latent_dim
        self._configuring = True
        try:
            self.mode_combo.setCurrentIndex(0 if has_encodings else 1)
            for spin, value in ((self.dim_x, 0), (self.dim_y, 1)):
                spin.setRange(0, max(0, latent_dim - 1))
                spin.setValue(value)
            self.base_combo.setCurrentIndex(0 if has_encodings else 1)
        finally:
            self._configuring = False
        flat = latent_dim <= 2
        for widget in self.widgets:
            widget.setEnabled(not flat)
            widget.setToolTip(FLAT_REASON if latent_dim == 2 else "")
        uses_encodings = has_encodings or flat
        self.mode_combo.model().item(0).setEnabled(uses_encodings)
        self.base_combo.model().item(0).setEnabled(uses_encodings)
        if not flat:
            self.show_mode(self.mode_combo.currentData())

    def show_mode(self, mode: str) -> None:
        """Enable the dimension and base choices only for a slice (PCA chooses its own axes and centre)."""
        for widget in (self.dim_x, self.dim_y, self.base_combo):
            widget.setEnabled(mode == SLICE)

    def choice(self) -> PlaneChoice:
        mode = IDENTITY if self.latent_dim <= 2 else self.mode_combo.currentData()
        dims = (self.dim_x.value(), self.dim_y.value())
        if dims[0] == dims[1]:
            dims = (dims[0], (dims[0] + 1) % max(2, self.latent_dim))
        return PlaneChoice(mode=mode, dims=dims, base=self.base_combo.currentData())

    def _user_changed(self, *_) -> None:
        if self._configuring or self.latent_dim <= 2:
            return
        self.show_mode(self.mode_combo.currentData())
        self.changed.emit(self.choice())
