"""The digit judge: an independent classifier that reads generated images for conditional accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvae.models.config import ClassifierConfig
from cvae.models.layers import ConvEncoder


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def loss(self, x: torch.Tensor, labels: torch.Tensor, beta: float = 1.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        logits = self(x)
        ce = F.cross_entropy(logits.float(), labels.long())
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"loss": ce, "cross_entropy": ce.detach(), "accuracy": accuracy.detach()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        return torch.cat([self(chunk).argmax(1) for chunk in x.split(batch_size)])
