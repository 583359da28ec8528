"""Evaluate a checkpoint file: held-out loss, conditional accuracy, judge Fréchet distance and FID, written into
the checkpoint's metrics and appended to a JSON report beside it (`NAME.eval.json`).

Torch only. `cvae-eval` (trainer/eval_cli.py) and the explorer's evaluate job both call `evaluate_checkpoint`;
progress goes to an `EvaluationCallback`, cancel is cooperative (checked between batches), user errors are
CvaeError subclasses with one sentence each, and a cancelled or failed evaluation writes nothing.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from cvae import fid
from cvae.checkpoint import load_checkpoint, read_checkpoint_dict
from cvae.data import load_dataset
from cvae.device import resolve_device
from cvae.errors import ConfigError, CvaeError, DatasetError, OutputWriteError, ResourceError
from cvae.metrics import (CONTROL_ATTRIBUTES, attribute_accuracy, attribute_control, classifier_accuracy,
                          conditional_accuracy, edit_control, generated_batches, judge_features, labels_like,
                          mean_loss_terms, reconstruction_accuracy)

METRICS = ("loss", "conditional-accuracy", "judge-fd", "fid", "attribute-control", "editing")
ATTRIBUTE_METRICS = ("attribute-control", "editing")
CONTROL_SAMPLES = 1_000  # prior samples per attribute, decoded forced on and forced off (the face model's card)
EDITED_FACES = 1_000     # held-out faces edited per attribute
DEFAULT_FID_SAMPLES = 10_000
CONDITIONAL_PER_CLASS = 1_000  # prior samples per class for conditional accuracy (as the bundled models' cards)
BUNDLED_JUDGES = {"mnist": "mnist-judge.pt", "fashion-mnist": "fashion-judge.pt", "celeba": "celeba-judge.pt"}  # the judge used when none is given, per data set


class EvaluationCancelled(Exception):
    """Raised by `evaluate_checkpoint` when its cancel flag is seen (between batches); nothing was written."""


class EvaluationCallback:
    """What an evaluation reports; subclass and override what you need (CLI bar, GUI signals)."""

    def on_phase(self, text: str) -> None:
        """A step starts, e.g. "loading the mnist test set" or "held-out loss on 10000 test images"."""

    def on_progress(self, done: int, total: int, what: str) -> None:
        """`done` of `total` images of the current step (`what`: "loss", "conditional accuracy", ...)."""


def report_path(checkpoint: str | os.PathLike) -> Path:
    """NAME.eval.json beside NAME.pt: one JSON list, a record appended per evaluation."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".eval.json")


def bundled_judge(dataset: str) -> Path | None:
    """The bundled judge for a data set (the digit judge for MNIST, the attribute judge for faces), or None."""
    name = BUNDLED_JUDGES.get(dataset)
    if name is None:
        return None
    try:
        from cvae_explorer_resources import FOLDER
    except ImportError:  # running from a checkout that was not installed
        FOLDER = Path(__file__).resolve().parents[1] / "resources"
    path = Path(FOLDER) / name
    return path if path.is_file() else None


