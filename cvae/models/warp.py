"""Warp-conditioned augmentation: small random affine warps of training images, told to the networks.

A generative model trained on warped images without being told would spread its probability over the warps
and fit the real, unwarped test images worse. Told the warp (four numbers appended to the conditioning,
zeros meaning "no warp"), it learns from more varied shapes yet models exactly the data's own distribution
at inference, where the warp is always the identity. The same idea keeps augmentation from leaking into
samples in small-data diffusion and GAN training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WARP_DIMS = 4  # horizontal shift, vertical shift, rotation, log-scale; each in [-1, 1], 0 = identity


def sample_warps(count: int, probability: float, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """(count, 4) warp parameters: uniform in [-1, 1] for a `probability` share of the rows, zeros for the rest."""
    values = torch.rand(count, WARP_DIMS, generator=generator, device=device) * 2 - 1
    warped = torch.rand(count, 1, generator=generator, device=device) < probability
    return values * warped


def apply_warps(images: torch.Tensor, warps: torch.Tensor, shift: float, rotation: float,
                scale: float) -> torch.Tensor:
    """Images moved by up to `shift` pixels, turned by up to `rotation` degrees and scaled by up to e^±`scale`,
    bilinearly resampled with a zero border; rows of zeros leave their image unchanged."""
    if not bool(warps.any()):
        return images
    n, _, height, width = images.shape
    warps = warps.to(images.dtype)
    angle = warps[:, 2] * math.radians(rotation)
    factor = torch.exp(warps[:, 3] * scale)
    cos, sin = factor * torch.cos(angle), factor * torch.sin(angle)
    dx, dy = warps[:, 0] * shift * 2 / width, warps[:, 1] * shift * 2 / height
    theta = torch.stack([torch.stack([cos, -sin, dx], 1), torch.stack([sin, cos, dy], 1)], 1)
    grid = F.affine_grid(theta, [n, images.shape[1], height, width], align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    identity = ~warps.any(dim=1)
    return torch.where(identity[:, None, None, None], images, warped)  # exact originals where there is no warp
