"""Models say what they can do; panels decide from that alone, never from the family name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cvae.models import Capabilities, build_model
from explorer.panels.generate import GeneratePanel
from explorer.panels.latent_map import LatentMapPanel
from tests.fixtures import CONFIGS, face_config


@pytest.mark.parametrize("family, expected", [
    ("cvae", dict(label_kind="class", label_count=10, generative=True, variational=True, latent_dim=2)),
    ("vae", dict(label_kind="none", label_count=0, generative=True, variational=True, latent_dim=6)),
    ("ae", dict(label_kind="none", label_count=0, generative=True, variational=False, latent_dim=4)),
    ("classifier", dict(label_kind="class", label_count=10, generative=False, variational=False, latent_dim=0)),
])
def test_each_family_reports_what_it_can_do(family, expected):
    capabilities = build_model(CONFIGS[family]()).capabilities
    assert {k: getattr(capabilities, k) for k in expected} == expected
    assert capabilities.image_shape == (1, 28, 28)
    assert capabilities.conditional == (family == "cvae")


def test_a_face_model_takes_attributes():
    capabilities = build_model(face_config()).capabilities
    assert capabilities.takes_attributes and not capabilities.takes_class
    assert (capabilities.label_count, capabilities.image_shape, capabilities.latent_dim) == (40, (3, 16, 16), 8)


class NoFamily:
    """A checkpoint stand-in that fails loudly if anyone asks for its family."""

    def __init__(self, capabilities):
        self.capabilities = capabilities

    @property
    def family(self):
        raise AssertionError("a panel asked for the family name")


def entry(**values) -> SimpleNamespace:
    base = dict(label_kind="none", label_count=0, generative=True, variational=True, latent_dim=2,
                image_shape=(1, 28, 28))
    return SimpleNamespace(checkpoint=NoFamily(Capabilities(**{**base, **values})))


@pytest.mark.parametrize("values, map_ok, generate_ok", [
    (dict(label_kind="class", label_count=26), True, True),            # a new class-label data set (letters)
    (dict(latent_dim=32, image_shape=(3, 32, 32)), True, True),       # an unconditional RGB model
    (dict(variational=False, latent_dim=4), True, True),              # an autoencoder
    (dict(label_kind="attributes", label_count=40, latent_dim=128), False, True),  # faces: attribute toggles
    (dict(generative=False, label_kind="class", latent_dim=0), False, False),      # a classifier
    (dict(latent_dim=1), False, True),
])
def test_panels_decide_by_capabilities_alone(values, map_ok, generate_ok):
    item = entry(**values)
    for panel, ok in ((LatentMapPanel, map_ok), (GeneratePanel, generate_ok)):
        reason = panel.unavailable_reason(item)
        assert (reason is None) == ok, (panel.__name__, reason)
        assert reason is None or (reason.endswith(".") and "\n" not in reason)
