"""Honest numbers for a model card: held-out loss, the judge's accuracy, conditional accuracy, and the judge
Fréchet distance (the Fréchet distance in the judge's own features: a quality figure that needs no download).
FID proper, in Inception features, is cvae.fid.

The functions that loop over batches take `on_batch(images_done)`, called after each batch (progress); raising
from it stops the loop (cooperative cancel, as trainer.evaluation does)."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch

from cvae.data import ImageDataset
from cvae.models import Classifier, GenerativeModel

OnBatch = Callable[[int], None] | None


@torch.no_grad()
def mean_loss_terms(model, data: ImageDataset, beta: float = 1.0, seed: int = 0, batch_size: int = 1000,
                    on_batch: OnBatch = None) -> dict[str, float]:
    """Per-image means of the loss terms over a whole set (nats), with seeded noise so the figure repeats."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    totals: dict[str, float] = {}
    done = 0
    for images, labels in data.to(device).batches(batch_size):
        terms = model.loss(images, labels, beta=beta, generator=generator)
        for key, value in terms.items():
            if key != "loss":
                totals[key] = totals.get(key, 0.0) + float(value) * images.shape[0]
        done += images.shape[0]
        if on_batch is not None:
            on_batch(done)
    return {k: v / len(data) for k, v in totals.items()}


@torch.no_grad()
def classifier_accuracy(judge: Classifier, data: ImageDataset, batch_size: int = 1000, on_batch: OnBatch = None,
                        ) -> float:
    judge.eval()
    device = next(judge.parameters()).device
    correct = done = 0
    for images, labels in data.to(device).batches(batch_size):
        correct += int((judge.predict(images, batch_size) == labels).sum())
        done += images.shape[0]
        if on_batch is not None:
            on_batch(done)
    return correct / len(data)


@torch.no_grad()
def conditional_accuracy(model: GenerativeModel, judge: Classifier, per_class: int = 1000,
                         temperature: float = 1.0, seed: int = 0, batch_size: int = 1000,
                         on_batch: OnBatch = None) -> tuple[float, list[float]]:
    """Share of prior samples generated for class d that the judge reads as d; overall and per class."""
    model.eval()
    judge.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    classes = model.config.label_dim
    per_class_correct = []
    done = 0
    for label in range(classes):
        correct = 0
        for start in range(0, per_class, batch_size):
            n = min(batch_size, per_class - start)
            z = torch.randn((n, model.latent_dim), generator=generator, device=device) * temperature
            images = model.decode(z, torch.full((n,), label, device=device))
            correct += int((judge(images.to(next(judge.parameters()).device)).argmax(1) == label).sum())
            done += n
            if on_batch is not None:
                on_batch(done)
        per_class_correct.append(correct / per_class)
    return sum(per_class_correct) / classes, per_class_correct


def labels_like(data: ImageDataset, count: int) -> torch.Tensor:
    """`count` labels as the data has them: the set's own labels in order, repeated as needed (so 10,000 samples
    against the 10,000-image MNIST test set have exactly its class counts, and faces its attribute rows)."""
    return data.labels[torch.arange(count) % len(data)]


@torch.no_grad()
def generated_batches(model: GenerativeModel, count: int, labels: torch.Tensor | None = None,
                      batch_size: int = 500, temperature: float = 1.0, seed: int = 0) -> Iterator[torch.Tensor]:
    """`count` prior samples (N(0, temperature² I), seeded) decoded in batches of [0, 1] images, conditioned on
    `labels` (one per sample, e.g. labels_like(test, count)) or on nothing; nothing is kept in memory."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        z = torch.randn((n, model.latent_dim), generator=generator, device=device) * temperature
        batch_labels = labels[start:start + n].to(device) if labels is not None else None
        yield model.decode(z, batch_labels)


def _as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def judge_features(judge: Classifier, images: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 1000,
                   on_batch: OnBatch = None):
    """(N, hidden_dim) float64 numpy features from the judge's penultimate layer, images at their own size
    (uint8 or [0, 1] float; no 8-bit rounding, no resize: the judge reads what the model makes)."""
    from cvae.fid import activations

    judge.eval()
    return activations(images, judge.features, batch_size, preprocess=_as_float, on_batch=on_batch,
                       device=next(judge.parameters()).device)


def judge_fd(judge: Classifier, real: torch.Tensor | Iterable[torch.Tensor],
             generated: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 1000) -> float:
    """The judge Fréchet distance: the Fréchet distance between Gaussians fitted to the judge's penultimate
    features of `real` and of `generated` images. Lower is better, 0 for identical sets. Not FID: the features
    are a small digit classifier's, not Inception's, so the figure compares models judged by the same judge
    only; it needs no download and runs anywhere. Fewer than 2 images per set are refused (ConfigError)."""
    from cvae.fid import frechet_distance, statistics

    real_stats = statistics(judge_features(judge, real, batch_size), "real images")
    generated_stats = statistics(judge_features(judge, generated, batch_size), "generated images")
    return frechet_distance(*real_stats, *generated_stats)
