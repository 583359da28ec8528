"""Latent-space and label operations the explorer's panels use: sample, encode, decode, grids, interpolation,
edits; and the label arithmetic beside them (edited labels, labels along a path, labels like the data), pure
functions of tensors that the panels call and the tests check once.

The model operations take a GenerativeModel in eval mode and run without gradients; batches go through the decoder
in one call wherever the caller asks for many images.
"""

from __future__ import annotations

import math
from copy import deepcopy

import torch

from cvae.errors import ConfigError
from cvae.models import GenerativeModel
from cvae.plane import LatentPlane, plane_for


def prepare_for_inference(model: torch.nn.Module, copy: bool = True) -> torch.nn.Module:
    """A frozen inference copy of `model` for exploring: eval mode, no gradients, channels-last weights (CPU
    transposed convs run about twice as fast that way), the decoder's label planes folded into precomputed
    responses and few-channel transposed convs run as matmul + fold. Same outputs to float rounding; the
    original model is untouched and keeps training the ordinary way. `copy=False` converts `model` itself, for a
    model just loaded to be explored and nothing else (the explorer's open: no second set of weights in memory)."""
    from cvae.models.layers import ConvDecoder, LabelResponses, UpConv

    prepared = (deepcopy(model) if copy else model).eval().requires_grad_(False).to(memory_format=torch.channels_last)
    for module in prepared.modules():
        if isinstance(module, UpConv):
            module.fast_inference = True
        if isinstance(module, ConvDecoder) and module.label_dim:
            module.folded_labels = LabelResponses()
    return prepared


def _device(model: GenerativeModel) -> torch.device:
    return next(model.parameters()).device


def as_latent(z, model: GenerativeModel) -> torch.Tensor:
    """A point or a batch of points as a float (N, latent_dim) tensor on the model's device."""
    z = torch.as_tensor(z, dtype=torch.float32, device=_device(model))
    return z.reshape(-1, model.latent_dim)


@torch.no_grad()
def decode(model: GenerativeModel, z, labels=None) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] for N latent points; a single label applies to all of them."""
    return model.decode(as_latent(z, model), labels)


def prior_codes(model: GenerativeModel, count: int, temperature: float = 1.0,
                seed: int | None = None) -> torch.Tensor:
    """`count` codes z ~ N(0, temperature² I) on the model's device; a seed makes them repeatable (the very codes
    sample_prior decodes with that seed)."""
    generator = torch.Generator(device=_device(model))
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return torch.randn((count, model.latent_dim), generator=generator, device=_device(model)) * temperature


@torch.no_grad()
def sample_prior(model: GenerativeModel, count: int, labels=None, temperature: float = 1.0,
                 seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images decoded from z ~ N(0, temperature² I), and the z used; a seed makes it repeatable."""
    z = prior_codes(model, count, temperature, seed)
    return model.decode(z, labels), z


@torch.no_grad()
def encode_means(model: GenerativeModel, images: torch.Tensor, labels=None, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means for uint8 or [0, 1] float images, in batches."""
    device = _device(model)
    out = []
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start:start + batch_size].to(device)
        chunk = chunk.float() / 255 if chunk.dtype == torch.uint8 else chunk.float()
        chunk_labels = None if labels is None else torch.as_tensor(labels)[start:start + batch_size]
        out.append(model.encode(chunk, chunk_labels)[0])
    return torch.cat(out) if out else torch.empty(0, model.latent_dim, device=device)


@torch.no_grad()
def decode_grid(model: GenerativeModel, x_range: tuple[float, float], y_range: tuple[float, float],
                columns: int, rows: int, labels=None, plane: LatentPlane | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The manifold grid: decode the cell centres of a rectangle of `plane` (by default the latent itself when it
    is 2-D, else the slice through dimensions 0 and 1 at zero) in one batched call.

    Returns (rows·columns, C, H, W) images, row-major from the top, and the (rows·columns, latent_dim) points.
    """
    plane = plane or plane_for(model.latent_dim)
    if plane.latent_dim != model.latent_dim:
        raise ConfigError(f"the plane lies in a {plane.latent_dim}-D latent space but the model's is "
                          f"{model.latent_dim}-D")
    z = plane.grid(x_range, y_range, columns, rows).to(_device(model))
    return model.decode(z, labels), z


def tile(images: torch.Tensor, columns: int, padding: int = 0, pad_value: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) images as one (C, rows·H, columns·W) mosaic, row-major."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    canvas = torch.full((c, rows * (h + padding) + padding, columns * (w + padding) + padding), pad_value,
                        dtype=images.dtype, device=images.device)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        canvas[:, top:top + h, left:left + w] = images[i]
    return canvas


