"""Training hyperparameters, saved in every checkpoint so a run can be resumed and reported exactly. Each field
declares its default, range and help once (cvae.options): `cvae-train`'s options and the Train panel read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cvae.options import ConfigBase, option

SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig(ConfigBase):
    kind: ClassVar[str] = "training configuration"
    # an EMA of the weights measured no gain at the end of a cosine schedule and was removed; old runs hold 0
    retired: ClassVar[dict[str, Any]] = {"ema_decay": 0.0}

    epochs: int = option(10, "total epochs (with --resume: the run's own total unless given)", low=1)
    batch_size: int = option(100, "images per training step", low=1)
    learning_rate: float = option(1e-3, "Adam learning rate", low=0, low_open=True, cli="--lr")
    lr_schedule: str = option("constant", "learning-rate schedule: cosine decays to 5% over the run",
                              choices=SCHEDULES)
    beta: float = option(1.0, "weight of the KL term (β)", low=0)
    beta_warmup_epochs: float = option(0.0, "ramp β linearly from 0 over this many epochs (0: off)", low=0,
                                       cli="--beta-warmup", metavar="EPOCHS")
    weight_decay: float = option(0.0, "AdamW weight decay (0: plain Adam)", low=0)
    seed: int = option(0, "seed of every random generator of the run", low=0)
    device: str = option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    mixed_precision: bool = option(True, "mixed precision on CUDA (--no-amp turns it off)", cli="--no-amp")
    cpu_bf16: bool = option(False, "bfloat16 autocast when training on the CPU: about 1.9x the images/s on CPUs with "
                            "AVX512-BF16 or AMX, fp32 weights and loss; ignored (with a warning) on CPUs without "
                            "them, where it would run about 10x slower", cli="--cpu-bf16")
    final_lr_fraction: float = option(0.05, "where the cosine schedule ends, as a share of the rate", low=0,
                                      high=1, cli=None)
    sample_count: int = option(16, "images in each epoch's sample preview (0: off)", low=0, cli=None)
