"""2-D planes through a latent space: the latent itself (2-D), a slice, or the PCA plane of encodings.

One abstraction for every picture of a latent space: `cvae.latent.decode_grid` decodes a grid over a plane,
the explorer's map draws through one. Pure torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cvae.errors import ConfigError

IDENTITY, SLICE, PCA = "identity", "slice", "pca"


@dataclass
class LatentPlane:
    """A plane point (x, y) ↦ z.

    identity: z = (x, y) for a 2-D latent.
    slice:    z = base with z[dims[0]] = x, z[dims[1]] = y.
    pca:      z = mean + x·axes[0] + y·axes[1] (the encodings' first two principal components).
    """

    latent_dim: int
    mode: str = IDENTITY
    dims: tuple[int, int] = (0, 1)
    base: torch.Tensor | None = None  # (latent_dim,) for slice; the mean for pca
    axes: torch.Tensor | None = None  # (2, latent_dim) for pca
    explained: tuple[float, float] | None = None  # share of variance along the two PCA axes

    @classmethod
    def identity(cls) -> "LatentPlane":
        return cls(latent_dim=2, mode=IDENTITY)

    @classmethod
    def slice(cls, latent_dim: int, dims: tuple[int, int] = (0, 1), base=None) -> "LatentPlane":
        if dims[0] == dims[1] or not all(0 <= d < latent_dim for d in dims):
            raise ConfigError(f"slice dimensions must be two different indices below {latent_dim}, got {dims}")
        base = torch.zeros(latent_dim) if base is None else torch.as_tensor(base, dtype=torch.float32).reshape(-1)
        return cls(latent_dim=latent_dim, mode=SLICE, dims=(int(dims[0]), int(dims[1])), base=base.clone())

    @classmethod
    def pca(cls, encodings: torch.Tensor) -> "LatentPlane":
        """The plane through the encodings' mean spanned by their two main axes (signs made deterministic)."""
        z = torch.as_tensor(encodings, dtype=torch.float32)
        mean = z.mean(0)
        _, s, vh = torch.linalg.svd(z - mean, full_matrices=False)
        axes = vh[:2].clone()
        for i in range(axes.shape[0]):
            if axes[i, axes[i].abs().argmax()] < 0:
                axes[i] = -axes[i]
        var = s ** 2
        explained = tuple(float(v) for v in (var[:2] / var.sum().clamp_min(1e-12)))
        return cls(latent_dim=z.shape[1], mode=PCA, base=mean, axes=axes, explained=explained)  # type: ignore[arg-type]

    def to_z(self, points) -> torch.Tensor:
        """(N, 2) plane points → (N, latent_dim) float32 latent points."""
        xy = torch.as_tensor(points, dtype=torch.float32).reshape(-1, 2)
        if self.mode == IDENTITY:
            return xy.clone()
        if self.mode == SLICE:
            z = self.base.reshape(1, -1).repeat(xy.shape[0], 1)
            z[:, self.dims[0]] = xy[:, 0]
            z[:, self.dims[1]] = xy[:, 1]
            return z
        return self.base.reshape(1, -1) + xy @ self.axes

    def project(self, z) -> torch.Tensor:
        """(N, latent_dim) → (N, 2) plane coordinates (for slices, the two chosen dimensions)."""
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, self.latent_dim)
        if self.mode == IDENTITY:
            return z[:, :2].clone()
        if self.mode == SLICE:
            return z[:, list(self.dims)].clone()
        return (z - self.base) @ self.axes.T

    def axis_names(self) -> tuple[str, str]:
        if self.mode == IDENTITY:
            return "z₁", "z₂"
        if self.mode == SLICE:
            return f"z[{self.dims[0]}]", f"z[{self.dims[1]}]"
        share = self.explained or (0.0, 0.0)
        return f"PC 1 ({share[0]:.0%} of variance)", f"PC 2 ({share[1]:.0%} of variance)"

    def grid(self, x_range: tuple[float, float], y_range: tuple[float, float], columns: int, rows: int,
             ) -> torch.Tensor:
        """(rows·columns, latent_dim) latent points at the cell centres of a plane rectangle, row-major from the top."""
        return self.to_z(grid_points(x_range, y_range, columns, rows))


def grid_points(x_range: tuple[float, float], y_range: tuple[float, float], columns: int, rows: int,
                ) -> torch.Tensor:
    """Centres of a rows×columns grid of cells over the rectangle, row-major, top row (largest y) first."""
    x0, x1 = x_range
    y0, y1 = y_range
    xs = x0 + (torch.arange(columns, dtype=torch.float32) + 0.5) * (x1 - x0) / columns
    ys = y1 - (torch.arange(rows, dtype=torch.float32) + 0.5) * (y1 - y0) / rows
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def plane_for(latent_dim: int) -> LatentPlane:
    """The latent itself when it is 2-D, else the slice through its first two dimensions at zero."""
    return LatentPlane.identity() if latent_dim == 2 else LatentPlane.slice(latent_dim)


def default_plane(latent_dim: int, encodings: torch.Tensor | None) -> LatentPlane:
    """The identity for a 2-D latent, else the PCA of the encodings (a zero-based slice without them)."""
    if latent_dim == 2:
        return LatentPlane.identity()
    if encodings is not None and len(encodings) >= 3 and latent_dim > 2:
        return LatentPlane.pca(encodings)
    if latent_dim == 1:
        raise ConfigError("a 1-D latent cannot be shown as a plane")
    return LatentPlane.slice(latent_dim)


def plane_range(points: torch.Tensor | None, variational: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges: about ±3σ of the N(0, I) prior for VAEs (widened to hold 99.5% of the encodings);
    the encodings' central 99% plus a margin for a deterministic autoencoder."""
    if points is None or len(points) == 0:
        return (-3.0, 3.0), (-3.0, 3.0)
    p = torch.as_tensor(points, dtype=torch.float32)
    if variational:
        r = float(max(3.0, torch.quantile(p.abs().flatten(), 0.995)))
        r = round(r * 10) / 10
        return (-r, r), (-r, r)
    lo = torch.quantile(p, 0.005, dim=0)
    hi = torch.quantile(p, 0.995, dim=0)
    pad = (hi - lo).clamp_min(1e-3) * 0.1
    lo, hi = lo - pad, hi + pad
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))
