"""Training for cVAE Explorer: one loop shared by `cvae-train` and the GUI, reporting through callbacks."""

from trainer.callbacks import BatchProgress, TrainingCallback
from trainer.config import TrainConfig
from trainer.loop import TrainingCancelled, TrainingDiverged, TrainingStep, TrainResult, Trainer

__all__ = ["TrainConfig", "Trainer", "TrainResult", "TrainingCallback", "BatchProgress", "TrainingDiverged",
           "TrainingCancelled", "TrainingStep"]
