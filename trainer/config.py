"""Training hyperparameters, saved in every checkpoint so a run can be resumed and reported exactly."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cvae.errors import ConfigError

SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 100
    learning_rate: float = 1e-3
    beta: float = 1.0
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay; 0 is plain Adam
    beta_warmup_epochs: float = 0.0  # ramp β linearly from 0 over this many epochs: keeps latent dims from collapsing
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True  # takes effect on CUDA only
    lr_schedule: str = "constant"  # "cosine" decays to `final_lr_fraction` of the rate over the run
    final_lr_fraction: float = 0.05
    sample_count: int = 16  # images in each epoch's sample preview; 0 turns previews off
    ema_decay: float = 0.0  # keep an exponential moving average of the weights (e.g. 0.999); 0 is off

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning rate must be positive, got {self.learning_rate}")
        if self.beta < 0:
            raise ConfigError(f"beta must be zero or positive, got {self.beta}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight decay must be zero or positive, got {self.weight_decay}")
        if self.beta_warmup_epochs < 0:
            raise ConfigError(f"beta warm-up must be zero or more epochs, got {self.beta_warmup_epochs}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"EMA decay must be in [0, 1), got {self.ema_decay}")
        if self.lr_schedule not in SCHEDULES:
            raise ConfigError(f"learning-rate schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
