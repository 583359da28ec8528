"""The face-attribute judge: an independent multi-label CNN that reads generated and edited faces, so that a face
model's control over its attributes is measured rather than eyeballed (cvae.metrics.attribute_control)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvae.models.capabilities import Capabilities, capabilities_of
from cvae.models.classifier import random_shift
from cvae.models.config import AttributeJudgeConfig
from cvae.models.layers import pooled_sizes


def balanced_accuracy(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per column: the mean of the true-positive and true-negative rates (0.5 for a constant answer), so that an
    attribute 4% of faces have cannot look good by always saying no. A column with no positives (or no negatives)
    counts only the rate it has."""
    predicted, truth = predicted.bool(), truth.bool()
    positives, negatives = truth.sum(0).float(), (~truth).sum(0).float()
    tpr = (predicted & truth).sum(0) / positives.clamp(min=1)
    tnr = (~predicted & ~truth).sum(0) / negatives.clamp(min=1)
    both = (positives > 0) & (negatives > 0)
    return torch.where(both, (tpr + tnr) / 2, torch.where(positives > 0, tpr, tnr))


def choose_thresholds(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per attribute, the logit threshold that maximises (accuracy + balanced accuracy) / 2 on (held-apart training)
    faces: plain accuracy alone would never call a rare attribute, balanced accuracy alone over-calls it."""
    truth = truth.bool()
    count = logits.shape[0]
    thresholds = torch.zeros(logits.shape[1])
    for k in range(logits.shape[1]):
        order = torch.argsort(logits[:, k], descending=True)
        sorted_logits, sorted_truth = logits[order, k], truth[order, k].float()
        positives = sorted_truth.sum().clamp(min=1)
        negatives = (count - sorted_truth.sum()).clamp(min=1)
        # calling the top i faces positive, for i = 0..count
        true_pos = torch.cat([torch.zeros(1), sorted_truth.cumsum(0)])
        false_pos = torch.cat([torch.zeros(1), (1 - sorted_truth).cumsum(0)])
        true_neg = negatives - false_pos
        accuracy = (true_pos + true_neg) / count
        balanced = (true_pos / positives + true_neg / negatives) / 2
        best = int(torch.argmax(accuracy + balanced))
        if best == 0:
            thresholds[k] = sorted_logits[0] + 1e-3
        elif best == count:
            thresholds[k] = sorted_logits[-1] - 1e-3
        else:
            thresholds[k] = (sorted_logits[best - 1] + sorted_logits[best]) / 2
    return thresholds


def photometric_augment(x: torch.Tensor, blur: float, noise: float, colour: float,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """What a judge that reads shapes trains on: each image blurred by a Gaussian of σ up to `blur` pixels (drawn per image), given brightness, contrast and saturation factors
    within 1 ± `colour`, and Gaussian noise of a standard deviation up to `noise`; values kept in [0, 1]."""
    n, device = x.shape[0], x.device

    def uniform(*shape):
        return torch.rand(*shape, generator=generator, device=generator.device if generator is not None
                          else device).to(device)

    if blur > 0:
        sigma = uniform(n) * blur
        radius = max(1, int(round(2 * blur)))
        taps = torch.arange(-radius, radius + 1, device=device, dtype=x.dtype)
        kernels = torch.exp(-0.5 * (taps[None, :] / sigma.clamp_min(1e-3)[:, None].to(x.dtype)) ** 2)
        kernels = kernels / kernels.sum(1, keepdim=True)  # (n, taps): per-image separable Gaussian
        c = x.shape[1]
        flat = x.reshape(1, n * c, *x.shape[2:])
        rows = kernels.repeat_interleave(c, 0)[:, None, None, :]
        flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), rows, groups=n * c)
        cols = kernels.repeat_interleave(c, 0)[:, None, :, None]
        flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), cols, groups=n * c)
        x = flat.reshape(x.shape)
    if colour > 0:
        factors = 1 + (uniform(n, 3) * 2 - 1) * colour
        brightness, contrast, saturation = (f.view(n, 1, 1, 1).to(x.dtype) for f in factors.unbind(1))
        x = x * brightness
        x = (x - x.mean((1, 2, 3), keepdim=True)) * contrast + x.mean((1, 2, 3), keepdim=True)
        grey = x.mean(1, keepdim=True)
        x = (x - grey) * saturation + grey
    if noise > 0:
        scale = (uniform(n) * noise).view(n, 1, 1, 1).to(x.dtype)
        x = x + scale * torch.randn(x.shape, generator=generator, device=generator.device if generator is not None
                                    else device).to(device, x.dtype)
    return x.clamp(0, 1)


class AttributeJudge(nn.Module):
    """Conv + batch norm + ReLU + pool per stage, two fully connected layers, one logit per attribute; or, as the
    second, independent judge (`body="residual"`, `read_size`), residual blocks with group norm and a global
    average pool over faces first shrunk to `read_size` pixels (a low-pass view: it reads shapes, not the fine
    textures a decoder could paint to satisfy a CNN).

    `positive_weight` (from the training data's positive rates, `fit_to_data`) weights the rare positives in the
    loss; `thresholds` (per attribute, in logits; `choose_thresholds` after training) decide yes/no."""

    variational = False
    conditional = False

    def __init__(self, config: AttributeJudgeConfig):
        super().__init__()
        self.config = config
        read = (config.read_size, config.read_size) if config.read_size else tuple(config.image_size)
        if config.body == "residual":
            from cvae.models.residual import ResEncoder

            body = ResEncoder(config.image_channels, config.conv_channels, read)
            self.encoder = nn.Sequential(*body.net, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            features = config.conv_channels[-1]
        else:
            layers: list[nn.Module] = []
            previous = config.image_channels
            for channels in config.conv_channels:
                layers += [nn.Conv2d(previous, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                           nn.ReLU(inplace=True), nn.MaxPool2d(2)]
                previous = channels
            self.encoder = nn.Sequential(*layers, nn.Flatten())
            h, w = pooled_sizes(read, len(config.conv_channels))[-1]
            features = previous * h * w
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(features, config.hidden_dim), nn.ReLU(inplace=True),
            nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, config.num_attributes))
        self.register_buffer("positive_weight", torch.ones(config.num_attributes))
        self.register_buffer("thresholds", torch.zeros(config.num_attributes))
        self.register_buffer("fitted", torch.zeros(()))  # 1 once fit_to_data ran: a resumed run keeps its weights

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_of(self.config, generative=False, variational=False)

    def fit_to_data(self, data) -> None:
        """Positive weights from the training set's positive rates (called once, before training starts)."""
        rates = data.labels.float().mean(0).clamp(1e-3, 1 - 1e-3).to(self.positive_weight.device)
        self.positive_weight.copy_(((1 - rates) / rates) ** self.config.positive_weighting)
        self.fitted.fill_(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.read_size and tuple(x.shape[-2:]) != (self.config.read_size,) * 2:
            x = F.interpolate(x, size=(self.config.read_size,) * 2, mode="area")  # the low-pass view
        return self.head(self.encoder(x))

    def loss(self, x: torch.Tensor, labels: torch.Tensor, beta: float = 1.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Weighted binary cross-entropy, summed over attributes; `beta` belongs to the generative families."""
        if self.training:
            mirror = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
            x = torch.where(mirror[:, None, None, None], x.flip(3), x)  # every CelebA attribute survives a mirror
            if self.config.augment_shift:
                x = random_shift(x, self.config.augment_shift, generator)
            config = self.config
            if config.augment_blur or config.augment_noise or config.augment_colour:
                x = photometric_augment(x, config.augment_blur, config.augment_noise, config.augment_colour,
                                        generator)
        logits = self(x).float()
        truth = labels.float()
        bce = F.binary_cross_entropy_with_logits(logits, truth, pos_weight=self.positive_weight.float(),
                                                 reduction="none").sum(1).mean()
        accuracy = ((logits > self.thresholds.float()) == truth.bool()).float().mean()
        return {"loss": bce, "cross_entropy": bce.detach(), "accuracy": accuracy.detach()}

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        return torch.cat([self(chunk.to(self.thresholds.device, self.thresholds.dtype)).float()
                          for chunk in x.split(batch_size)])

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """(N, A) booleans: the judge's yes/no for each attribute, at its tuned thresholds."""
        return self.logits(x, batch_size) > self.thresholds.float()

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """(N, A) in [0, 1], shifted so that 0.5 is each attribute's threshold (what the Edit panel shows)."""
        return torch.sigmoid(self.logits(x, batch_size) - self.thresholds.float())
