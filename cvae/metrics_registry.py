"""The metric registry: every evaluation metric written down once — its name, its label, what a model must be
able to do for it to apply (and the sentence saying why not when it does not), what else it needs (a judge, the
Inception weights), how it runs, the figures it writes and how each prints, on a terminal and on the model card.

`cvae-eval` and the explorer's evaluate job (trainer.evaluation), the Evaluate panel's boxes and table, the model
card and the Train panel's curves all read this module; a new metric is one `Metric` in `METRICS` (and its `run`).

A metric decides by the model's capabilities (cvae.models.Capabilities), never by its family. Torch only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from cvae.errors import ConfigError

JUDGE, INCEPTION = "judge", "inception"  # what a metric may need beyond the model and the test set


# ----- what a metric needs --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Need:
    """A capability a metric needs: `holds(capabilities)`, else `why_not` ("{model}" is the model's name)."""

    holds: Callable[[object], bool]
    why_not: str

    def reason(self, capabilities, model: str) -> str | None:
        return None if self.holds(capabilities) else self.why_not.format(model=model)


PRIOR = Need(lambda c: c.generative and c.variational,
             "{model} has no prior to sample from (an autoencoder or classifier)")
CLASS_LABEL = Need(lambda c: c.takes_class, "{model} is not conditioned on a class label")
ATTRIBUTE_LABELS = Need(lambda c: c.takes_attributes, "{model} is not conditioned on attributes")
NO_ATTRIBUTES = Need(lambda c: c.label_kind != "attributes",
                     "{model} takes attributes: the judge Fréchet distance is defined on the digit judge's features; "
                     "attribute-control and editing measure a face model")


# ----- figures and how they print -------------------------------------------------------------------------------

NATS, PERCENT, COUNT, NUMBER, ROWS = "nats", "percent", "count", "number", "rows"


@dataclass(frozen=True)
class Figure:
    """One figure a metric writes into the checkpoint's metrics under `key`.

    kind: nats, percent, count, number, or rows (a dict shown as labelled rows by `rows(value)`; `columns(value)`
    gives its numbers for a table). sub: shown indented under the figure before it on the card. card: False keeps
    it in the file and the report but off the card (too long there)."""

    key: str
    label: str
    kind: str = NUMBER
    sub: bool = False
    card: bool = True
    rows: Callable[[dict], list[tuple[str, str]]] | None = None
    columns: Callable[[dict], dict[str, float]] | None = None


@dataclass(frozen=True)
class Term:
    """A loss term a model reports per image (the training log's train_NAME and test_NAME)."""

    name: str
    label: str
    unit: str = NATS     # nats or percent
    axis: str = "loss"   # the Train panel's plot: "loss" (nats) or "side" (KL, accuracy)


TERMS = (
    Term("nelbo", "−ELBO"), Term("rec", "reconstruction"), Term("kl", "KL", axis="side"),
    Term("cross_entropy", "cross-entropy"), Term("accuracy", "accuracy", unit=PERCENT, axis="side"),
)
TERM_PREFIXES = {"train_": "train", "test_": "held-out"}


def term(name: str) -> Term:
    """The term called `name`; one the table does not know is a loss term in nats, labelled by its name."""
    return next((t for t in TERMS if t.name == name), None) or Term(name, name.replace("_", " "))


def record_terms(record: dict) -> list[tuple[str, str, Term]]:
    """(key, "train"/"held-out", term) for every loss term an epoch record reports (train_X and test_X numbers)."""
    found = []
    for key, value in record.items():
        for prefix, side in TERM_PREFIXES.items():
            if key.startswith(prefix) and isinstance(value, (int, float)) and not isinstance(value, bool):
                found.append((key, side, term(key[len(prefix):])))
    return found


def _per_label(values: list, names: list[str] | None) -> list[str]:
    return names if names is not None and len(names) == len(values) else [str(i) for i in range(len(values))]


def format_value(value, kind: str, names: list[str] | None = None, compact: bool = False) -> str:
    """Plain text for a figure of `kind`. compact: the card's and the table's shorter form (nats to one decimal,
    per-label percentages as whole numbers). `names`: the label names, for figures given one per label."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        labels = _per_label(list(value), names)
        if kind == PERCENT and compact:
            return ", ".join(f"{name} {100 * v:.0f}" for name, v in zip(labels, value)) + " %"
        if kind == PERCENT:
            return ", ".join(f"{name} {100 * v:.2f} %" for name, v in zip(labels, value))
        return ", ".join(format_value(v, kind, compact=compact) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) and kind in (COUNT, NUMBER):
        return f"{value:,}"
    if kind == NATS:
        return f"{value:.1f} nats" if compact else f"{value:.2f} nats"
    if kind == PERCENT:
        return f"{100 * value:.2f} %" if abs(value) <= 1 else f"{value:.2f} %"
    if kind == COUNT:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _percent(value) -> str:
    return "–" if not isinstance(value, (int, float)) or math.isnan(value) else f"{100 * value:.0f} %"


def _control_rows(control: dict) -> list[tuple[str, str]]:
    return [(f"Control: {name}", f"on {_percent(row['on_rate'])} · off {_percent(row['off_rate'])} · "
                                 f"gap {row['gap']:.2f}")
            for name, row in control.items() if isinstance(row, dict) and {"on_rate", "off_rate", "gap"} <= set(row)]


def _control_columns(control: dict) -> dict[str, float]:
    return {f"gap {name}": row["gap"] for name, row in control.items()
            if isinstance(row, dict) and isinstance(row.get("gap"), (int, float))}


def _editing_rows(editing: dict) -> list[tuple[str, str]]:
    rows = []
    for name, row in (editing.get("attributes") or {}).items():
        if isinstance(row, dict) and {"add_success", "remove_success", "preservation"} <= set(row):
            rows.append((f"Edit: {name}", f"added {_percent(row['add_success'])} · removed "
                                          f"{_percent(row['remove_success'])} · others kept "
                                          f"{100 * row['preservation']:.1f} %"))
    if isinstance(editing.get("reconstruction_mse"), (int, float)):
        rows.append(("Reconstruction error", f"MSE {editing['reconstruction_mse']:.4f} "
                                             f"(PSNR {editing.get('reconstruction_psnr', float('nan')):.1f} dB)"))
    if isinstance(editing.get("faces"), int):
        rows.append(("Edited faces", f"{editing['faces']:,} held-out faces"))
    return rows


def _editing_columns(editing: dict) -> dict[str, float]:
    attributes = editing.get("attributes") or {}
    return {f"edit {name}": row["success"] for name, row in attributes.items()
            if isinstance(row, dict) and isinstance(row.get("success"), (int, float))}


def _by_second_judge(columns: Callable[[dict], dict]) -> Callable[[dict], dict]:
    """A second judge's table columns, named apart so that they sit beside the first judge's, not over them."""
    return lambda value: {f"{name} (2nd judge)": number for name, number in columns(value).items()}


def _rows_by_second_judge(rows: Callable[[dict], list]) -> Callable[[dict], list]:
    """A second judge's card rows, "Control (2nd judge): Smiling": its per-attribute readings only (the
    reconstruction and the face count are the same decodes' as the first judge's rows say)."""
    return lambda value: [(label.replace(":", " (2nd judge):", 1), text) for label, text in rows(value)
                          if ":" in label]


FACE_ATTRIBUTES_SHOWN = ("Smiling", "Eyeglasses", "Male", "Blond_Hair", "Mustache", "Wearing_Hat")


def _judge_attribute_rows(per_attribute: list) -> list[tuple[str, str]]:
    return [(row["name"], f"accuracy {100 * row['accuracy']:.1f} % · balanced {100 * row['balanced_accuracy']:.1f} %"
                          f" · {100 * row['positive_rate']:.1f} % of faces")
            for row in per_attribute if isinstance(row, dict) and row.get("name") in FACE_ATTRIBUTES_SHOWN]


# ----- running: what a metric gets ------------------------------------------------------------------------------

@dataclass
class Measuring:
    """Everything a metric's `run` may use, and where it reports. `ticker(what, total)` gives an on_batch(done)
    that reports progress and raises when the run is cancelled; `phase(text)` names a step; `check_cancel()`."""

    model: object
    test: object
    judge: object = None
    second_judge: object = None          # a second attribute judge reading the same face decodes, or None
    network: object = None               # the FID feature network (Inception), when "fid" runs
    attributes: tuple[str, ...] = ()     # the measured attributes the test set has (face metrics)
    seed: int = 0
    batch_size: int = 1000
    fid_samples: int = 10_000
    fid_cache: object = None
    conditional_per_class: int = 1_000
    control_samples: int = 1_000
    edited_faces: int = 1_000
    phase: Callable[[str], None] = lambda text: None
    ticker: Callable[[str, int], Callable[[int], None]] = lambda what, total: (lambda done: None)
    check_cancel: Callable[[], None] = lambda: None
    samples: dict = field(default_factory=dict)   # metric name -> how many images it measured
    notes: list = field(default_factory=list)     # warnings worth showing (a biased Fréchet distance)


def _run_loss(m: Measuring, names) -> dict:
    from cvae.metrics import mean_loss_terms

    m.phase(f"held-out loss on {len(m.test)} test images")
    terms = mean_loss_terms(m.model, m.test, beta=1.0, seed=m.seed, batch_size=m.batch_size,
                            on_batch=m.ticker("loss", len(m.test)))
    m.samples["loss"] = len(m.test)
    return {**{f"test_{key}": value for key, value in terms.items()}, "test_images": len(m.test)}


def _run_conditional_accuracy(m: Measuring, names) -> dict:
    from cvae.metrics import classifier_accuracy, conditional_accuracy, reconstruction_accuracy

    out = {}
    m.phase(f"the judge's accuracy on {len(m.test)} test images")
    out["judge_accuracy"] = classifier_accuracy(m.judge, m.test, m.batch_size,
                                                on_batch=m.ticker("judge accuracy", len(m.test)))
    count = m.conditional_per_class * m.model.capabilities.label_count
    m.phase(f"conditional accuracy of {count} prior samples")
    out["conditional_accuracy"], out["conditional_accuracy_per_class"] = conditional_accuracy(
        m.model, m.judge, per_class=m.conditional_per_class, seed=m.seed, batch_size=m.batch_size,
        on_batch=m.ticker("conditional accuracy", count))
    out["conditional_samples"] = count
    m.phase(f"the judge reading the reconstructions of {len(m.test)} test images")
    out["reconstruction_accuracy"], out["reconstruction_accuracy_per_class"] = reconstruction_accuracy(
        m.model, m.judge, m.test, m.batch_size, on_batch=m.ticker("reconstruction accuracy", len(m.test)))
    m.samples["conditional-accuracy"] = count
    return out


FACE_BATCH = 100  # faces decoded and judged per batch (at most): a cancel lands within one (~1 s on a laptop CPU)


def _face_batch(m: Measuring) -> int:
    return max(1, min(m.batch_size, FACE_BATCH))


SECOND_JUDGE_METRICS = ("attribute-control", "editing")  # the face figures a second judge reads too (issue 20)


def _face_judges(m: Measuring) -> list:
    """The judges that read the face decodes: the attribute judge, and the second one when there is one."""
    return [m.judge] + ([m.second_judge] if m.second_judge is not None else [])


def _run_attribute_control(m: Measuring, names) -> dict:
    from cvae.metrics import attribute_control

    count = 2 * len(m.attributes) * m.control_samples
    m.phase(f"attribute control: {m.control_samples} prior samples × {len(m.attributes)} attributes, each forced on "
            "and off")
    control = attribute_control(m.model, _face_judges(m), m.test, list(m.attributes), count=m.control_samples,
                                seed=m.seed, batch_size=_face_batch(m), on_batch=m.ticker("attribute control", count))
    m.samples["attribute-control"] = count
    return {"attribute_control": control[0],
            **({"attribute_control_second_judge": control[1]} if m.second_judge is not None else {})}


def _run_editing(m: Measuring, names) -> dict:
    from cvae.metrics import attribute_accuracy, edit_control

    faces = min(m.edited_faces, len(m.test))
    m.phase(f"editing {faces} held-out faces, one attribute at a time")
    editing = edit_control(m.model, _face_judges(m), m.test, list(m.attributes), count=faces,
                           batch_size=_face_batch(m), on_batch=m.ticker("editing", faces * (len(m.attributes) + 2)))
    m.samples["editing"] = faces
    m.check_cancel()
    m.phase(f"the attribute judge's accuracy on {len(m.test)} test images")
    accuracy = attribute_accuracy(m.judge, m.test, _face_batch(m),
                                  on_batch=m.ticker("attribute judge accuracy", len(m.test)))
    return {"editing": editing[0], "judge_attribute_accuracy": accuracy["mean_accuracy"],
            **({"editing_second_judge": editing[1]} if m.second_judge is not None else {})}


def _run_frechet_distances(m: Measuring, names) -> dict:
    """Judge Fréchet distance and/or FID between `fid_samples` prior samples (labels like the test set's) and the
    test set's first min(fid_samples, test size) images, from one pass of generation feeding both extractors."""
    from cvae import fid
    from cvae.metrics import generated_batches, judge_features, labels_like

    count, references = m.fid_samples, min(m.fid_samples, len(m.test))
    real = m.test.images[:references]
    extractors = {"judge-fd": lambda images, **kw: judge_features(m.judge, images, m.batch_size, **kw),
                  "fid": lambda images, **kw: fid.activations(images, m.network, **kw)}
    results, real_stats = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fid.FewSamplesWarning)  # one note below instead, for the whole run
        if "judge-fd" in names:
            m.check_cancel()
            m.phase(f"judge features of {references} test images")
            real_stats["judge-fd"] = fid.statistics(
                extractors["judge-fd"](real, on_batch=m.ticker("reference (judge)", references)))
        if "fid" in names:
            m.check_cancel()
            m.phase(f"Inception statistics of {references} test images (cached after the first time)")
            mu, sigma, _ = fid.reference_statistics(real, m.network, m.test.name, m.test.split, m.fid_cache,
                                                    on_batch=m.ticker("reference (FID)", references))
            real_stats["fid"] = (mu, sigma)
        m.check_cancel()
        labels = labels_like(m.test, count) if m.model.capabilities.conditional else None
        m.phase(f"generating {count} samples for {' and '.join(names)}")
        features: dict[str, list[np.ndarray]] = {name: [] for name in names}
        tick, done = m.ticker("samples", count), 0
        # a face model's samples in face-sized batches (decoding 1,000 faces is seconds on a CPU; a cancel waits
        # for one batch); a digit model's in the usual ones, so its figures repeat those already recorded
        batch_size = _face_batch(m) if m.model.capabilities.takes_attributes else m.batch_size
        for batch in generated_batches(m.model, count, labels, batch_size, seed=m.seed):
            for name in names:  # the extractors' own batches are smaller (Inception: 50): a cancel lands in one
                features[name].append(extractors[name](batch, on_batch=lambda done: m.check_cancel()))
            done += batch.shape[0]
            tick(done)
        m.phase("Fréchet distances")
        for name in names:
            generated = fid.statistics(np.concatenate(features[name]), "generated images")
            key = name.replace("-", "_")
            results[key] = fid.frechet_distance(*real_stats[name], *generated)
            results[f"{key}_samples"] = count
            results[f"{key}_reference_images"] = references
            m.samples[name] = {"generated": count, "reference": references}
    if min(count, references) < fid.UNBIASED_SAMPLES:
        m.notes.append(f"the Fréchet distances use {count} generated and {references} test images, fewer than "
                       f"{fid.UNBIASED_SAMPLES}: biased upwards, comparable only to figures from the same counts")
    return results


