"""cVAE Explorer core: models, data, checkpoints, latent operations and metrics (torch only, no Qt)."""

from cvae.errors import CheckpointError, CvaeError, DatasetError

__all__ = ["CvaeError", "DatasetError", "CheckpointError"]