def interpolate(z0, z1, steps: int, method: str = "linear") -> torch.Tensor:
    """`steps` points from z0 to z1 inclusive; `spherical` (slerp) keeps norms typical of the prior."""
    z0 = torch.as_tensor(z0, dtype=torch.float32).reshape(-1)
    z1 = torch.as_tensor(z1, dtype=torch.float32).reshape(-1)
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    if method == "linear":
        return (1 - t) * z0 + t * z1
    if method not in ("spherical", "slerp"):
        raise ConfigError(f"unknown interpolation {method!r}; expected linear or spherical")
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-4:  # nearly parallel: slerp degenerates to lerp
        path = (1 - t) * z0 + t * z1
    else:
        path = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
    return _exact_ends(path, z0, z1)


def _exact_ends(path: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """The path with its first and last points the endpoints themselves, not a rounding of them."""
    if len(path):
        path[0], path[-1] = start, end
    return path


# ----- label arithmetic -----
def edited_labels(labels: torch.Tensor, names, values) -> torch.Tensor:
    """Attribute labels (N, A) with the attributes in `values` ({name: value}) set to that value for every row
    (on at strength s: s, off: 0) and the others kept; `names` are the A columns' names. A new tensor."""
    names = list(names)
    unknown = [name for name in values if name not in names]
    if unknown:
        raise ConfigError(f"no attribute {', '.join(map(repr, unknown))} among the model's {len(names)}")
    edited = torch.as_tensor(labels).float().clone()
    for name, value in values.items():
        edited[:, names.index(name)] = float(value)
    return edited


def toward_class(labels: torch.Tensor, target: int | None, strength: float = 1.0) -> torch.Tensor:
    """Class labels (N, K) as vectors, moved toward the one-hot of class `target` by `strength`: 0 keeps each row's
    own label, 1 is the target's one-hot, in between a mixture, beyond 1 past the target; None keeps them all."""
    edited = torch.as_tensor(labels).float().clone()
    if target is None:
        return edited
    one_hot = torch.zeros_like(edited)
    one_hot[:, int(target)] = 1.0
    return edited + float(strength) * (one_hot - edited)


def path_labels(start: torch.Tensor | None, end: torch.Tensor | None, steps: int,
                interpolate_labels: bool = True) -> torch.Tensor | None:
    """The labels a path of `steps` latent points is decoded under: from `start` to `end` in a straight line (class
    labels as mixtures of one-hots; both ends exactly as given) when `interpolate_labels` and both are given, else
    `start` alone as (1, D), which applies to the whole path; None for a model that takes no label."""
    if start is None:
        return None
    start = torch.as_tensor(start).float().reshape(-1)
    if not interpolate_labels or end is None:
        return start[None]
    return interpolate(start, end, steps, "linear")


def typical_attributes(labels: torch.Tensor | None, label_dim: int) -> torch.Tensor:
    """The attribute vector given to a picture that has none (an opened file, a prior sample): each attribute on
    where it is on for most of `labels` (their means thresholded at ½), all off when there are none that fit."""
    if labels is None or labels.numel() == 0 or labels.dim() != 2 or labels.shape[1] != label_dim:
        return torch.zeros(label_dim)
    return (labels.float().mean(0) > 0.5).float()


LIKE_THE_ROWS, AT_THE_RATES, EVEN_ODDS = "rows", "rates", "even"  # where labels_like_data's rows came from


def labels_like_data(count: int, label_dim: int, rows=(), rates: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, str]:
    """`count` attribute vectors drawn like the data: rows picked at random from the first of `rows` (candidate
    (R, A) tables, e.g. training rows, then held-out faces' rows) that is non-empty and A wide; else each attribute
    drawn at its rate in `rates` (A,); else 50/50. Returns them (float) and where they came from: LIKE_THE_ROWS,
    AT_THE_RATES or EVEN_ODDS."""
    for table in rows:
        if table is not None and len(table) and torch.as_tensor(table).shape[-1] == label_dim:
            table = torch.as_tensor(table).float()
            pick = torch.randint(len(table), (count,), generator=generator)
            return table[pick].clone(), LIKE_THE_ROWS
    if rates is not None and len(rates) == label_dim:
        rates = torch.as_tensor(rates).float().reshape(1, -1).expand(count, -1)
        return torch.bernoulli(rates, generator=generator), AT_THE_RATES
    return torch.bernoulli(torch.full((count, label_dim), 0.5), generator=generator), EVEN_ODDS


@torch.no_grad()
def edit(model: GenerativeModel, images: torch.Tensor, labels, new_labels) -> torch.Tensor:
    """Encode real images under their own labels, then decode their means under edited labels."""
    z = encode_means(model, images, labels)
    return model.decode(z, new_labels)
