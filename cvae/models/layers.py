"""Convolutional encoder and decoder stacks sized from the image, so any H×W and channel count works."""

from __future__ import annotations

import torch
from torch import nn


def pooled_sizes(image_size: tuple[int, int], stages: int) -> list[tuple[int, int]]:
    """Spatial size before each pooling stage and after the last: [input, after 1, ..., after n]."""
    sizes = [tuple(image_size)]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes  # type: ignore[return-value]


def mlp(in_features: int, hidden_dim: int, layers: int) -> list[nn.Module]:
    """`layers` fully connected ReLU layers of width `hidden_dim`: depth bends the 2-D latent manifold more."""
    modules: list[nn.Module] = []
    for i in range(layers):
        modules += [nn.Linear(in_features if i == 0 else hidden_dim, hidden_dim), nn.ReLU(inplace=True)]
    return modules


class ConvEncoder(nn.Module):
    """3×3 conv + ReLU + 2×2 max-pool per stage, flattened: the seed report's encoder, generalised."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], image_size: tuple[int, int]):
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for c in channels:
            layers += [nn.Conv2d(previous, c, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = c
        self.net = nn.Sequential(*layers)
        h, w = pooled_sizes(image_size, len(channels))[-1]
        self.out_features = channels[-1] * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ConvDecoder(nn.Module):
    """Fully connected to the smallest feature map, then one stride-2 transposed conv per encoder stage.

    With `refine_channels`, the last transposed conv yields that many channels and two 3×3 convs map them to the
    image. With `label_dim`, the label is fed again to every later layer (appended to fully connected inputs and
    as constant planes to conv inputs), so the class cannot fade out of deep layers. Output padding is chosen per
    stage so the result has exactly the encoder's input size, odd sizes included.
    Returns logits (Bernoulli) or pre-sigmoid means (Gaussian).
    """

    def __init__(self, in_features: int, hidden_dim: int, channels: tuple[int, ...], out_channels: int,
                 image_size: tuple[int, int], refine_channels: int = 0, fc_layers: int = 1, label_dim: int = 0):
        super().__init__()
        self.label_dim = label_dim
        sizes = pooled_sizes(image_size, len(channels))
        self.start_shape = (channels[-1], *sizes[-1])
        fc: list[nn.Module] = [nn.Linear(in_features, hidden_dim), nn.ReLU(inplace=True)]
        for _ in range(fc_layers - 1):  # every fully connected layer after the first sees the label again
            fc += [nn.Linear(hidden_dim + label_dim, hidden_dim), nn.ReLU(inplace=True)]
        fc += [nn.Linear(hidden_dim + label_dim, channels[-1] * sizes[-1][0] * sizes[-1][1]), nn.ReLU(inplace=True)]
        self.fc = nn.Sequential(*fc)
        layers: list[nn.Module] = []
        reversed_channels = list(channels[::-1]) + [refine_channels or out_channels]
        for stage in range(len(channels)):
            small, large = sizes[-1 - stage], sizes[-2 - stage]
            padding = (large[0] - 2 * small[0], large[1] - 2 * small[1])
            layers.append(nn.ConvTranspose2d(reversed_channels[stage] + label_dim, reversed_channels[stage + 1], 4,
                                             stride=2, padding=1, output_padding=padding))
            if stage < len(channels) - 1:
                layers.append(nn.ReLU(inplace=True))
        if refine_channels:  # full-resolution 3×3 convs sharpen the output at modest cost
            layers += [nn.ReLU(inplace=True), nn.Conv2d(refine_channels + label_dim, refine_channels, 3, padding=1),
                       nn.ReLU(inplace=True), nn.Conv2d(refine_channels + label_dim, out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.label_dim:
            return self.net(self.fc(h).view(-1, *self.start_shape))
        for index, layer in enumerate(self.fc):
            if index > 0 and isinstance(layer, nn.Linear):
                h = torch.cat([h, labels.to(h.dtype)], dim=1)
            h = layer(h)
        h = h.view(-1, *self.start_shape)
        for layer in self.net:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                planes = labels[:, :, None, None].to(h.dtype).expand(-1, -1, h.shape[2], h.shape[3])
                h = torch.cat([h, planes], dim=1)
            h = layer(h)
        return h
