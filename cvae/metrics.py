"""Honest numbers for a model card: held-out loss, the judge's accuracy, and conditional accuracy."""

from __future__ import annotations

import torch

from cvae.data import ImageDataset
from cvae.models import Classifier, GenerativeModel


@torch.no_grad()
def mean_loss_terms(model, data: ImageDataset, beta: float = 1.0, seed: int = 0, batch_size: int = 1000,
                    ) -> dict[str, float]:
    """Per-image means of the loss terms over a whole set (nats), with seeded noise so the figure repeats."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    totals: dict[str, float] = {}
    for images, labels in data.to(device).batches(batch_size):
        terms = model.loss(images, labels, beta=beta, generator=generator)
        for key, value in terms.items():
            if key != "loss":
                totals[key] = totals.get(key, 0.0) + float(value) * images.shape[0]
    return {k: v / len(data) for k, v in totals.items()}


@torch.no_grad()
def classifier_accuracy(judge: Classifier, data: ImageDataset, batch_size: int = 1000) -> float:
    judge.eval()
    device = next(judge.parameters()).device
    correct = 0
    for images, labels in data.to(device).batches(batch_size):
        correct += int((judge.predict(images, batch_size) == labels).sum())
    return correct / len(data)


@torch.no_grad()
def conditional_accuracy(model: GenerativeModel, judge: Classifier, per_class: int = 1000,
                         temperature: float = 1.0, seed: int = 0, batch_size: int = 1000,
                         ) -> tuple[float, list[float]]:
    """Share of prior samples generated for class d that the judge reads as d; overall and per class."""
    model.eval()
    judge.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    classes = model.config.label_dim
    per_class_correct = []
    for label in range(classes):
        correct = 0
        for start in range(0, per_class, batch_size):
            n = min(batch_size, per_class - start)
            z = torch.randn((n, model.latent_dim), generator=generator, device=device) * temperature
            images = model.decode(z, torch.full((n,), label, device=device))
            correct += int((judge(images.to(next(judge.parameters()).device)).argmax(1) == label).sum())
        per_class_correct.append(correct / per_class)
    return sum(per_class_correct) / classes, per_class_correct