def attributes_measured(label_names: Iterable[str] | None) -> tuple[str, ...]:
    """The face attributes the control and editing metrics measure that `label_names` has."""
    from cvae.metrics import CONTROL_ATTRIBUTES

    names = set(label_names or ())
    return tuple(a for a in CONTROL_ATTRIBUTES if a in names)


def _needs_measured_attributes(dataset: str, label_names) -> str | None:
    from cvae.metrics import CONTROL_ATTRIBUTES

    if attributes_measured(label_names):
        return None
    return f"the {dataset} test set has none of the measured attributes ({', '.join(CONTROL_ATTRIBUTES)})"


# ----- the registry ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    """One evaluation metric.

    needs: capabilities the model must have, in the order their reasons are given. uses: JUDGE and/or INCEPTION.
    quiet_unless: when this need fails, a default run does not report the metric as skipped (the face metrics are
    no news for a digit model). ticked: ticked in the Evaluate panel until the user says otherwise (FID is not:
    it needs a file the user provides). run(measuring, names) -> figures; metrics with the same `run` run together
    in one pass (the two Fréchet distances share their generated samples). data_check(dataset, label_names): why
    the test set does not allow it, or None."""

    name: str
    label: str
    help: str
    needs: tuple[Need, ...] = ()
    uses: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    run: Callable[[Measuring, tuple[str, ...]], dict] | None = None
    quiet_unless: Need | None = None
    ticked: bool = True
    data_check: Callable[[str, list[str]], str | None] | None = None

    def why_not(self, capabilities, model: str = "this model") -> str | None:
        """Why the metric does not apply to a model with `capabilities` (a sentence naming `model`), or None."""
        return next((r for r in (need.reason(capabilities, model) for need in self.needs) if r), None)

    def applies(self, capabilities) -> bool:
        return self.why_not(capabilities) is None


LOSS_FIGURES = (
    Figure("test_nelbo", "Test loss (−ELBO)", NATS),
    Figure("test_rec", "reconstruction", NATS, sub=True),
    Figure("test_kl", "KL divergence", NATS, sub=True),
    Figure("test_cross_entropy", "Test cross-entropy", NATS),
    Figure("test_accuracy", "Test accuracy", PERCENT),
    Figure("test_images", "Test images", COUNT),
)

METRICS: tuple[Metric, ...] = (
    Metric("loss", "Held-out loss (−ELBO)",
           "Negative ELBO per test image in nats, one posterior sample, fixed seed (a classifier: its cross-entropy "
           "and accuracy)",
           figures=LOSS_FIGURES, run=_run_loss),
    Metric("conditional-accuracy", "Conditional accuracy",
           "Share of prior samples for each class that the judge reads as that class; beside it, the share of test "
           "images whose reconstructions it reads right (what the decoder can draw at all)",
           needs=(CLASS_LABEL,), uses=(JUDGE,), run=_run_conditional_accuracy, figures=(
               Figure("conditional_accuracy", "Conditional accuracy", PERCENT),
               Figure("conditional_accuracy_per_class", "per label", PERCENT, sub=True),
               Figure("conditional_samples", "prior samples", COUNT, sub=True),
               Figure("reconstruction_accuracy", "Reconstruction accuracy", PERCENT),
               # in the file and in cvae-eval's output, too long for the card beside the per-label list above
               Figure("reconstruction_accuracy_per_class", "per label", PERCENT, sub=True, card=False),
               Figure("judge_accuracy", "Judge's test accuracy", PERCENT))),
    Metric("judge-fd", "Judge Fréchet distance",
           "Fréchet distance between samples and test images in the judge's own features (not FID; no download)",
           needs=(PRIOR, NO_ATTRIBUTES), uses=(JUDGE,), run=_run_frechet_distances, figures=(
               Figure("judge_fd", "Judge Fréchet distance"),
               Figure("judge_fd_samples", "generated images", COUNT, sub=True),
               Figure("judge_fd_reference_images", "test images", COUNT, sub=True))),
    Metric("fid", "FID (Inception)",
           "Fréchet Inception Distance with pytorch-fid's weights (a file you provide once)",
           needs=(PRIOR,), uses=(INCEPTION,), run=_run_frechet_distances, ticked=False, figures=(
               Figure("fid", "FID"),
               Figure("fid_samples", "generated images", COUNT, sub=True),
               Figure("fid_reference_images", "test images", COUNT, sub=True))),
    Metric("attribute-control", "Attribute control",
           "Prior samples decoded with each of six attributes forced on and off: the attribute judge's on-rate, "
           "off-rate and gap",
           needs=(ATTRIBUTE_LABELS, PRIOR), uses=(JUDGE,), quiet_unless=ATTRIBUTE_LABELS, run=_run_attribute_control,
           data_check=_needs_measured_attributes, figures=(
               Figure("attribute_control", "Attribute control", ROWS, rows=_control_rows, columns=_control_columns),
               Figure("attribute_control_second_judge", "Attribute control, second judge", ROWS,
                      rows=_rows_by_second_judge(_control_rows),
                      columns=_by_second_judge(_control_columns)))),
    Metric("editing", "Editing real faces",
           "Held-out faces re-decoded with one attribute flipped: how often the judge sees the flip, and how many "
           "other attributes stay as they were",
           needs=(ATTRIBUTE_LABELS,), uses=(JUDGE,), quiet_unless=ATTRIBUTE_LABELS, run=_run_editing,
           data_check=_needs_measured_attributes, figures=(
               Figure("editing", "Editing", ROWS, rows=_editing_rows, columns=_editing_columns),
               Figure("editing_second_judge", "Editing, second judge", ROWS, rows=_rows_by_second_judge(_editing_rows),
                      columns=_by_second_judge(_editing_columns)),
               Figure("judge_attribute_accuracy", "Attribute judge's test accuracy", PERCENT))),
)
NAMES = tuple(metric.name for metric in METRICS)

# figures other tools write (an attribute judge's card, from its build script), shown after the metrics' own
OTHER_FIGURES = (
    Figure("mean_accuracy", "Mean accuracy (held out)", PERCENT),
    Figure("mean_balanced_accuracy", "Mean balanced accuracy", PERCENT),
    Figure("majority_accuracy", "Majority-class baseline", PERCENT),
    Figure("per_attribute", "Per attribute", ROWS, rows=_judge_attribute_rows),
    Figure("train_seconds", "training time (s)", NUMBER, card=False),  # the card says it with the training
)
FIGURES = {f.key: f for f in (*(f for metric in METRICS for f in metric.figures), *OTHER_FIGURES)}
HIDDEN_PREFIXES = ("train_", "epochs")  # training's own figures: the card shows them elsewhere or not at all


def metric(name: str) -> Metric:
    for candidate in METRICS:
        if candidate.name == name:
            return candidate
    raise ConfigError(f"unknown metric {name!r}; expected one of {', '.join(NAMES)}")


def parse(text: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """"loss,fid" or ("loss", "fid") → ("loss", "fid"); unknown names are a ConfigError; None stays None."""
    if text is None:
        return None
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise ConfigError(f"unknown metric {', '.join(map(repr, unknown)) or '(none given)'}; expected some of "
                          f"{', '.join(NAMES)}")
    return tuple(dict.fromkeys(names))


def candidates(requested: tuple[str, ...] | None, capabilities) -> list[Metric]:
    """The metrics a run may need resources for: those asked for, or (by default) those that apply."""
    if requested is not None:
        return [metric(name) for name in requested]
    return [m for m in METRICS if m.applies(capabilities)]


def choose(requested: tuple[str, ...] | None, capabilities, model: str,
           unavailable: dict[str, str | None] | None = None, dataset: str = "", label_names=None,
           ) -> tuple[list[str], dict[str, str]]:
    """The metrics to run, and for those a default run leaves out, why. `unavailable`: {JUDGE or INCEPTION: why
    it is missing, or None when it is there}. `label_names`: the test set's (None: not checked yet). A metric asked
    for by name that cannot run is a ConfigError saying why."""
    unavailable = unavailable or {}
    reasons: dict[str, str | None] = {}
    for m in METRICS:
        reasons[m.name] = (m.why_not(capabilities, model)
                           or next((unavailable[u] for u in m.uses if unavailable.get(u)), None)
                           or (m.data_check(dataset, label_names) if m.data_check and label_names is not None
                               else None))
    if requested is None:
        chosen = [m.name for m in METRICS if reasons[m.name] is None]
        quiet = {m.name for m in METRICS if m.quiet_unless is not None
                 and m.quiet_unless.reason(capabilities, model) is not None}
        return chosen, {name: why for name, why in reasons.items() if why is not None and name not in quiet}
    for name in requested:
        if reasons[name] is not None:
            raise ConfigError(f"{name} does not apply: {reasons[name]}")
    return list(requested), {}


def measure(names: Iterable[str], measuring: Measuring) -> dict:
    """Run the metrics `names` (in the registry's order; those sharing a `run` in one call) and return their
    figures. Cancel and progress go through `measuring`."""
    wanted = [m for m in METRICS if m.name in set(names)]
    results: dict = {}
    done: set[str] = set()
    for m in wanted:
        if m.name in done:
            continue
        together = tuple(other.name for other in wanted if other.run is m.run)
        measuring.check_cancel()
        results.update(m.run(measuring, together))
        done.update(together)
    return results


# ----- printing -------------------------------------------------------------------------------------------------

def figure(key: str) -> Figure:
    """The registered figure `key`, or one made up from the key (a loss term, an accuracy, a number)."""
    if key in FIGURES:
        return FIGURES[key]
    for prefix, side in TERM_PREFIXES.items():
        if key.startswith(prefix):
            t = term(key[len(prefix):])
            return Figure(key, f"{side} {t.label}", t.unit)
    return Figure(key, key.replace("_", " "), PERCENT if "accuracy" in key else NUMBER)


def format_figure(key: str, value, names: list[str] | None = None, compact: bool = False) -> str:
    """One figure as text; a ROWS figure as one "label  text" line per row (each starting on a new line)."""
    shown = figure(key)
    if shown.kind == ROWS and shown.rows is not None and isinstance(value, (dict, list)):
        return "".join(f"\n  {label:22s} {text}" for label, text in shown.rows(value))
    return format_value(value, shown.kind, names, compact)


NEGATIVE_NATS = ("the loss in nats is negative: a Gaussian density of continuous pixel values can exceed 1, so its "
                 "−log can be below 0 (lower is still better)")
NOTE_LABEL = "note"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def figure_notes(metrics: dict) -> list[str]:
    """What a reader needs to read the figures right, said once for the card, cvae-eval and the Evaluate panel:
    a loss in nats below 0 (a Gaussian likelihood's: a density, not a probability, can exceed 1)."""
    negative = any(figure(key).kind == NATS and _is_number(value) and value < 0 for key, value in metrics.items()
                   if not key.startswith(HIDDEN_PREFIXES))
    return [NEGATIVE_NATS] if negative else []


def card_rows(metrics: dict, names: list[str] | None = None) -> list[tuple[str, str, bool]]:
    """(label, text, indented) rows for a model card: the registered figures in the registry's order (a ROWS
    figure gives its own rows), then every other figure by key, training's own (train_*) left out; the figures'
    notes (figure_notes) as indented rows after the last figure in nats."""
    rows: list[tuple[str, str, bool]] = []
    left = dict(metrics)
    last_nats = None
    for key, shown in FIGURES.items():
        if key not in left:
            continue
        value = left.pop(key)
        if not shown.card:
            continue
        if shown.kind == ROWS:
            if shown.rows is not None and isinstance(value, (dict, list)):
                rows += [(label, text, False) for label, text in shown.rows(value)]
            continue
        rows.append((shown.label, format_value(value, shown.kind, names, compact=True), shown.sub))
        if shown.kind == NATS:
            last_nats = len(rows)
    for key in sorted(left):
        if not key.startswith(HIDDEN_PREFIXES):
            shown = figure(key)
            rows.append((shown.label, format_value(left[key], shown.kind, names, compact=True), False))
            if shown.kind == NATS:
                last_nats = len(rows)
    notes = [(NOTE_LABEL, note, True) for note in figure_notes(metrics)]
    at = len(rows) if last_nats is None else last_nats
    return rows[:at] + notes + rows[at:]


def table_row(metrics: dict) -> dict[str, str]:
    """{column: text} of a metrics record for a table: every single number, and a ROWS figure's `columns`."""
    out: dict[str, str] = {}
    for key, value in metrics.items():
        shown = figure(key)
        if shown.kind == ROWS:
            if shown.columns is not None and isinstance(value, dict):
                out.update({column: format_value(number, NUMBER) for column, number in shown.columns(value).items()})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = format_value(value, shown.kind, compact=True)
    return out


def summary(metrics: dict) -> str:
    """"test_nelbo 98.12 nats, test_images 10,000, …": a record's single numbers on one line."""
    return ", ".join(f"{key} {format_figure(key, value)}" for key, value in metrics.items()
                     if isinstance(value, (int, float)) and not isinstance(value, bool))
