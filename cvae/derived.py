"""What a checkpoint ships for the explorer, derived from the model and its data, no image stored: the test set's
encodings for the latent map, and for face models the encodings of a few held-out faces (Interpolate and Edit
without a data folder), training attribute rows and rates (Generate's "sample attributes like the data"; the
attributes an edit implies) and latent attribute directions (Edit and Generate's "direction" and "both" modes).

`derive` computes it from what the model can do (its capabilities, never its family); the training loop's save and
the build scripts both call it, so a model trained by `cvae-train` or the Train panel ships the same as a bundled
one. On disk it stays the checkpoint's plain `derived` dictionary of tensors, under the keys below; `Derived.of`
reads it back typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from cvae.attribute_edits import attribute_directions
from cvae.latent import encode_means

SAMPLE_FACES = 48  # held-out faces whose encodings stand in for images in Interpolate and Edit
ATTRIBUTE_ROWS = 2_000  # training attribute rows Generate draws "like the data" from
DIRECTION_FACES = 3_000  # training faces whose posterior means the attribute directions are fitted to
BATCH = 256  # images per encoder call: a face batch of this size stays well inside a GPU's memory


@dataclass(eq=False)  # tensors have no single truth value: compare the fields one by one
class Derived:
    test_encodings: torch.Tensor | None = None   # (N, latent) posterior means of the test set, half precision
    test_labels: torch.Tensor | None = None      # (N,) class indices or (N, A) attributes, as the test set has them
    sample_means: torch.Tensor | None = None     # (K, latent) posterior means of K held-out faces, half precision
    sample_labels: torch.Tensor | None = None    # (K, A) uint8: those faces' attributes
    attribute_rows: torch.Tensor | None = None   # (R, A) uint8: the first R training faces' attributes
    attribute_rates: torch.Tensor | None = None  # (A,) float: each attribute's rate over the training set
    # (A, latent) half precision: the latent vector that adds each attribute, the others held fixed
    # (cvae.attribute_edits.attribute_directions of the first DIRECTION_FACES training faces' posterior means)
    attribute_directions: torch.Tensor | None = None
    # entries this version does not know (a newer writer's), kept as they were read
    extra: dict = field(default_factory=dict)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "extra"]

    def to_dict(self) -> dict:
        """The checkpoint's `derived` entry: only what is there, tensors on the CPU."""
        entries = {key: getattr(self, key) for key in self.keys() if getattr(self, key) is not None}
        return {**self.extra, **{k: v.detach().cpu() for k, v in entries.items()}}

    @classmethod
    def from_dict(cls, entries: dict | None) -> "Derived":
        """From a `derived` entry as read; a known entry that is not a tensor (nor convertible to one) is left
        out, as if absent, so that a reader only ever sees tensors or None."""
        entries = dict(entries or {})
        known = {}
        for key in cls.keys():
            value = entries.pop(key, None)
            if value is not None and not torch.is_tensor(value):
                try:
                    value = torch.as_tensor(value)
                except (TypeError, ValueError, RuntimeError):
                    value = None
            known[key] = value
        return cls(**known, extra=entries)

    @classmethod
    def of(cls, checkpoint) -> "Derived":
        """A loaded Checkpoint's derived data, typed."""
        return cls.from_dict(getattr(checkpoint, "derived", None))

    def __bool__(self) -> bool:
        return bool(self.extra) or any(getattr(self, key) is not None for key in self.keys())


def derive(model: torch.nn.Module, train, test, sample_faces: int = SAMPLE_FACES,
           attribute_rows: int = ATTRIBUTE_ROWS, batch_size: int = BATCH,
           direction_faces: int = DIRECTION_FACES) -> Derived:
    """What `model` ships for the explorer, from its training and test ImageDatasets (`test` may be None):
    - any model with a latent: the test set's posterior means and labels (none without a test set);
    - a generative model conditioned on attributes: the means and attributes of the first `sample_faces` held-out
      faces (training faces when there is no test set), the first `attribute_rows` training rows and the rates,
      and the attribute directions fitted to the first `direction_faces` training faces' posterior means.
    Batched, in eval mode without gradients (the model's mode is restored after), and inside a forked RNG so that a
    training run's generators are exactly as they were: its exact resume does not depend on whether it derived."""
    caps = model.capabilities
    if not caps.latent_dim:
        return Derived()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return _derive(model, caps, train, test, sample_faces, attribute_rows, batch_size, direction_faces)
    finally:
        model.train(was_training)


def _derive(model, caps, train, test, sample_faces: int, attribute_rows: int, batch_size: int,
            direction_faces: int) -> Derived:
    def means(data, count: int | None = None, half: bool = True) -> torch.Tensor:
        images, labels = data.images[:count], data.labels[:count]
        out = encode_means(model, images, labels if caps.conditional else None, batch_size).cpu()
        return out.half() if half else out.float()

    out = Derived()
    if test is not None:
        out.test_encodings, out.test_labels = means(test), test.labels.cpu()
    if caps.takes_attributes:
        held_out = test if test is not None else train
        out.sample_means = (out.test_encodings[:sample_faces].clone() if held_out is test  # encoded once; a
                            else means(held_out, sample_faces))  # copy, not a view that saves all of them
        out.sample_labels = held_out.labels[:sample_faces].cpu().to(torch.uint8)
        out.attribute_rows = train.labels[:attribute_rows].cpu().to(torch.uint8)
        out.attribute_rates = train.labels.float().mean(0).cpu()
        if direction_faces:
            out.attribute_directions = directions_of(means(train, direction_faces, half=False),
                                                     train.labels[:direction_faces])
    return out


def directions_of(means: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """What ships as `attribute_directions`: attribute_directions of float posterior means, in half precision."""
    return attribute_directions(means.float(), labels.cpu()).half()


def add_attribute_directions(path, data_dir=None, faces: int = DIRECTION_FACES, batch_size: int = BATCH) -> Derived:
    """Give an existing checkpoint file (one written before directions were derived) its attribute directions,
    fitted to the first `faces` training faces of its data set in `data_dir` (else $CVAE_DATA_DIR), as `derive`
    would have; every other entry of the file is re-written as read, atomically. Returns its derived data."""
    from cvae.checkpoint import load_checkpoint, read_checkpoint_dict, write_checkpoint_dict
    from cvae.data import load_dataset
    from cvae.errors import ConfigError

    checkpoint = load_checkpoint(path)
    model, caps = checkpoint.model.eval(), checkpoint.model.capabilities
    if not caps.takes_attributes:
        raise ConfigError(f"{path}: attribute directions need a generative model conditioned on attributes")
    dataset = checkpoint.dataset or {}
    size = dataset.get("image_size") or list(model.config.image_size)
    train = load_dataset(dataset.get("name", "celeba"), data_dir, "train", image_size=int(size[-1]), limit=faces)
    with torch.random.fork_rng(devices=[]):
        means = encode_means(model, train.images[:faces], train.labels[:faces], batch_size)
    raw = read_checkpoint_dict(path)
    derived = Derived.from_dict(raw.get("derived"))
    derived.attribute_directions = directions_of(means, train.labels[:faces])
    raw["derived"] = {**dict(raw.get("derived") or {}), "attribute_directions": derived.attribute_directions}
    write_checkpoint_dict(raw, path)
    return derived
