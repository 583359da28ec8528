"""The model card: what the selected checkpoint is, what it was trained on, and how well it does (the figures'
labels, order and formats are the metric registry's, cvae.metrics_registry, as cvae-eval prints them)."""

from __future__ import annotations

import html

from PySide6 import QtCore, QtWidgets

from cvae import metrics_registry as registry
from cvae.models import FAMILY_NAMES


def card_rows(entry) -> list[tuple[str, str]]:
    """(label, value) rows for a ModelEntry (plain text values, HTML-escaped)."""
    checkpoint = entry.checkpoint
    model = checkpoint.model
    config = model.config
    data = checkpoint.dataset
    train = checkpoint.train_config
    rows = [("Model", html.escape(entry.name) + (" (bundled)" if entry.bundled else "")),
            ("Family", html.escape(FAMILY_NAMES.get(checkpoint.family, checkpoint.family)))]
    if data:
        size = data.get("image_size")
        size_text = f"{size[0]}×{size[1]}" if isinstance(size, (list, tuple)) and len(size) == 2 else "?"
        channels = data.get("channels", config.image_channels)
        count = data.get("count")
        text = f"{data.get('name', '?')}"
        if count:
            text += f", {count:,} {data.get('split', 'train')} images"
        text += f", {size_text}, {'grayscale' if channels == 1 else f'{channels} channels'}"
        rows.append(("Dataset", html.escape(text)))
    capabilities = checkpoint.capabilities
    if capabilities.generative:
        kind = "deterministic code" if not model.variational else "Gaussian posterior, N(0, I) prior"
        rows.append(("Latent size", f"{model.latent_dim} ({kind})"))
    labels = checkpoint.label_names
    if capabilities.label_kind != "none":
        shown = ", ".join(labels[:10]) + (" …" if len(labels) > 10 else "")
        kind = {"class": "one class of", "attributes": "attributes:"}.get(capabilities.label_kind, "")
        rows.append(("Labels", html.escape(f"{kind} {len(labels)}: {shown}".strip())))
    else:
        rows.append(("Labels", "none (unconditional)"))
    wiring = [text for flag, text in ((getattr(config, "label_channels", False), "label as encoder channels"),
                                      (getattr(config, "label_every_layer", False), "label at every decoder layer"))
              if flag and model.conditional]
    if getattr(config, "warp_probability", 0) and capabilities.generative:
        wiring.append(f"trained on {config.warp_probability:.0%} warped images (warp-conditioned)")
    if getattr(config, "decoder_dropout", 0):
        wiring.append(f"decoder dropout {config.decoder_dropout:g}")
    rows.append(("Architecture", html.escape(", ".join(
        [f"conv {'-'.join(str(c) for c in config.conv_channels)}", f"hidden {config.hidden_dim}", *wiring,
         f"{sum(p.numel() for p in model.parameters()):,} parameters"]))))
    planned = train.get("epochs")
    rows.append(("Epochs", f"{checkpoint.epoch}" + (f" of {planned}" if planned and planned != checkpoint.epoch else "")))
    if train:
        parts = []
        for key, label in (("batch_size", "batch"), ("learning_rate", "lr"), ("lr_schedule", "schedule"),
                           ("beta", "β"), ("seed", "seed")):
            if key in train:
                parts.append(f"{label} {train[key]:g}" if isinstance(train[key], float) else f"{label} {train[key]}")
        seconds = checkpoint.metrics.get("train_seconds")
        if isinstance(seconds, (int, float)) and seconds > 0:
            parts.append(f"trained in {seconds / 60:.0f} min" if seconds >= 60 else f"trained in {seconds:.0f} s")
        if parts:
            rows.append(("Training", html.escape(", ".join(parts))))
    for label, text, indented in registry.card_rows(checkpoint.metrics, labels):  # the figures: the registry's
        rows.append((("&nbsp;&nbsp;" if indented else "") + html.escape(label.replace("_", " ")), html.escape(text)))
    return rows


class ModelCard(QtWidgets.QLabel):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.setWordWrap(True)
        self.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMargin(6)
        self.set_entry(None)

    def set_entry(self, entry) -> None:
        if entry is None:
            self.setText("<i>No model selected. Use File › Open… to open a checkpoint.</i>")
            self.setToolTip("")
            return
        cells = "".join(f"<tr><td style='padding-right:10px;color:#444'><b>{label}</b></td>"
                        f"<td>{value}</td></tr>" for label, value in card_rows(entry))
        self.setText(f"<table cellspacing='2'>{cells}</table>")
        self.setToolTip(str(entry.path))
