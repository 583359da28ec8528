"""Panels: one module each. A panel says whether it applies to a model, and why not, from what the model can
do (its capabilities), never from which family it is; then it shows that model."""

from __future__ import annotations

from PySide6 import QtWidgets

# one colour per class (matplotlib's tab10), cycled beyond ten classes
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


class Panel(QtWidgets.QWidget):
    key = ""      # the --panel name
    title = ""    # the tab text
    needs_model = True  # False: usable with no model selected (Train starts from nothing)

    @classmethod
    def unavailable_reason(cls, entry) -> str | None:
        """None when the panel applies to the model; otherwise one sentence saying why it does not."""
        return cls.missing(entry.checkpoint.capabilities)

    @classmethod
    def missing(cls, capabilities) -> str | None:
        """What this panel needs and the model lacks, as one sentence; None when it has it all."""
        return None

    def set_entry(self, entry) -> None:
        """Show this model (only called with models for which unavailable_reason is None), or None to clear."""

    def flush(self) -> None:
        """Finish any debounced work now (used before screenshots and in tests)."""


def takes_class(entry) -> bool:
    """True for a generator conditioned on one class of K (a class selector makes sense)."""
    return entry is not None and entry.checkpoint.capabilities.takes_class


def label_word(entry) -> str:
    """'digit' when the class names are the digits themselves, else 'class' (clothing, letters, ...)."""
    names = (entry.checkpoint.label_names or []) if entry is not None else []
    return "digit" if names and all(n.isdigit() and len(n) == 1 for n in names) else "class"
