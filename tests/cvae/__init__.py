"""Tests of the cvae package (models, data, checkpoints, latent ops, metrics, FID)."""
