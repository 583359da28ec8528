"""Planes through a latent space: round trips, slices and the PCA plane's orientation."""

import pytest
import torch

from cvae.errors import ConfigError
from cvae.plane import LatentPlane, default_plane, plane_for


def test_pca_plane_round_trip_and_variance_order():
    encodings = torch.randn(300, 5) * torch.tensor([3.0, 1.0, 0.5, 0.2, 0.1])
    plane = LatentPlane.pca(encodings)
    points = torch.tensor([[0.3, -0.7], [2.0, 1.0]])
    assert torch.allclose(plane.project(plane.to_z(points)), points, atol=1e-5)
    assert plane.explained[0] > plane.explained[1]
    assert plane.axes[0].abs().argmax() == 0  # the widest latent direction is the first axis


def test_slice_sets_two_dimensions_and_keeps_the_base():
    plane = LatentPlane.slice(4, (3, 1), base=[9.0, 9.0, 9.0, 9.0])
    assert torch.equal(plane.to_z([[1.0, 2.0]]), torch.tensor([[9.0, 2.0, 9.0, 1.0]]))
    assert torch.equal(plane.project(torch.tensor([[5.0, 6.0, 7.0, 8.0]])), torch.tensor([[8.0, 6.0]]))


@pytest.mark.parametrize("dims", [(1, 1), (0, 4)])
def test_bad_slices_are_config_errors(dims):
    with pytest.raises(ConfigError, match="two different indices below 4"):
        LatentPlane.slice(4, dims)


def test_default_planes():
    assert plane_for(2).mode == "identity" and plane_for(6).mode == "slice"
    assert default_plane(6, torch.randn(10, 6)).mode == "pca"
    with pytest.raises(ConfigError, match="1-D latent"):
        default_plane(1, None)
