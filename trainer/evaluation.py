"""Evaluate a checkpoint file: held-out loss, conditional accuracy, judge Fréchet distance, FID and the face
metrics, written into the checkpoint's metrics and appended to a JSON report (`NAME.eval.json` beside it; for a
bundled model, in the user's cache folder: the package's folder is not the user's).

Three stages, as pytorch-fid's: `plan_evaluation` checks every input and loads what the run needs (checkpoint,
judge, feature network, test set) and decides which metrics run and why the others do not; `measure` runs them;
`write_results` records the figures. Which metric applies to which model, how it runs and how its figures print is
the metric registry's (cvae.metrics_registry), read here as by the explorer.

Torch only. `cvae-eval` (trainer/eval_cli.py) and the explorer's evaluate job both call `evaluate_checkpoint`;
progress goes to an `EvaluationCallback`, cancel is cooperative (checked after every batch of every metric, the
face metrics' decodes and judge readings included), user errors are CvaeError subclasses with one sentence each,
and a cancelled or failed evaluation writes nothing.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import torch

from cvae import fid
from cvae import metrics_registry as registry
from cvae.checkpoint import Checkpoint, atomic_write, load_checkpoint, read_checkpoint_dict
from cvae.data import load_dataset
from cvae.data.cache import default_cache_dir
from cvae.device import resolve_device
from cvae.errors import ConfigError, CvaeError, DatasetError, OutputWriteError, ResourceError

METRICS = registry.NAMES
CONTROL_SAMPLES = 1_000  # prior samples per attribute, decoded forced on and forced off (the face model's card)
EDITED_FACES = 1_000     # held-out faces edited per attribute
DEFAULT_FID_SAMPLES = 10_000
CONDITIONAL_PER_CLASS = 1_000  # prior samples per class for conditional accuracy (as the bundled models' cards)
BUNDLED_JUDGES = {"mnist": "mnist-judge.pt", "fashion-mnist": "fashion-judge.pt", "celeba": "celeba-judge.pt"}  # the judge used when none is given, per data set
# the second, independent judge that reads every face figure beside the first (issue 20): low-passed faces
BUNDLED_SECOND_JUDGES = {"celeba": "celeba-judge-lowpass.pt"}
parse_metrics = registry.parse


class EvaluationCancelled(Exception):
    """Raised by `evaluate_checkpoint` when its cancel flag is seen (between batches); nothing was written."""


class EvaluationCallback:
    """What an evaluation reports; subclass and override what you need (CLI bar, GUI signals)."""

    def on_phase(self, text: str) -> None:
        """A step starts, e.g. "loading the mnist test set" or "held-out loss on 10000 test images"."""

    def on_progress(self, done: int, total: int, what: str) -> None:
        """`done` of `total` images of the current step (`what`: "loss", "conditional accuracy", ...)."""


def bundled_folder() -> Path:
    """The folder of the bundled checkpoints (the installed package's, or resources/ of a checkout)."""
    try:
        from cvae_explorer_resources import FOLDER
    except ImportError:  # running from a checkout that was not installed
        FOLDER = Path(__file__).resolve().parents[1] / "resources"
    return Path(FOLDER)


def is_bundled(path: str | os.PathLike) -> bool:
    try:
        return Path(path).resolve().parent == bundled_folder().resolve()
    except OSError:
        return False


def bundled_reports_folder() -> Path:
    """Where the reports of bundled models go: <user cache>/cvae-explorer/evaluations ($XDG_CACHE_HOME or
    ~/.cache), beside the decoded-data cache (cvae.data.cache)."""
    return default_cache_dir().parent / "evaluations"


def report_path(checkpoint: str | os.PathLike) -> Path:
    """NAME.eval.json beside NAME.pt (for a bundled model, in `bundled_reports_folder()`): one JSON list, a record
    appended per evaluation."""
    checkpoint = Path(checkpoint)
    name = checkpoint.stem + ".eval.json"
    return bundled_reports_folder() / name if is_bundled(checkpoint) else checkpoint.with_name(name)


def bundled_judge(dataset: str) -> Path | None:
    """The bundled judge for a data set (the digit judge for MNIST, the attribute judge for faces), or None."""
    return _bundled(BUNDLED_JUDGES.get(dataset))


def bundled_second_judge(dataset: str) -> Path | None:
    """The bundled second judge for a data set (the low-pass attribute judge for faces), or None."""
    return _bundled(BUNDLED_SECOND_JUDGES.get(dataset))


def _bundled(name: str | None) -> Path | None:
    path = bundled_folder() / name if name else None
    return path if path is not None and path.is_file() else None


def _flag(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    return cancel.is_set if hasattr(cancel, "is_set") else cancel


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


def write_checkpoint_metrics(path: Path, metrics: dict) -> None:
    """Merge `metrics` into the checkpoint file's own metrics and write it back atomically. The file's dictionary
    is re-saved as read (not rebuilt from a model, as save_checkpoint would), so every tensor keeps its dtype and
    bits (half-precision bundled weights stay half), and training state, history and derived data are kept."""
    raw = read_checkpoint_dict(path)
    raw["metrics"] = {**dict(raw.get("metrics") or {}), **metrics}
    buffer = io.BytesIO()
    torch.save(raw, buffer)
    atomic_write(path, buffer.getbuffer())


def _file_state(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _load_judge(judge_path, dataset: str, model, device, second: bool = False) -> tuple[object | None, str]:
    """(judge model or None, where it came from / why there is none); `second`: the second judge's."""
    path = Path(judge_path) if judge_path else (bundled_second_judge if second else bundled_judge)(dataset)
    if path is None:
        return None, f"none bundled for {dataset!r}; pass {'--second-judge' if second else '--judge'} PATH"
    judge_checkpoint = load_checkpoint(path, device)
    wanted = "attribute-judge" if model.capabilities.takes_attributes else "classifier"
    if judge_checkpoint.family != wanted:
        what = "an attribute judge" if wanted == "attribute-judge" else "a judge (a classifier)"
        raise ConfigError(f"{'--second-judge' if second else '--judge'} {path} is a {judge_checkpoint.family} model, "
                          f"not {what}")
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


@dataclass
class EvaluationPlan:
    """What `plan_evaluation` decided and loaded: everything `measure` and `write_results` need."""

    path: Path
    checkpoint: Checkpoint
    device: torch.device
    metrics: list[str]                  # what runs, in the registry's order
    skipped: dict[str, str]             # {metric: why not}, for a default run
    test: object                        # the test set (cvae.data.ImageDataset)
    judge: object | None
    judge_source: str                   # the judge's path, or why there is none
    second_judge: object | None         # the second attribute judge that reads the face figures too, or None
    second_judge_source: str | None     # its path, or why there is none
    network: object | None              # the FID feature network, when "fid" runs
    inception_weights: str | os.PathLike | None
    report: Path
    previous_records: list
    state_at_load: tuple[int, int]
    update_checkpoint: bool
    settings: dict = field(default_factory=dict)  # seed, batch_size, fid_samples, fid_cache, per-metric counts


@dataclass
class Measurement:
    metrics: dict                       # the figures, as written into the checkpoint
    samples: dict                       # images measured per metric
    notes: list[str]


def plan_evaluation(path: str | os.PathLike, metrics: str | Iterable[str] | None = None,
                    data_dir: str | os.PathLike | None = None, judge_path: str | os.PathLike | None = None,
                    fid_samples: int = DEFAULT_FID_SAMPLES, inception_weights: str | os.PathLike | None = None,
                    device: str = "auto", *, fid_cache: str | os.PathLike | None = None, fid_network=None,
                    conditional_per_class: int = CONDITIONAL_PER_CLASS, control_samples: int = CONTROL_SAMPLES,
                    seed: int = 0, batch_size: int = 1000, update_checkpoint: bool = True,
                    second_judge_path: str | os.PathLike | None | bool = None) -> EvaluationPlan:
    """Check every input (weights, checkpoint, outputs, judge, data) before anything long runs, so that a mistake
    is one message with nothing before it; load what the chosen metrics need. Arguments as evaluate_checkpoint's."""
    path = Path(path)
    requested = parse_metrics(metrics)
    if isinstance(fid_samples, bool) or not isinstance(fid_samples, int) or fid_samples < 2:
        raise ConfigError(f"--fid-samples must be at least 2 (FID needs a covariance), got {fid_samples}")
    if conditional_per_class < 1:
        raise ConfigError(f"conditional accuracy needs at least 1 sample per class, got {conditional_per_class}")
    torch_device = resolve_device(device)
    if requested is not None and "fid" in requested and fid_network is None:
        fid.find_inception_weights(inception_weights)  # asked for by name: no weights is the one error
    checkpoint = load_checkpoint(path, torch_device)
    state_at_load = _file_state(path)
    report = report_path(path)
    if report.parent != path.parent:  # a bundled model's report goes to the user's cache folder
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputWriteError(f"cannot make the folder {report.parent} for the evaluation report: "
                                   f"{exc.strerror or exc}") from None
    previous_records = _read_report(report)
    _check_writable(report, "evaluation report")
    if update_checkpoint:
        _check_writable(path, "checkpoint")
    model = checkpoint.model.eval()
    capabilities = checkpoint.capabilities
    dataset = (checkpoint.dataset or {}).get("name")
    if not dataset:
        raise ConfigError(f"{path} does not record which data set it was trained on; cannot pick its test set")

    wanted = registry.candidates(requested, capabilities)
    if any(registry.JUDGE in m.uses for m in wanted):
        judge, judge_source = _load_judge(judge_path, dataset, model, torch_device)
    else:
        judge, judge_source = None, "not needed"
    second_judge, second_source = None, None
    if capabilities.takes_attributes and second_judge_path is not False and any(
            m.name in registry.SECOND_JUDGE_METRICS for m in wanted):
        try:
            second_judge, second_source = _load_judge(second_judge_path or None, dataset, model, torch_device, True)
        except ConfigError as exc:
            if second_judge_path:  # asked for by name: a judge that does not fit is the error
                raise
            second_source = f"the bundled second judge does not fit: {exc}"  # (a model of another size)
    unavailable = {registry.JUDGE: None if judge is not None else
                   f"no {'attribute judge' if capabilities.takes_attributes else 'judge'} for this data set "
                   f"({judge_source})", registry.INCEPTION: None}
    if fid_network is None and requested is None and any(registry.INCEPTION in m.uses for m in wanted):
        try:
            fid.find_inception_weights(inception_weights)
        except CvaeError:
            unavailable[registry.INCEPTION] = ("the Inception weights are not on this machine (download "
                                               f"{fid.WEIGHTS_URL}; then --inception-weights PATH or "
                                               f"${fid.WEIGHTS_ENV})")
    chosen, _ = registry.choose(requested, capabilities, path.name, unavailable)  # refused before loading data
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
    chosen, skipped = registry.choose(requested, capabilities, path.name, unavailable, dataset, test.label_names)
    return EvaluationPlan(
        path=path, checkpoint=checkpoint, device=torch_device, metrics=chosen, skipped=skipped, test=test,
        judge=judge, judge_source=judge_source, second_judge=second_judge, second_judge_source=second_source,
        network=network, inception_weights=inception_weights,
        report=report, previous_records=previous_records, state_at_load=state_at_load,
        update_checkpoint=update_checkpoint,
        settings=dict(seed=seed, batch_size=batch_size, fid_samples=fid_samples, fid_cache=fid_cache,
                      conditional_per_class=conditional_per_class, control_samples=control_samples,
                      edited_faces=EDITED_FACES))


def measure(plan: EvaluationPlan, progress: EvaluationCallback | None = None, cancel=None) -> Measurement:
    """Run the planned metrics (the registry's `run`s). Cancel raises EvaluationCancelled between batches."""
    callback = progress or EvaluationCallback()
    cancelled = _flag(cancel)

    def check_cancel() -> None:
        if cancelled():
            raise EvaluationCancelled()

    def ticker(what: str, total: int) -> Callable[[int], None]:
        def tick(done: int) -> None:
            check_cancel()  # a batch finished after the cancel is not reported: the bar stays where it was
            callback.on_progress(min(done, total), total, what)
            check_cancel()
        return tick

    measuring = registry.Measuring(
        model=plan.checkpoint.model, test=plan.test, judge=plan.judge, second_judge=plan.second_judge,
        network=plan.network,
        attributes=registry.attributes_measured(plan.test.label_names), phase=callback.on_phase, ticker=ticker,
        check_cancel=check_cancel, **plan.settings)
    try:
        results = registry.measure(plan.metrics, measuring)
    except torch.OutOfMemoryError:
        raise ResourceError(f"out of {plan.device.type.upper()} memory while evaluating {plan.path.name}; nothing "
                            "was written. Try --device cpu.") from None
    return Measurement(results, measuring.samples, [*measuring.notes, *registry.figure_notes(results)])


def write_results(plan: EvaluationPlan, measured: Measurement) -> dict:
    """Merge the figures into the checkpoint (unless it changed meanwhile, or update_checkpoint is False) and
    append a record to the report; returns what evaluate_checkpoint returns (without "seconds")."""
    path, notes = plan.path, list(measured.notes)
    updated = False
    if plan.update_checkpoint:
        if _file_state(path) != plan.state_at_load:
            notes.append(f"{path} changed during the evaluation (still training?); its metrics were not updated, "
                         "the figures are in the report only")
        else:
            try:
                write_checkpoint_metrics(path, measured.metrics)
            except OSError as exc:
                raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}; the file is unchanged") from None
            updated = True
    judged = any(registry.JUDGE in registry.metric(name).uses for name in plan.metrics)
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": path.name, "epoch": plan.checkpoint.epoch, "metrics": measured.metrics,
        "samples": measured.samples, "judge": plan.judge_source if plan.judge is not None and judged else None,
        "second_judge": (plan.second_judge_source if plan.second_judge is not None
                         and set(plan.metrics) & set(registry.SECOND_JUDGE_METRICS) else None),
        "inception": (_network_description(plan.network, plan.inception_weights) if plan.network is not None
                      else None),
        "data": {"dataset": (plan.checkpoint.dataset or {}).get("name"), "split": "test", "images": len(plan.test)},
        "device": str(plan.device), "seed": plan.settings["seed"], "skipped": plan.skipped, "notes": notes,
        "checkpoint_updated": updated,
    }
    try:
        atomic_write(plan.report, (json.dumps(plan.previous_records + [record], indent=1) + "\n").encode())
    except OSError as exc:
        raise OutputWriteError(f"cannot write the evaluation report {plan.report}: {exc.strerror or exc}") from None
    return {"status": "done", "checkpoint": str(path), "report": str(plan.report), "metrics": measured.metrics,
            "samples": measured.samples, "judge": record["judge"], "second_judge": record["second_judge"],
            "skipped": plan.skipped, "notes": notes,
            "checkpoint_updated": updated, "label_names": list(plan.checkpoint.label_names or [])}


def evaluate_checkpoint(path: str | os.PathLike, metrics: str | Iterable[str] | None = None,
                        data_dir: str | os.PathLike | None = None, judge_path: str | os.PathLike | None = None,
                        fid_samples: int = DEFAULT_FID_SAMPLES, inception_weights: str | os.PathLike | None = None,
                        device: str = "auto", progress: EvaluationCallback | None = None, cancel=None, *,
                        fid_cache: str | os.PathLike | None = None, fid_network=None,
                        conditional_per_class: int = CONDITIONAL_PER_CLASS, control_samples: int = CONTROL_SAMPLES,
                        seed: int = 0, batch_size: int = 1000, update_checkpoint: bool = True,
                        second_judge_path: str | os.PathLike | None | bool = None) -> dict:
    """Evaluate the checkpoint at `path` on its data set's test split and record the figures: plan → measure →
    write.

    metrics: names from METRICS (cvae.metrics_registry.NAMES: "loss", "conditional-accuracy", "judge-fd", "fid",
        "attribute-control", "editing"), as a list or "a,b". None (the default) runs every metric that applies to
        the model (the registry's capability rules: conditional accuracy for class-conditional models, attribute
        control and editing for attribute models, the Fréchet distances for models with a prior), those needing a
        judge only when there is one (`judge_path`, else the bundled judge: the digit judge for MNIST, the
        attribute judge for CelebA), FID only when the Inception weights are found.
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
    second_judge_path: the second attribute judge that reads attribute control and editing beside the first (their
        figures "attribute_control_second_judge" and "editing_second_judge"); None: the bundled low-pass judge for
        CelebA when it fits the model; False: none.

    Returns {"status": "done", "checkpoint", "report" (its path: beside the checkpoint, or in the user's cache
    folder for a bundled model), "metrics" (the new figures, as written into the checkpoint), "samples" (counts
    per metric), "judge" (path or None), "second_judge" (path or None), "skipped" ({metric: reason}), "notes"
    (warnings worth showing, e.g. a biased FID), "checkpoint_updated" (bool), "label_names", "seconds"}.
    Errors a user can cause are CvaeError subclasses (CheckpointError, DatasetError, ConfigError,
    MissingWeightsError, OutputWriteError, ResourceError), each one sentence.
    """
    started = time.perf_counter()
    plan = plan_evaluation(path, metrics, data_dir, judge_path, fid_samples, inception_weights, device,
                           fid_cache=fid_cache, fid_network=fid_network, conditional_per_class=conditional_per_class,
                           control_samples=control_samples, seed=seed, batch_size=batch_size,
                           update_checkpoint=update_checkpoint, second_judge_path=second_judge_path)
    measured = measure(plan, progress, cancel)
    if _flag(cancel)():  # the last chance: from here on the files are written, and a cancel waits for that
        raise EvaluationCancelled()
    (progress or EvaluationCallback()).on_phase("saving")
    return {**write_results(plan, measured), "seconds": time.perf_counter() - started}


def _network_description(network, weights) -> str:
    if isinstance(network, fid.FidInception) and network.weights_name:
        try:
            return str(fid.find_inception_weights(weights))
        except CvaeError:
            return fid.WEIGHTS_FILE
    return fid.network_name(network)
