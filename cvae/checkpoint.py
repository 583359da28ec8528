"""The single-file checkpoint: weights, configuration, labels, data facts, metrics, and resumable training state.

Files are plain `torch.save` dictionaries of tensors and primitive values, read back with
`torch.load(weights_only=True)`, so opening one never runs code from it. Writes go through `atomic_write` (a
temporary file in the same folder, renamed into place), so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cvae.errors import CheckpointError, CvaeError
from cvae.models import build_model, config_from_dict

FORMAT = "cvae-explorer/checkpoint"
FORMAT_VERSION = 1
# files written before the objective terms moved out of the model kept their label readers in its weights;
# the readers only ever trained, so loading drops them (such a file explores as before but cannot be resumed)
LEGACY_TRAINING_ONLY = ("attribute_reader.", "class_reader.")


@dataclass
class Checkpoint:
    model: nn.Module
    label_names: list[str]
    dataset: dict = field(default_factory=dict)
    train_config: dict = field(default_factory=dict)
    epoch: int = 0
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    training_state: dict | None = None  # optimizer, RNG and scaler state for exact resume
    # what the explorer needs without data (test-set encodings, face samples, attribute rows): cvae.derived's keys,
    # read typed with cvae.derived.Derived.of(checkpoint)
    derived: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.model.config.family

    @property
    def capabilities(self):
        """What the model can do (cvae.models.Capabilities): what panels and tools decide by."""
        return self.model.capabilities


def checkpoint_dict(checkpoint: Checkpoint, half: bool = False) -> dict[str, Any]:
    state = {k: v.detach().cpu() for k, v in checkpoint.model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": checkpoint.model.config.family,
        "model_config": checkpoint.model.config.to_dict(),
        "state_dict": state,
        "label_names": list(checkpoint.label_names),
        "dataset": dict(checkpoint.dataset),
        "train_config": dict(checkpoint.train_config),
        "epoch": int(checkpoint.epoch),
        "metrics": dict(checkpoint.metrics),
        "history": list(checkpoint.history),
        "training_state": checkpoint.training_state,
        "derived": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in checkpoint.derived.items()},
    }


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike, half: bool = False) -> Path:
    """Write atomically (atomic_write): a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_checkpoint_dict(checkpoint_dict(checkpoint, half=half), path)


def write_checkpoint_dict(raw: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a checkpoint's dictionary, as checkpoint_dict builds it or read_checkpoint_dict reads it, atomically:
    a file read, given one new entry (the trainer adds its derived data so) and written back keeps the rest as it
    was, every tensor's dtype and bits included."""
    buffer = io.BytesIO()
    torch.save(raw, buffer)
    return atomic_write(path, buffer.getbuffer())


def atomic_write(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Replace `path` with `data` so that no reader ever sees a half-written file: a temporary file in the same
    folder, flushed to disk, then renamed over the target. The file keeps the replaced file's permissions, or gets
    those of an ordinary new file (0o666 less the umask; mkstemp alone would make it owner-only). Every file the
    project writes in place (checkpoints, evaluation reports) goes through here."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, _file_mode(path))
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _file_mode(path: Path) -> int:
    """The mode a newly created file would get (or the replaced file's own)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def read_checkpoint_dict(path: str | os.PathLike) -> dict[str, Any]:
    """The raw dictionary, after checks that name what is wrong with a file that is not a usable checkpoint."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; expected a checkpoint file (.pt) written by cvae-train")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if not magic:
        raise CheckpointError(f"{path} is empty (0 bytes); expected a checkpoint written by cvae-train")
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{path} is not a cVAE Explorer checkpoint (not a PyTorch checkpoint file at all)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated or damaged (its archive index is missing); "
                              "it cannot be loaded — use an earlier copy")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} holds Python objects other than tensors and plain values; refusing to "
                              f"load it because that could run code ({str(exc).splitlines()[0][:120]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is truncated or damaged ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a cVAE Explorer checkpoint "
                              f"(no '{FORMAT}' format marker)")
    version = raw.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written in checkpoint format version {version}, newer than the "
                              f"{FORMAT_VERSION} this program reads; update cvae-explorer to open it")
    for key in ("family", "model_config", "state_dict"):
        if key not in raw:
            raise CheckpointError(f"{path} is missing its '{key}' entry")
    check_finite_weights(path, raw["state_dict"])
    return raw


def check_finite_weights(path: Path, state: Any) -> None:
    """Refuse weights holding NaN or infinity, naming the first such tensor: a model with them decodes nothing
    useful, and resuming from them cannot recover (the training loop never saves such weights itself)."""
    if not isinstance(state, dict):
        return  # load_checkpoint reports a state_dict that is not a mapping of tensors
    for name, tensor in state.items():
        if not torch.is_tensor(tensor) or not tensor.is_floating_point():
            continue
        finite = torch.isfinite(tensor)
        if bool(finite.all()):
            continue
        nan = int(torch.isnan(tensor).sum())
        inf = int((~finite).sum()) - nan
        what = " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else "") if part)
        raise CheckpointError(f"{path}: weight tensor '{name}' holds {what} value(s) (of {tensor.numel()}); "
                              "expected finite weights — use an earlier checkpoint")


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from its saved configuration and load the weights onto `device` (CPU by default)."""
    raw = read_checkpoint_dict(path)
    try:
        config = config_from_dict(raw["family"], dict(raw["model_config"]))
        with torch.device("meta"):  # no random initialisation of weights that are about to be replaced
            model = build_model(config)
    except (CvaeError, TypeError) as exc:
        raise CheckpointError(f"{path} has an unusable model configuration: {exc}") from None
    state = raw["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path}: its 'state_dict' entry is not a mapping of names to tensors")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()  # half on disk is fine
             if not k.startswith(LEGACY_TRAINING_ONLY)}
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{path}: the weights do not match the saved {raw['family']} configuration "
                              f"({detail})") from None
    model.to(device).eval()
    derived = raw.get("derived") or {}
    labels = list(raw.get("label_names") or [])
    if config.label_dim and len(labels) != config.label_dim:
        raise CheckpointError(f"{path} names {len(labels)} labels but its model expects {config.label_dim}")
    return Checkpoint(
        model=model, label_names=labels, dataset=dict(raw.get("dataset") or {}),
        train_config=dict(raw.get("train_config") or {}), epoch=int(raw.get("epoch") or 0),
        metrics=dict(raw.get("metrics") or {}), history=list(raw.get("history") or []),
        training_state=raw.get("training_state"),
        derived={k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in derived.items()},
    )
