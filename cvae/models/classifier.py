"""The digit judge: an independent classifier that reads generated images for conditional accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvae.models.capabilities import Capabilities, capabilities_of
from cvae.models.config import ClassifierConfig
from cvae.models.layers import ConvEncoder


def random_shift(x: torch.Tensor, limit: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image moved by its own random offset in [-limit, limit]² pixels, the border filled with zeros."""
    n, _, h, w = x.shape
    padded = F.pad(x, (limit, limit, limit, limit))
    offsets = torch.randint(0, 2 * limit + 1, (n, 2), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + offsets[:, :1])  # (n, h)
    cols = (torch.arange(w, device=x.device)[None, :] + offsets[:, 1:])  # (n, w)
    index = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class Classifier(nn.Module):
    variational = False

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.encoder = ConvEncoder(config.image_channels, config.conv_channels, config.image_size)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(self.encoder.out_features, config.hidden_dim),
            nn.ReLU(inplace=True), nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, config.num_classes),
        )

    @property
    def family(self) -> str:
        return self.config.family

    conditional = False

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_of(self.config, generative=False, variational=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer, (N, hidden_dim) after the hidden layer's ReLU: what the judge Fréchet distance
        compares (cvae.metrics.judge_fd). Call it in eval mode (dropout off)."""
        return self.head[:3](self.encoder(x))

    def loss(self, x: torch.Tensor, labels: torch.Tensor, beta: float = 1.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Cross-entropy; `beta` belongs to the generative families and is ignored here."""
        if self.training and self.config.augment_shift:
            x = random_shift(x, self.config.augment_shift, generator)
        logits = self(x)
        ce = F.cross_entropy(logits.float(), labels.long())
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"loss": ce, "cross_entropy": ce.detach(), "accuracy": accuracy.detach()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        return torch.cat([self(chunk).argmax(1) for chunk in x.split(batch_size)])
