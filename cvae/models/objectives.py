"""Pluggable objective terms: pieces of a family's training objective that bring networks (and an optimizer) of
their own — a reader of labels, a latent adversary, an image critic.

Each term adds to the one loss of a training step, and every network learns only from its own part of it: a
term's networks see the model's tensors detached, and the model sees a term's networks through detached weights
(`read_with_detached_weights`). So one backward pass, through one DistributedDataParallel forward, gives every
parameter exactly its own gradient, and each optimizer steps its own parameters. The trainer saves each term's
weights and optimizer state in the checkpoint's training state (never in the model's weights: an explorer
file ships without them) and restores them on resume.

A family lists its terms (`GenerativeModel.objective_terms`); a new term is one class here and one line there.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from cvae.models.terms import ForwardPass, LossTerms


def read_with_detached_weights(network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """`network`'s output for `inputs` with its weights cut from the graph: the gradient reaches the inputs (the
    model that made them), never the network."""
    frozen = {name: p.detach() for name, p in network.named_parameters()}
    return torch.func.functional_call(network, frozen, (inputs,))


class ObjectiveTerm(nn.Module):
    """One piece of a training objective with networks of its own. `contribute` adds its shares to `out`."""

    name: ClassVar[str] = ""
    adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.999)

    def contribute(self, model: nn.Module, step: ForwardPass, out: LossTerms) -> None:
        raise NotImplementedError

    def make_optimizer(self, learning_rate: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=learning_rate, betas=self.adam_betas)


def read_shape(image_size: tuple[int, int], read_size: int) -> tuple[int, int]:
    """(height, width) a reader reads: the image's, or `read_size` high with the width in proportion (never
    larger than the image)."""
    h, w = image_size
    if not read_size or read_size >= h:
        return (h, w)
    return (read_size, max(1, round(w * read_size / h)))


class ConvReader(nn.Module):
    """Stride-2 convs and one linear layer: label logits from an image. No batch norm, so that reading a decode
    through detached weights (torch.func.functional_call) leaves no running statistics behind."""

    def __init__(self, channels: int, widths: tuple[int, ...], image_size: tuple[int, int], outputs: int):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        h, w = image_size
        for width in widths:
            layers += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            previous, h, w = width, h // 2, w // 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * h * w, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LabelReading(ObjectiveTerm):
    """The label-reading loss (AttGAN's classification constraint): a reader learns the labels of the real images
    (`reader`); the same codes decoded under other labels (the family's `relabelled`) must be read as those labels
    through the reader's weights as they are (`control`, weighted): the decoder learns to show labels, the reader
    never learns to accept decodes."""

    name = "label-reading"

    def __init__(self, config, weight: float, read_size: int = 0):
        super().__init__()
        self.weight = float(weight)
        self.read_shape = read_shape(config.image_size, read_size)
        self.reader = ConvReader(config.image_channels, config.conv_channels, self.read_shape, config.label_dim)

    def look(self, images: torch.Tensor) -> torch.Tensor:
        """What the reader sees of `images`: themselves, or area-averaged to `read_shape` (a low-pass filter: a
        pattern finer than one averaged block reads as its mean, so it cannot satisfy the reader)."""
        if tuple(images.shape[-2:]) == self.read_shape:
            return images
        return F.adaptive_avg_pool2d(images, self.read_shape)

    def criterion(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-image loss of reading `logits` as `target` (a batch of label vectors or class indices)."""
        raise NotImplementedError

    def contribute(self, model, step: ForwardPass, out: LossTerms) -> None:
        reader = self.criterion(self.reader(self.look(step.x.detach())).float(), self.truth(step)).mean()
        target, shown = model.relabelled(step)
        control = self.criterion(read_with_detached_weights(self.reader, self.look(shown)).float(), target).mean()
        out.add("reader", reader)
        out.add("control", self.weight * control, control)

    def truth(self, step: ForwardPass) -> torch.Tensor:
        return step.y


class AttributeReading(LabelReading):
    """For attribute vectors: binary cross-entropy summed over the attributes."""

    name = "attribute-reading"

    def criterion(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target.float(), reduction="none").sum(1)


class ClassReading(LabelReading):
    """For one of K classes: cross-entropy."""

    name = "class-reading"

    def criterion(self, logits, target):
        return F.cross_entropy(logits, target.long(), reduction="none")

    def truth(self, step):
        return torch.as_tensor(step.labels, device=step.x.device).long().reshape(-1)


class LatentAdversary(ObjectiveTerm):
    """Fader Networks' latent discriminator: a small MLP learns to read the attributes from the code z
    (`adversary`, on detached codes only); the encoder is trained to make it read the opposite attributes
    (`hiding`, through the adversary's detached weights), so z carries no attributes and the decoder must take
    them from the label. The encoder's weight ramps up linearly over the first `warmup` epochs."""

    name = "latent-adversary"
    adam_betas = (0.5, 0.999)

    def __init__(self, config, weight: float, warmup: float, width: int = 512):
        super().__init__()
        self.weight, self.warmup = float(weight), float(warmup)
        self.net = nn.Sequential(nn.Linear(config.latent_dim, width), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Linear(width, width), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Linear(width, config.label_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def ramp(self, progress: float) -> float:
        return self.weight * (min(1.0, progress / self.warmup) if self.warmup > 0 else 1.0)

    def contribute(self, model, step: ForwardPass, out: LossTerms) -> None:
        y = step.y.float()
        adversary = F.binary_cross_entropy_with_logits(self(step.z.detach().float()), y, reduction="none").sum(1)
        fooled = read_with_detached_weights(self, step.z.float())
        hiding = F.binary_cross_entropy_with_logits(fooled, 1 - y, reduction="none").sum(1).mean()
        out.add("adversary", adversary.mean())
        out.add("hiding", self.ramp(step.progress) * hiding, hiding)


class PatchCritic(nn.Module):
    """PatchGAN-style critic: spectrally normalised stride-2 convs ending in one realism score per patch. No batch
    norm (it is read through detached weights, like the readers)."""

    def __init__(self, channels: int, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        for width in widths:
            layers += [spectral_norm(nn.Conv2d(previous, width, 4, stride=2, padding=1)),
                       nn.LeakyReLU(0.2, inplace=True)]
            previous = width
        layers.append(spectral_norm(nn.Conv2d(previous, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImageCritic(ObjectiveTerm):
    """A realism critic on decodes (AttGAN's adversarial loss): a PatchGAN critic learns, with the hinge loss, to
    tell real training images from the model's decodes under other labels (reconstructions for a model without
    labels), which it sees detached (`critic`); the decoder is trained to raise the critic's scores through its
    detached weights (`realism`, weighted), so that what satisfies a label reader is also a real-looking image.
    The critic never sees a judge or a label."""

    name = "image-critic"
    adam_betas = (0.5, 0.999)

    def __init__(self, config, weight: float):
        super().__init__()
        self.weight = float(weight)
        self.critic = PatchCritic(config.image_channels)

    def contribute(self, model, step: ForwardPass, out: LossTerms) -> None:
        fake = model.relabelled(step)[1] if model.conditional else torch.sigmoid(step.logits)
        real_scores = self.critic(step.x.detach())
        fake_scores = self.critic(fake.detach())
        critic = F.relu(1 - real_scores.float()).mean() + F.relu(1 + fake_scores.float()).mean()
        realism = -read_with_detached_weights(self.critic, fake).float().mean()
        out.add("critic", critic)
        out.add("realism", self.weight * realism, realism)
