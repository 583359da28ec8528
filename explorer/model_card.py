"""The model card: what the selected checkpoint is, what it was trained on, and how well it does."""

from __future__ import annotations

import html

from PySide6 import QtCore, QtWidgets

from cvae.models import FAMILY_NAMES

# (metric key, label, kind); kinds: nats, percent, number. Unknown keys are listed after these.
METRICS = (
    ("test_nelbo", "Test loss (−ELBO)", "nats"),
    ("test_rec", "&nbsp;&nbsp;reconstruction", "nats"),
    ("test_kl", "&nbsp;&nbsp;KL divergence", "nats"),
    ("conditional_accuracy", "Conditional accuracy", "percent"),
    ("conditional_accuracy_per_class", "&nbsp;&nbsp;per label", "percent"),
    ("conditional_samples", "&nbsp;&nbsp;prior samples", "count"),
    ("reconstruction_accuracy", "Reconstruction accuracy", "percent"),
    ("judge_accuracy", "Judge's test accuracy", "percent"),
    ("test_accuracy", "Test accuracy", "percent"),
    ("fid", "FID", "number"),
    ("fid_samples", "&nbsp;&nbsp;generated images", "count"),
    ("fid_reference_images", "&nbsp;&nbsp;test images", "count"),
    ("judge_fd", "Judge Fréchet distance", "number"),
    ("judge_fd_samples", "&nbsp;&nbsp;generated images", "count"),
    ("judge_fd_reference_images", "&nbsp;&nbsp;test images", "count"),
    ("test_images", "Test images", "count"),
)
HIDDEN_PREFIXES = ("train_", "epochs")
# in the file and in cvae-eval's report, but too long for the card beside the conditional accuracy's per-label list
HIDDEN_KEYS = ("reconstruction_accuracy_per_class",)


def format_metric(value, kind: str, names: list[str] | None = None) -> str:
    """`names`: the model's label names, for figures given one per label (clothing names, not indices)."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        if kind == "percent":  # one figure per label, e.g. conditional accuracy of each digit
            names = names if names is not None and len(names) == len(value) else [str(i) for i in range(len(value))]
            return html.escape(", ".join(f"{name} {100 * v:.0f}" for name, v in zip(names, value)) + " %")
        return html.escape(", ".join(f"{v:.4g}" for v in value))
    if kind == "count" and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if kind == "nats":
        return f"{value:.1f} nats"
    if kind == "percent":
        return f"{100 * value:.2f} %" if abs(value) <= 1 else f"{value:.2f} %"
    return f"{value:.4g}"


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
    metrics = dict(checkpoint.metrics)
    rows += face_rows(metrics)
    for key, label, kind in METRICS:
        if key in metrics:
            rows.append((label, format_metric(metrics.pop(key), kind, labels)))
    for key in sorted(metrics):
        if not key.startswith(HIDDEN_PREFIXES) and key not in HIDDEN_KEYS:
            kind = "percent" if "accuracy" in key else "nats" if key.endswith(("nelbo", "_rec", "_kl")) else "number"
            rows.append((html.escape(key.replace("_", " ")), format_metric(metrics[key], kind, labels)))
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


def face_rows(metrics: dict) -> list[tuple[str, str]]:
    """The face figures, taken out of `metrics`: attribute control and editing per attribute (a face model), the
    judge's accuracy per attribute (an attribute judge), each as one readable row."""
    rows = []
    control = metrics.pop("attribute_control", None)
    if isinstance(control, dict):
        for name, row in control.items():
            if isinstance(row, dict) and {"on_rate", "off_rate", "gap"} <= set(row):
                rows.append((html.escape(f"Control: {name.replace('_', ' ')}"),
                             f"on {100 * row['on_rate']:.0f} % · off {100 * row['off_rate']:.0f} % · "
                             f"gap {row['gap']:.2f}"))
    editing = metrics.pop("editing", None)
    if isinstance(editing, dict):
        for name, row in (editing.get("attributes") or {}).items():
            if isinstance(row, dict) and {"add_success", "remove_success", "preservation"} <= set(row):
                rows.append((html.escape(f"Edit: {name.replace('_', ' ')}"),
                             f"added {100 * row['add_success']:.0f} % · removed {100 * row['remove_success']:.0f} % "
                             f"· others kept {100 * row['preservation']:.1f} %"))
        if isinstance(editing.get("reconstruction_mse"), (int, float)):
            rows.append(("Reconstruction error", f"MSE {editing['reconstruction_mse']:.4f} "
                                                 f"(PSNR {editing.get('reconstruction_psnr', float('nan')):.1f} dB)"))
    per_attribute = metrics.pop("per_attribute", None)
    for key, label in (("mean_accuracy", "Mean accuracy (held out)"),
                       ("mean_balanced_accuracy", "Mean balanced accuracy"),
                       ("majority_accuracy", "Majority-class baseline")):
        if isinstance(metrics.get(key), (int, float)):
            rows.append((label, format_metric(metrics.pop(key), "percent")))
    if isinstance(per_attribute, list):
        for row in per_attribute:
            if isinstance(row, dict) and row.get("name") in FACE_ATTRIBUTES_SHOWN:
                rows.append((html.escape(row["name"].replace("_", " ")),
                             f"accuracy {100 * row['accuracy']:.1f} % · balanced {100 * row['balanced_accuracy']:.1f} %"
                             f" · {100 * row['positive_rate']:.1f} % of faces"))
    return rows


FACE_ATTRIBUTES_SHOWN = ("Smiling", "Eyeglasses", "Male", "Blond_Hair", "Mustache", "Wearing_Hat")
