"""Residual encoder and decoder with group normalisation: the face model's sharper body.

The decoder upsamples by resizing (nearest neighbour) and then convolving, never by a transposed convolution,
whose uneven kernel overlap paints a checkerboard (Odena et al. 2016). Labels reach every decoder block, either by
FiLM (a per-channel scale and shift computed from the label, after each normalisation) or by concatenation (the
label as constant planes beside each block's input): the config's `label_injection` chooses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvae.models.layers import pooled_sizes

FILM, CONCAT = "film", "concat"
LABEL_INJECTIONS = (FILM, CONCAT)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


def _planes(h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    planes = labels[:, :, None, None].to(h.dtype).expand(-1, -1, h.shape[2], h.shape[3])
    return torch.cat([h, planes], dim=1)


class ResBlock(nn.Module):
    """norm → (FiLM) → SiLU → 3×3 conv, twice, plus the input: same channels in and out."""

    def __init__(self, channels: int, label_dim: int = 0, injection: str = FILM):
        super().__init__()
        self.label_dim, self.injection = label_dim, injection
        extra = label_dim if label_dim and injection == CONCAT else 0
        self.norm1, self.norm2 = _norm(channels), _norm(channels)
        self.conv1 = nn.Conv2d(channels + extra, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.film = nn.Linear(label_dim, 4 * channels) if label_dim and injection == FILM else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h1 = self.norm1(x)
        if self.film is not None:
            scale1, shift1, scale2, shift2 = self.film(labels.to(x.dtype))[:, :, None, None].chunk(4, dim=1)
            h1 = h1 * (1 + scale1) + shift1
        h = F.silu(h1)
        if self.label_dim and self.injection == CONCAT:
            h = _planes(h, labels)
        h = self.norm2(self.conv1(h))
        if self.film is not None:
            h = h * (1 + scale2) + shift2
        return x + self.conv2(F.silu(h))


class ResEncoder(nn.Module):
    """Per stage: a stride-2 4×4 conv to the stage's width (halving odd sizes down, as the decoder's sizes
    expect), then a residual block; flattened at the end."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], image_size: tuple[int, int]):
        super().__init__()
        stages: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            stages += [nn.Conv2d(previous, width, 4, stride=2, padding=1), ResBlock(width)]
            previous = width
        self.net = nn.Sequential(*stages, _norm(previous), nn.SiLU())
        h, w = pooled_sizes(image_size, len(channels))[-1]
        self.out_features = previous * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ResDecoder(nn.Module):
    """Fully connected to the smallest map; per stage a residual block (label-conditioned), a nearest-neighbour
    resize to the next size and a 3×3 conv to the next width; the last conv draws the image. Sizes follow the
    encoder's, odd ones included. `full_width` > 0 adds a 3×3 conv to that width and one more residual block at the
    full size, so that pixel-level detail is drawn by more than the one conv after the last nearest-neighbour
    resize (whose 2×2 blocks it otherwise shows). Returns pre-sigmoid means (or logits)."""

    def __init__(self, in_features: int, hidden_dim: int, channels: tuple[int, ...], out_channels: int,
                 image_size: tuple[int, int], label_dim: int = 0, injection: str = FILM, full_width: int = 0):
        super().__init__()
        self.label_dim = label_dim
        self.sizes = pooled_sizes(image_size, len(channels))
        self.start_shape = (channels[-1], *self.sizes[-1])
        self.fc = nn.Sequential(nn.Linear(in_features, hidden_dim), nn.SiLU(),
                                nn.Linear(hidden_dim, channels[-1] * self.sizes[-1][0] * self.sizes[-1][1]))
        widths = list(channels[::-1])
        self.blocks = nn.ModuleList(ResBlock(width, label_dim, injection) for width in widths)
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1)
                                   for i in range(len(widths) - 1))
        self.full_size = None
        if full_width:
            self.full_size = nn.ModuleDict({"conv": nn.Conv2d(widths[-1], full_width, 3, padding=1),
                                            "block": ResBlock(full_width, label_dim, injection)})
        drawn_from = full_width or widths[-1]  # the width of the map the image is drawn from
        self.out_norm = _norm(drawn_from)
        self.to_image = nn.Conv2d(drawn_from, out_channels, 3, padding=1)

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(h).view(-1, *self.start_shape)
        h = h.contiguous(memory_format=torch.channels_last)  # the layout the CPU's (and tensor cores') convs want
        last = len(self.blocks) - 1
        for stage, block in enumerate(self.blocks):
            h = block(h, labels)
            size = self.sizes[-2 - stage]
            h = F.interpolate(h, size=size, mode="nearest")
            if stage < last:
                h = self.convs[stage](F.silu(h))
        if self.full_size is not None:
            h = self.full_size["block"](self.full_size["conv"](F.silu(h)), labels)
        return self.to_image(F.silu(self.out_norm(h)))
