"""The second, independent attribute judge: another architecture that reads low-passed faces, trained with blur,
noise and colour augmentation (cvae.models.attribute_judge)."""

from __future__ import annotations

import pytest
import torch

from cvae.errors import ConfigError
from cvae.models import AttributeJudgeConfig, build_model
from cvae.models.attribute_judge import photometric_augment
from cvae.metrics import sharpness


def low_pass_judge(**overrides):
    torch.manual_seed(0)
    values = dict(image_size=(16, 16), conv_channels=(4, 8), hidden_dim=8, num_attributes=3, body="residual",
                  read_size=8)
    values.update(overrides)
    return build_model(AttributeJudgeConfig(**values)).eval()


def test_a_texture_finer_than_its_view_does_not_change_what_the_low_pass_judge_reads():
    """A ±0.2 checkerboard of 2-pixel period averages out in every 2×2 block it reads: a texture painted to please
    a CNN at full size reads as nothing; a shape (a dark band) does change the reading."""
    judge = low_pass_judge()
    faces = torch.rand(4, 3, 16, 16) * 0.6 + 0.2
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float() * 0.4 - 0.2
    assert torch.allclose(judge(faces), judge(faces + checker), atol=1e-5)
    banded = faces.clone()
    banded[:, :, 2:6] = 0.0
    assert not torch.allclose(judge(faces), judge(banded), atol=1e-3)
    full = low_pass_judge(read_size=0)  # the same body reading every pixel sees the texture
    assert not torch.allclose(full(faces), full(faces + checker), atol=1e-5)


def test_the_residual_body_is_another_architecture_than_the_shipped_judges():
    names = {type(m).__name__ for m in low_pass_judge().modules()}
    assert {"ResBlock", "GroupNorm", "AdaptiveAvgPool2d"} <= names and "BatchNorm2d" not in names
    assert "ResBlock" not in {type(m).__name__ for m in low_pass_judge(body="vgg").modules()}


def test_too_many_stages_for_the_read_size_is_a_clear_error():
    with pytest.raises(ConfigError, match="too many for faces read at 4x4"):
        AttributeJudgeConfig(image_size=(16, 16), conv_channels=(4, 8, 16), read_size=4)


def test_photometric_augmentation_blurs_recolours_and_adds_noise_within_range():
    faces = torch.rand(32, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(photometric_augment(faces, 0, 0, 0), faces)
    blurred = photometric_augment(faces, 2.0, 0, 0, torch.Generator().manual_seed(2))
    assert sharpness(blurred) < 0.7 * sharpness(faces)
    assert torch.allclose(blurred.mean(), faces.mean(), atol=0.02)  # a blur moves no mass
    noisy = photometric_augment(faces, 0, 0.2, 0.3, torch.Generator().manual_seed(3))
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.allclose(noisy, faces)
    again = photometric_augment(faces, 0, 0.2, 0.3, torch.Generator().manual_seed(3))
    assert torch.equal(noisy, again)  # seeded: a resumed judge run augments the same way


def test_the_judge_trains_on_augmented_faces_only_in_training():
    plain = low_pass_judge(dropout=0.0, augment_shift=0)
    augmented = low_pass_judge(dropout=0.0, augment_shift=0, augment_blur=1.0, augment_noise=0.1,
                               augment_colour=0.2)  # the same weights (same seed), only the augmentation differs
    faces, labels = torch.rand(8, 3, 16, 16), torch.randint(0, 2, (8, 3))
    assert torch.equal(plain.eval().loss(faces, labels)["loss"], augmented.eval().loss(faces, labels)["loss"])
    trained = [j.train().loss(faces, labels, generator=torch.Generator().manual_seed(0))["loss"]
               for j in (plain, augmented)]
    assert trained[0] != trained[1]
