"""The judge whose readings the Edit panel shows under each face: chosen among the open models by what it reads
(an attribute judge for a face model, a class judge for a digit model, same image shape), never by file name."""

from __future__ import annotations

import torch


class JudgeReader:
    """images (N, C, H, W) in [0, 1] → (N, K) probabilities: per attribute (0.5 at the judge's own threshold) or
    per class (softmax). `label_names` are the judge's columns, matched to the model's labels by name."""

    def __init__(self, model, label_names: list[str]):
        self.model = model.float().eval()
        self.label_names = list(label_names)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float()
        if hasattr(self.model, "probabilities"):
            return self.model.probabilities(images)
        return torch.softmax(self.model(images).float(), dim=1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(N, K) booleans: the judge's yes/no per column, at its own tuned thresholds (an attribute judge's
        `predict`); for a judge without one, its probabilities at ½."""
        images = images.float()
        if hasattr(self.model, "thresholds") and hasattr(self.model, "predict"):
            return self.model.predict(images).bool()
        return self(images) > 0.5


def judge_for(entry, entries) -> JudgeReader | None:
    """A judge among `entries` (ModelEntry) that reads what `entry`'s model makes: the first non-generative model
    with the same label kind and image shape whose columns share at least one label name with the model's."""
    if entry is None:
        return None
    wanted = entry.checkpoint.capabilities
    if not wanted.conditional:
        return None
    names = set(entry.checkpoint.label_names or [])
    for candidate in entries:
        caps = candidate.checkpoint.capabilities
        if (candidate is entry or caps.generative or caps.label_kind != wanted.label_kind
                or caps.image_shape != wanted.image_shape):
            continue
        columns = list(candidate.checkpoint.label_names or [])
        if columns and names & set(columns):
            return JudgeReader(candidate.checkpoint.model, columns)
    return None
