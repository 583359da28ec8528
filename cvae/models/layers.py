"""Convolutional encoder and decoder stacks sized from the image, so any H×W and channel count works."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pooled_sizes(image_size: tuple[int, int], stages: int) -> list[tuple[int, int]]:
    """Spatial size before each pooling stage and after the last: [input, after 1, ..., after n]."""
    sizes = [tuple(image_size)]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes  # type: ignore[return-value]


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


class UpConv(nn.ConvTranspose2d):
    """A transposed conv that, in an inference copy (`fast_inference`, set by cvae.latent.prepare_for_inference)
    on the CPU, computes few-channel outputs as one matmul and a fold: twice as fast for the decoder's last layer
    (the explorer's backdrop), same values to ~1e-6, same weights and state-dict keys as nn.ConvTranspose2d."""

    FAST_OUT_CHANNELS = 4

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fast_inference = False  # only ever switched on in a frozen inference copy

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None:
            return super().forward(x, output_size)
        return self.apply_weight(x, self.weight, self.bias)

    def apply_weight(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """This layer's transposed conv with `weight` (possibly a slice of its input channels) and `bias`."""
        if (not self.fast_inference or x.device.type != "cpu" or self.out_channels > self.FAST_OUT_CHANNELS
                or self.groups != 1 or self.dilation != (1, 1)):
            return F.conv_transpose2d(x, weight, bias, self.stride, self.padding, self.output_padding, self.groups,
                                      self.dilation)
        n, cin, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        weight = weight.reshape(cin, -1)  # (in, out·kh·kw)
        if x.is_contiguous(memory_format=torch.channels_last):  # read NHWC as it lies, no copy
            columns = torch.matmul(x.permute(0, 2, 3, 1).reshape(n, h * w, cin), weight).transpose(1, 2)
        else:
            columns = torch.matmul(weight.t(), x.reshape(n, cin, h * w))
        size = ((h - 1) * sh - 2 * ph + kh + self.output_padding[0],
                (w - 1) * sw - 2 * pw + kw + self.output_padding[1])
        out = F.fold(columns, size, (kh, kw), stride=(sh, sw), padding=(ph, pw))
        return out if bias is None else out + bias.view(1, -1, 1, 1)


class LabelResponses:
    """What the label's constant planes add to each conv's output, precomputed once for a frozen set of weights.

    A conv is linear in its input, so conv(features ⊕ label planes) = conv(features) + Σ_k y_k·R_k + bias, where
    R_k is the layer's response to a plane of ones in label channel k (borders included). An inference copy of the
    decoder uses that: no label planes are built or concatenated and every conv reads fewer channels, which
    makes the explorer's batched decodes faster with the same values (to float rounding). The copy's weights never
    change, so a table computed once stays right; a model that trains never holds one.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple, torch.Tensor] = {}

    def responses(self, layer: nn.Module, label_dim: int, height: int, width: int) -> torch.Tensor:
        """(label_dim + 1, C_out·H'·W'): the response to each label channel, then the bias map."""
        key = (id(layer), height, width, layer.weight.dtype, layer.weight.device)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        features = layer.weight.shape[0 if isinstance(layer, nn.ConvTranspose2d) else 1] - label_dim
        planes = torch.zeros(label_dim + 1, features + label_dim, height, width, dtype=layer.weight.dtype,
                             device=layer.weight.device)
        for k in range(label_dim):
            planes[k, features + k] = 1.0
        with torch.no_grad():
            out = (F.conv_transpose2d(planes, layer.weight, None, layer.stride, layer.padding, layer.output_padding)
                   if isinstance(layer, nn.ConvTranspose2d) else
                   F.conv2d(planes, layer.weight, None, layer.stride, layer.padding))
            if layer.bias is not None:  # the last row (all-zero input) becomes the bias map
                out[-1] += layer.bias.view(-1, 1, 1)
        table = out.flatten(1)
        self._cache[key] = table  # a decode from another thread may compute the same table; either copy is right
        return table

    def feature_conv(self, layer: nn.Module, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """`layer` applied to `h` ⊕ label planes, without building the planes; `labels` has one row per image or
        a single row for all of them."""
        label_dim = labels.shape[1]
        table = self.responses(layer, label_dim, h.shape[2], h.shape[3])
        if isinstance(layer, nn.ConvTranspose2d):
            weight = layer.weight[:-label_dim]
            out = (layer.apply_weight(h, weight, None) if isinstance(layer, UpConv) else
                   F.conv_transpose2d(h, weight, None, layer.stride, layer.padding, layer.output_padding))
        else:
            out = F.conv2d(h, layer.weight[:, :-label_dim], None, layer.stride, layer.padding)
        response = labels.to(table.dtype) @ table[:-1] + table[-1]
        return out.add_(response.view(-1, *out.shape[1:]))  # one label row broadcasts over the batch


class ConvDecoder(nn.Module):
    """Fully connected to the smallest feature map, then one stride-2 transposed conv per encoder stage.

    With `label_dim`, the label is fed again to every later layer (appended to the fully connected input and as
    constant planes to conv inputs), so the class cannot fade out of deep layers. Output padding is chosen per
    stage so the result has exactly the encoder's input size, odd sizes included.
    Returns logits (Bernoulli) or pre-sigmoid means (Gaussian).
    """

    def __init__(self, in_features: int, hidden_dim: int, channels: tuple[int, ...], out_channels: int,
                 image_size: tuple[int, int], label_dim: int = 0, dropout: float = 0.0):
        super().__init__()
        self.label_dim = label_dim
        sizes = pooled_sizes(image_size, len(channels))
        self.start_shape = (channels[-1], *sizes[-1])
        hidden = [nn.ReLU(inplace=True)] + ([nn.Dropout(dropout)] if dropout else [])  # no module when off:
        fc: list[nn.Module] = [nn.Linear(in_features, hidden_dim), *hidden]  # same state-dict keys as before
        fc += [nn.Linear(hidden_dim + label_dim, channels[-1] * sizes[-1][0] * sizes[-1][1]), nn.ReLU(inplace=True)]
        self.fc = nn.Sequential(*fc)
        layers: list[nn.Module] = []
        reversed_channels = list(channels[::-1]) + [out_channels]
        for stage in range(len(channels)):
            small, large = sizes[-1 - stage], sizes[-2 - stage]
            padding = (large[0] - 2 * small[0], large[1] - 2 * small[1])
            layers.append(UpConv(reversed_channels[stage] + label_dim, reversed_channels[stage + 1], 4,
                                 stride=2, padding=1, output_padding=padding))
            if stage < len(channels) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)
        self.folded_labels: LabelResponses | None = None  # set in an inference copy: label planes folded away

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.label_dim:
            return self.net(self.fc(h).view(-1, *self.start_shape))
        for index, layer in enumerate(self.fc):
            if index > 0 and isinstance(layer, nn.Linear):
                h = torch.cat([h, labels.to(h.dtype)], dim=1)
            h = layer(h)
        h = h.view(-1, *self.start_shape)
        folded = self.folded_labels
        if folded is not None and bool((labels == labels[:1]).all()):  # one label for the batch (the map's grids)
            labels = labels[:1]
        for layer in self.net:
            if folded is not None and isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                h = folded.feature_conv(layer, h, labels)
                continue
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                planes = labels[:, :, None, None].to(h.dtype).expand(-1, -1, h.shape[2], h.shape[3])
                layout = torch.channels_last if layer.weight.is_contiguous(memory_format=torch.channels_last) \
                    else torch.contiguous_format  # cat in the layer's own layout: no conversion copy after it
                h = torch.cat([h.contiguous(memory_format=layout), planes.contiguous(memory_format=layout)], dim=1)
            h = layer(h)
        return h
