"""Panels: one module each, registered in PANELS (the tabs' order). A panel says whether it applies to a model, and
why not, from what the model can do (its capabilities), never from which family it is; then it shows that model.

Every panel hears of the model shown through its session (explorer.session): the panel in view shows it at once, a
hidden one when it is next shown (or asked for it: `catch_up`), so selecting a model decodes only what is on screen.
Showing a model (`set_entry`) starts the panel afresh: no result of the previous model stays.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.session import Session

# one colour per class (matplotlib's tab10), cycled beyond ten classes
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

_UP_TO_DATE = object()  # no model change waits for the panel to be shown
GENERATIVE = attrgetter("generative")  # a requirement most panels have: the model makes images


class Panel(QtWidgets.QWidget):
    key = ""      # the --panel name
    title = ""    # the tab text
    needs_model = True  # False: usable with no model selected (Train starts from nothing)
    # what a model must be able to do for the panel to apply: (test of its capabilities, why not in one sentence)
    requirements: tuple[tuple[Callable, str], ...] = ()

    def __init__(self, session: Session | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.session = session if session is not None else Session(parent=self)
        self.settings, self.runner = self.session.settings, self.session.runner
        self.entry = None   # the model shown (explorer.model_list.ModelEntry), None when none is
        self.model = None   # its model
        self._debounced: list[tuple[QtCore.QTimer, Callable]] = []
        self._pending = _UP_TO_DATE
        self.session.model_changed.connect(self._model_changed)

    @classmethod
    def unavailable_reason(cls, entry) -> str | None:
        """None when the panel applies to the model; otherwise one sentence saying why it does not."""
        return cls.missing(entry.checkpoint.capabilities)

    @classmethod
    def missing(cls, capabilities) -> str | None:
        """What this panel needs and the model lacks, as one sentence (the first unmet requirement's); None when it
        has it all."""
        return next((why_not for needed, why_not in cls.requirements if not needed(capabilities)), None)

    def set_entry(self, entry) -> None:
        """Show this model (only called with models for which unavailable_reason is None), or None to clear."""

    def flush(self) -> None:
        """Finish any debounced work now (used before screenshots and in tests)."""
        for timer, slot in self._debounced:
            if timer.isActive():
                timer.stop()
                slot()

    def debounce(self, msecs: int, slot) -> QtCore.QTimer:
        """A single-shot timer that runs `slot` `msecs` after its last start: a burst of widget signals (a slider
        dragged, a preset moving many boxes) makes one decode. `flush` runs it at once."""
        timer = QtCore.QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(msecs)
        timer.timeout.connect(slot)
        self._debounced.append((timer, slot))
        return timer

    # ----- when to show a model -----
    def _model_changed(self, entry) -> None:
        self.show_model(entry if entry is not None and self.unavailable_reason(entry) is None else None)

    def in_view(self) -> bool:
        """False for a hidden tab; a panel on its own (a window of its own, as in tests) is always in view."""
        return self.isWindow() or not self.isHidden()

    def show_model(self, entry) -> None:
        """set_entry now when the panel is in view, else when it is next shown."""
        if not self.in_view():
            self._pending = entry
        else:
            self._pending = _UP_TO_DATE
            self.set_entry(entry)

    def refresh_when_shown(self) -> bool:
        """Something the panel shows changed (the data folder, the judge): True when the panel is in view and
        should redo it now; otherwise it shows its model afresh when next shown."""
        if self.in_view():
            return True
        if self._pending is _UP_TO_DATE:
            self._pending = getattr(self, "entry", None)
        return False

    def catch_up(self) -> None:
        """Show the model selected while the panel was hidden, if one was."""
        if self._pending is not _UP_TO_DATE:
            entry, self._pending = self._pending, _UP_TO_DATE
            self.set_entry(entry)

    @property
    def stale(self) -> bool:
        """True while a model change waits for the panel to be shown."""
        return self._pending is not _UP_TO_DATE

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 (Qt naming)
        self.catch_up()
        super().showEvent(event)


def takes_class(entry) -> bool:
    """True for a generator conditioned on one class of K (a class selector makes sense)."""
    return entry is not None and entry.checkpoint.capabilities.takes_class


def label_word(entry) -> str:
    """'digit' when the class names are the digits themselves, else 'class' (clothing, letters, ...)."""
    names = (entry.checkpoint.label_names or []) if entry is not None else []
    return "digit" if names and all(n.isdigit() and len(n) == 1 for n in names) else "class"


# The panels, in the tabs' order: a new panel is one module and one line here. (Imported last: each module imports
# Panel from this package.)
from explorer.panels.latent_map import LatentMapPanel  # noqa: E402
from explorer.panels.generate import GeneratePanel  # noqa: E402
from explorer.panels.interpolate import InterpolatePanel  # noqa: E402
from explorer.panels.edit import EditPanel  # noqa: E402
from explorer.panels.train import TrainPanel  # noqa: E402
from explorer.panels.evaluate import EvaluatePanel  # noqa: E402

PANELS: tuple[type[Panel], ...] = (LatentMapPanel, GeneratePanel, InterpolatePanel, EditPanel, TrainPanel,
                                   EvaluatePanel)