def _flag(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    return cancel.is_set if hasattr(cancel, "is_set") else cancel


def parse_metrics(text: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """"loss,fid" or ("loss", "fid") → ("loss", "fid"); unknown names are a ConfigError; None stays None."""
    if text is None:
        return None
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(f"unknown metric {', '.join(map(repr, unknown)) or '(none given)'}; expected some of "
                          f"{', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


def _check_writable(path: Path, what: str) -> None:
    """`path` (a file that may not exist yet) can be replaced: its folder takes new files (tried, since
    permissions lie for root) and an existing file is writable."""
    if path.is_dir():
        raise OutputWriteError(f"{what} {path} is a folder; expected a file or nothing there")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputWriteError(f"cannot write the {what} {path}: {exc.strerror or exc} in {path.parent}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputWriteError(f"the {what} {path} is read-only; expected a writable file")


def _read_report(path: Path) -> list:
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OutputWriteError(f"the evaluation report {path} is not readable JSON ({exc}); move it away to start "
                               "a new one") from None
    if not isinstance(records, list):
        raise OutputWriteError(f"the evaluation report {path} is not a JSON list of records; move it away to start "
                               "a new one")
    return records


def _write_atomically(path: Path, data: bytes) -> None:
    """Temporary file in the same folder, flushed to disk, renamed over `path` (keeping its permissions)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_checkpoint_metrics(path: Path, metrics: dict) -> None:
    """Merge `metrics` into the checkpoint file's own metrics and write it back atomically. The file's dictionary
    is re-saved as read (not rebuilt from a model, as save_checkpoint would), so every tensor keeps its dtype and
    bits (half-precision bundled weights stay half), and training state, history and derived data are kept."""
    raw = read_checkpoint_dict(path)
    raw["metrics"] = {**dict(raw.get("metrics") or {}), **metrics}
    buffer = io.BytesIO()
    torch.save(raw, buffer)
    _write_atomically(path, buffer.getvalue())


def _file_state(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _plan(requested: tuple[str, ...] | None, capabilities, judge, judge_source: str, fid_available: str | None,
          name: str) -> tuple[list[str], dict[str, str]]:
    """The metrics to run and, for those left out of a default run, why. A metric asked for by name that cannot
    apply is a ConfigError saying why."""
    prior = capabilities.generative and capabilities.variational
    reasons: dict[str, str | None] = {"loss": None}
    reasons["conditional-accuracy"] = (
        f"{name} is not conditioned on a class label" if not capabilities.takes_class
        else f"no judge for this data set ({judge_source})" if judge is None
        else None)
    reasons["judge-fd"] = (
        f"{name} has no prior to sample from (an autoencoder or classifier)" if not prior
        else f"{name} takes attributes: the judge Fréchet distance is defined on the digit judge's features; "
             "attribute-control and editing measure a face model" if capabilities.label_kind == "attributes"
        else f"no judge for this data set ({judge_source})" if judge is None
        else None)
    for metric in ATTRIBUTE_METRICS:
        reasons[metric] = (
            f"{name} is not conditioned on attributes" if not capabilities.takes_attributes
            else f"{name} has no prior to sample from" if metric == "attribute-control" and not prior
            else f"no attribute judge for this data set ({judge_source})" if judge is None
            else None)
    reasons["fid"] = (f"{name} has no prior to sample from (an autoencoder or classifier)" if not prior
                      else fid_available)
    if requested is None:
        chosen = [m for m in METRICS if reasons[m] is None]
        quiet = () if capabilities.takes_attributes else ATTRIBUTE_METRICS  # face metrics: no news for digits
        return chosen, {m: reasons[m] for m in METRICS if reasons[m] is not None and m not in quiet}
    for metric in requested:
        if reasons[metric] is not None:
            raise ConfigError(f"{metric} does not apply: {reasons[metric]}")
    return list(requested), {}


def _load_judge(judge_path, dataset: str, model, device) -> tuple[object | None, str]:
    """(judge model or None, where it came from / why there is none)."""
    path = Path(judge_path) if judge_path else bundled_judge(dataset)
    if path is None:
        return None, f"none bundled for {dataset!r}; pass --judge PATH"
    judge_checkpoint = load_checkpoint(path, device)
    wanted = "attribute-judge" if model.capabilities.takes_attributes else "classifier"
    if judge_checkpoint.family != wanted:
        what = "an attribute judge" if wanted == "attribute-judge" else "a judge (a classifier)"
        raise ConfigError(f"--judge {path} is a {judge_checkpoint.family} model, not {what}")
    judge = judge_checkpoint.model.float().eval()
    want, have = model.capabilities.image_shape, judge.capabilities.image_shape
    if want != have:
        raise ConfigError(f"the judge {path} reads {have[0]}×{have[1]}×{have[2]} images but the model makes "
                          f"{want[0]}×{want[1]}×{want[2]}")
    if model.capabilities.takes_attributes and judge.config.num_attributes != model.capabilities.label_count:
        raise ConfigError(f"the judge {path} reads {judge.config.num_attributes} attributes but the model takes "
                          f"{model.capabilities.label_count}")
    if model.capabilities.takes_class and judge.config.num_classes != model.capabilities.label_count:
        raise ConfigError(f"the judge {path} tells {judge.config.num_classes} classes but the model has "
                          f"{model.capabilities.label_count}")
    return judge, str(path)


def evaluate_checkpoint(path: str | os.PathLike, metrics: str | Iterable[str] | None = None,
                        data_dir: str | os.PathLike | None = None, judge_path: str | os.PathLike | None = None,
                        fid_samples: int = DEFAULT_FID_SAMPLES, inception_weights: str | os.PathLike | None = None,
                        device: str = "auto", progress: EvaluationCallback | None = None, cancel=None, *,
                        fid_cache: str | os.PathLike | None = None, fid_network=None,
                        conditional_per_class: int = CONDITIONAL_PER_CLASS, control_samples: int = CONTROL_SAMPLES,
                        seed: int = 0, batch_size: int = 1000,
                        update_checkpoint: bool = True) -> dict:
    """Evaluate the checkpoint at `path` on its data set's test split and record the figures.

    metrics: names from METRICS ("loss", "conditional-accuracy", "judge-fd", "fid", "attribute-control",
        "editing"), as a list or "a,b". None (the default) runs every metric that applies to the model: conditional
        accuracy for class-conditional models, attribute control and editing for attribute models (face models),
        the Fréchet distances for models with a prior, those needing a judge only when there is one
        (`judge_path`, else the bundled judge: the digit judge for MNIST, the attribute judge for CelebA), FID only
        when the Inception weights are found.
        A metric named explicitly that cannot apply is a ConfigError; "fid" without weights a MissingWeightsError.
    data_dir: the data folder (else $CVAE_DATA_DIR); the data set is the one the checkpoint records.
    fid_samples: generated images for FID and the judge Fréchet distance (≥ 2; below 2,048 the result carries a
        note that the figure is biased); the real side uses the test set's first min(fid_samples, test size).
    inception_weights: the FID Inception weights file, if not in torch hub's cache or $CVAE_INCEPTION_WEIGHTS.
    device: "auto", "cpu", "cuda", "cuda:N" or "mps".
    progress: an EvaluationCallback (on_phase(text), on_progress(done, total, what)).
    cancel: a threading.Event or a callable returning True to stop; checked between batches. When it fires,
        EvaluationCancelled is raised and nothing has been written.
    fid_cache: folder for cached reference statistics (default cvae.fid.default_cache_dir()).
    fid_network: a feature network to use instead of the Inception (tests); its statistics are cached apart.
    update_checkpoint: False writes the JSON report only.

    Returns {"status": "done", "checkpoint", "report", "metrics" (the new figures, as written into the
    checkpoint), "samples" (counts per metric), "judge" (path or None), "skipped" ({metric: reason}),
    "notes" (warnings worth showing, e.g. a biased FID), "checkpoint_updated" (bool), "seconds"}.
    Errors a user can cause are CvaeError subclasses (CheckpointError, DatasetError, ConfigError,
    MissingWeightsError, OutputWriteError, ResourceError), each one sentence.
    """
    started = time.perf_counter()
    path = Path(path)
    callback = progress or EvaluationCallback()
    cancelled = _flag(cancel)
    requested = parse_metrics(metrics)
    if isinstance(fid_samples, bool) or not isinstance(fid_samples, int) or fid_samples < 2:
        raise ConfigError(f"--fid-samples must be at least 2 (FID needs a covariance), got {fid_samples}")
    if conditional_per_class < 1:
        raise ConfigError(f"conditional accuracy needs at least 1 sample per class, got {conditional_per_class}")
    torch_device = resolve_device(device)

    def check_cancel() -> None:
        if cancelled():
            raise EvaluationCancelled()

    def ticker(what: str, total: int) -> Callable[[int], None]:
        def tick(done: int) -> None:
            callback.on_progress(min(done, total), total, what)
            check_cancel()
        return tick

    # every input is checked (weights, checkpoint, outputs, judge, data) before the first phase is reported, so
    # that a mistake is one message with nothing before it, and before any long computation
    if requested is not None and "fid" in requested and fid_network is None:
        fid.find_inception_weights(inception_weights)
    checkpoint = load_checkpoint(path, torch_device)
    state_at_load = _file_state(path)
    report = report_path(path)
    previous_records = _read_report(report)
    _check_writable(report, "evaluation report")
    if update_checkpoint:
        _check_writable(path, "checkpoint")
    model = checkpoint.model.eval()
    capabilities = checkpoint.capabilities
    dataset = (checkpoint.dataset or {}).get("name")
    if not dataset:
        raise ConfigError(f"{path} does not record which data set it was trained on; cannot pick its test set")

    judged = {"conditional-accuracy", "judge-fd", *ATTRIBUTE_METRICS}
    wants_judge = capabilities.generative and (requested is None or bool(judged & set(requested)))
    judge, judge_source = (_load_judge(judge_path, dataset, model, torch_device) if wants_judge
                           else (None, "not needed"))
    fid_available = None
    prior = capabilities.generative and capabilities.variational
    if fid_network is None and prior and requested is None:
        try:
            fid.find_inception_weights(inception_weights)
        except CvaeError:
            fid_available = ("the Inception weights are not on this machine (download "
                             f"{fid.WEIGHTS_URL}; then --inception-weights PATH or ${fid.WEIGHTS_ENV})")
    chosen, skipped = _plan(requested, capabilities, judge, judge_source, fid_available, path.name)
    network = None
    if "fid" in chosen:
        network = fid_network if fid_network is not None else fid.load_inception(inception_weights, torch_device)
        if isinstance(network, torch.nn.Module):
            network = network.to(torch_device).eval()

    size = (checkpoint.dataset or {}).get("image_size")
    test = load_dataset(dataset, data_dir, "test", image_size=int(size[0]) if size else None)
    if (test.channels, *test.image_size) != tuple(capabilities.image_shape):
        c, h, w = capabilities.image_shape
        raise DatasetError(f"the {dataset} test set has {test.channels}×{test.image_size[0]}×{test.image_size[1]} "
                           f"images but {path.name} was trained on {c}×{h}×{w}")

    present = [a for a in CONTROL_ATTRIBUTES if a in test.label_names]
    for metric in [m for m in ATTRIBUTE_METRICS if m in chosen] if not present else []:
        reason = f"the {dataset} test set has none of the measured attributes ({', '.join(CONTROL_ATTRIBUTES)})"
        if requested is not None:
            raise ConfigError(f"{metric} does not apply: {reason}")
        chosen.remove(metric)
        skipped[metric] = reason

    results: dict = {}
    samples: dict = {}
    notes: list[str] = []
    try:
        if "loss" in chosen:
            check_cancel()
            callback.on_phase(f"held-out loss on {len(test)} test images")
            terms = mean_loss_terms(model, test, beta=1.0, seed=seed, batch_size=batch_size,
                                    on_batch=ticker("loss", len(test)))
            results.update({f"test_{key}": value for key, value in terms.items()})
            results["test_images"] = len(test)
            samples["loss"] = len(test)
        if "conditional-accuracy" in chosen:
            check_cancel()
            callback.on_phase(f"the judge's accuracy on {len(test)} test images")
            results["judge_accuracy"] = classifier_accuracy(judge, test, batch_size,
                                                            on_batch=ticker("judge accuracy", len(test)))
            count = conditional_per_class * capabilities.label_count
            callback.on_phase(f"conditional accuracy of {count} prior samples")
            overall, per_class = conditional_accuracy(model, judge, per_class=conditional_per_class, seed=seed,
                                                      batch_size=batch_size,
                                                      on_batch=ticker("conditional accuracy", count))
            results.update(conditional_accuracy=overall, conditional_accuracy_per_class=per_class,
                           conditional_samples=count)
            callback.on_phase(f"the judge reading the reconstructions of {len(test)} test images")
            overall, per_class = reconstruction_accuracy(model, judge, test, batch_size,
                                                         on_batch=ticker("reconstruction accuracy", len(test)))
            results.update(reconstruction_accuracy=overall, reconstruction_accuracy_per_class=per_class)
            samples["conditional-accuracy"] = count
        if "attribute-control" in chosen:
            check_cancel()
            count = 2 * len(present) * control_samples
            callback.on_phase(f"attribute control: {control_samples} prior samples × {len(present)} attributes, "
                              "each forced on and off")
            results["attribute_control"] = attribute_control(model, judge, test, present, count=control_samples,
                                                             seed=seed, on_batch=ticker("attribute control", count))
            samples["attribute-control"] = count
        if "editing" in chosen:
            check_cancel()
            faces = min(EDITED_FACES, len(test))
            callback.on_phase(f"editing {faces} held-out faces, one attribute at a time")
            results["editing"] = edit_control(model, judge, test, present, count=faces)
            results["judge_attribute_accuracy"] = attribute_accuracy(judge, test)["mean_accuracy"]
            samples["editing"] = faces
        distances = [m for m in ("judge-fd", "fid") if m in chosen]
        if distances:
            results.update(_frechet_distances(distances, model, test, judge, network, fid_samples, fid_cache,
                                              batch_size, seed, callback, ticker, check_cancel, samples, notes))
    except torch.OutOfMemoryError:
        raise ResourceError(f"out of {torch_device.type.upper()} memory while evaluating {path.name}; nothing was "
                            "written. Try --device cpu.") from None

    check_cancel()  # the last chance: from here on the files are written, and a cancel waits for that
    callback.on_phase("saving")
    updated = False
    if update_checkpoint:
        if _file_state(path) != state_at_load:
            notes.append(f"{path} changed during the evaluation (still training?); its metrics were not updated, "
                         "the figures are in the report only")
        else:
            try:
                write_checkpoint_metrics(path, results)
            except OSError as exc:
                raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}; the file is unchanged") from None
            updated = True
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": path.name, "epoch": checkpoint.epoch, "metrics": results, "samples": samples,
        "judge": judge_source if judge is not None and judged & set(chosen) else None,
        "inception": _network_description(network, inception_weights) if network is not None else None,
        "data": {"dataset": dataset, "split": "test", "images": len(test)},
        "device": str(torch_device), "seed": seed, "skipped": skipped, "notes": notes,
        "checkpoint_updated": updated,
    }
    try:
        _write_atomically(report, (json.dumps(previous_records + [record], indent=1) + "\n").encode())
    except OSError as exc:
        raise OutputWriteError(f"cannot write the evaluation report {report}: {exc.strerror or exc}") from None
    return {"status": "done", "checkpoint": str(path), "report": str(report), "metrics": results,
            "samples": samples, "judge": record["judge"], "skipped": skipped, "notes": notes,
            "checkpoint_updated": updated, "seconds": time.perf_counter() - started,
            "label_names": list(checkpoint.label_names or [])}


def _network_description(network, weights) -> str:
    if isinstance(network, fid.FidInception) and network.weights_name:
        try:
            return str(fid.find_inception_weights(weights))
        except CvaeError:
            return fid.WEIGHTS_FILE
    return fid.network_name(network)


def _frechet_distances(distances, model, test, judge, network, count, cache_dir, batch_size, seed, callback,
                       ticker, check_cancel, samples, notes) -> dict:
    """Judge Fréchet distance and/or FID between `count` prior samples (labels like the test set's) and the test
    set's first min(count, test size) images, from one pass of generation feeding both feature extractors."""
    references = min(count, len(test))
    real = test.images[:references]
    results = {}
    real_stats = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fid.FewSamplesWarning)  # one note below instead, for the whole run
        if "judge-fd" in distances:
            check_cancel()
            callback.on_phase(f"judge features of {references} test images")
            real_stats["judge-fd"] = fid.statistics(
                judge_features(judge, real, batch_size, on_batch=ticker("reference (judge)", references)))
        if "fid" in distances:
            check_cancel()
            callback.on_phase(f"Inception statistics of {references} test images (cached after the first time)")
            mu, sigma, _ = fid.reference_statistics(real, network, test.name, test.split, cache_dir,
                                                    on_batch=ticker("reference (FID)", references))
            real_stats["fid"] = (mu, sigma)
        check_cancel()
        labels = labels_like(test, count) if model.capabilities.conditional else None
        callback.on_phase(f"generating {count} samples for {' and '.join(distances)}")
        features: dict[str, list[np.ndarray]] = {m: [] for m in distances}
        tick = ticker("samples", count)
        done = 0
        for batch in generated_batches(model, count, labels, batch_size, seed=seed):
            if "judge-fd" in distances:
                features["judge-fd"].append(judge_features(judge, batch, batch_size))
            if "fid" in distances:
                features["fid"].append(fid.activations(batch, network))
            done += batch.shape[0]
            tick(done)
        callback.on_phase("Fréchet distances")
        for metric in distances:
            generated = fid.statistics(np.concatenate(features[metric]), "generated images")
            key = metric.replace("-", "_")
            results[key] = fid.frechet_distance(*real_stats[metric], *generated)
            results[f"{key}_samples"] = count
            results[f"{key}_reference_images"] = references
            samples[metric] = {"generated": count, "reference": references}
    if min(count, references) < fid.UNBIASED_SAMPLES:
        notes.append(f"the Fréchet distances use {count} generated and {references} test images, fewer than "
                     f"{fid.UNBIASED_SAMPLES}: biased upwards, comparable only to figures from the same counts")
    return results
