"""Panels: one module each. A panel says whether it applies to a model and why not, and shows that model."""

from __future__ import annotations

from PySide6 import QtWidgets

DIGIT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


class Panel(QtWidgets.QWidget):
    key = ""      # the --panel name
    title = ""    # the tab text
    refused_families: dict[str, str] = {}  # model family -> the sentence saying why the panel does not apply

    @classmethod
    def unavailable_reason(cls, entry) -> str | None:
        """None when the panel applies to the model; otherwise one sentence saying why it does not."""
        return cls.refused_families.get(entry.checkpoint.family)

    def set_entry(self, entry) -> None:
        """Show this model (only called with models for which unavailable_reason is None), or None to clear."""

    def flush(self) -> None:
        """Finish any debounced work now (used before screenshots and in tests)."""


def class_labels(entry) -> bool:
    """True for a class-label conditional model (a digit selector makes sense)."""
    model = entry.checkpoint.model
    return bool(model.conditional) and entry.checkpoint.family == "cvae"
