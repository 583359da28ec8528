"""What a model's forward pass returns: the loss to minimise and its named terms, and the tensors objective terms
read (pythae's ModelOutput is the model: DistributedDataParallel wraps a forward that returns this unchanged)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch


@dataclass
class LossTerms(Mapping):
    """`loss` (what the optimizers minimise: the model's own objective plus every objective term's share) and
    `terms`, detached per-image means in nats or as each term defines them. Reads like the dict it replaced:
    `terms["loss"]`, `terms["kl"]`, `dict(terms)`, iteration over `loss` then the named terms."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.loss if key == "loss" else self.terms[key]

    def __iter__(self) -> Iterator[str]:
        yield "loss"
        yield from self.terms

    def __len__(self) -> int:
        return 1 + len(self.terms)

    def add(self, name: str, share: torch.Tensor | None, figure: torch.Tensor | None = None) -> None:
        """Add `share` to the loss and report `figure` (default: the share) under `name`."""
        if share is not None:
            self.loss = self.loss + share
        shown = share if figure is None else figure
        if shown is not None:
            if name in self.terms:
                raise ValueError(f"two loss terms are both named {name!r}")
            self.terms[name] = shown.detach()


@dataclass
class ForwardPass:
    """One training forward pass of a generative model, for the objective terms that build on it: the input as
    the networks saw it, the label vector, the posterior, the sampled code and the decode's logits. `cache`
    holds work that several terms share (the decodes under other labels), computed by whichever asks first."""

    x: torch.Tensor
    labels: Any
    y: torch.Tensor | None
    mean: torch.Tensor
    logvar: torch.Tensor | None
    z: torch.Tensor
    logits: torch.Tensor
    warps: torch.Tensor | None = None
    generator: torch.Generator | None = None
    progress: float = 0.0  # epochs of training done so far (fractional): what a term's ramp-up reads
    cache: dict[str, Any] = field(default_factory=dict)
