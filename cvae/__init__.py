"""cVAE Explorer core: models, data, checkpoints, latent operations and metrics (torch only, no Qt).

Every error a user can cause is a CvaeError subclass with one sentence naming what, where and what was expected.
"""

from cvae.errors import (CheckpointError, ConfigError, CvaeError, DatasetError, OutputWriteError, ResourceError,
                         TrainingDiverged)

__all__ = ["CvaeError", "DatasetError", "CheckpointError", "ConfigError", "ResourceError", "TrainingDiverged",
           "OutputWriteError"]
