"""Builders shared by the tests (the pytest fixtures that use them are in conftest.py): tiny random-weight
checkpoints of every family in the real on-disk format, the tiny face model (16×16 RGB β-CVAE) and its
checkpoints, a tiny face-attribute judge, tiny in-memory face data sets and face folders on disk (written by
tests/formats.py in CelebA's two layouts). No data folder needed."""

from __future__ import annotations

from pathlib import Path

import torch

from cvae.checkpoint import Checkpoint, save_checkpoint
from cvae.data import ImageDataset
from cvae.models import (AttributeJudgeConfig, AutoencoderConfig, BetaCVAEConfig, ClassifierConfig,
                         ConditionalVAEConfig, VAEConfig, build_model)
from tests import formats

ROOT = Path(__file__).resolve().parents[1]  # the repository

TINY = dict(image_size=(28, 28), conv_channels=(4, 8), hidden_dim=16)
CONFIGS = {
    # wired like the bundled cVAE, so the explorer's tests run the same decoder paths
    "cvae": lambda: ConditionalVAEConfig(**TINY, label_channels=True, label_every_layer=True, warp_probability=0.5,
                                         decoder_dropout=0.1),
    "vae": lambda: VAEConfig(latent_dim=6, **TINY),
    "ae": lambda: AutoencoderConfig(latent_dim=4, **TINY),
    "classifier": lambda: ClassifierConfig(**TINY),
}
# attribute names no folder of tests.formats uses (those are formats.ATTRIBUTES, "Attr_i")
ATTRIBUTES = [f"Attribute_{i}" for i in range(40)]


# ----- face models and checkpoints ------------------------------------------------------------------------------

def face_config(size: int = 16, **overrides) -> BetaCVAEConfig:
    """The tests' face model: a size×size RGB β-CVAE with 40 attributes and an 8-d latent, small layers."""
    values = dict(image_size=(size, size), conv_channels=(4, 8), hidden_dim=16, latent_dim=8, num_attributes=40)
    return BetaCVAEConfig(**{**values, **overrides})


def face_model(size: int = 16, **overrides):
    """build_model(face_config(...)) (the caller seeds torch when the weights matter)."""
    return build_model(face_config(size, **overrides))


def face_checkpoint(path, names=formats.ATTRIBUTES, derived=None, seed: int = 0, size: int = 16,
                    model: dict | None = None, **fields):
    """A tiny face checkpoint (torch seeded with `seed`, then the model of face_config(size, **model)) whose
    attribute names are `names` (by default the fixture folders' names); `derived` is a dict, or a function of
    the model that gives one; `fields` (train_config, epoch, metrics) go to the Checkpoint. Returns the path."""
    torch.manual_seed(seed)
    network = face_model(size, **(model or {})).eval()
    derived = derived(network) if callable(derived) else dict(derived or {})
    checkpoint = Checkpoint(model=network, label_names=list(names), derived=derived,
                            dataset={"name": "celeba", "split": "train", "count": 8, "channels": 3,
                                     "image_size": [size, size], "label_kind": "attributes"}, **fields)
    return save_checkpoint(checkpoint, path)


def face_judge(path, attributes: int = 40, size: int = 16, seed: int = 3):
    """A tiny random-weight attribute judge reading the first `attributes` real CelebA names. Returns the path."""
    torch.manual_seed(seed)
    judge = build_model(AttributeJudgeConfig(image_size=(size, size), conv_channels=(4, 8), hidden_dim=8,
                                             num_attributes=attributes)).eval()
    checkpoint = Checkpoint(model=judge, label_names=formats.CELEBA_NAMES[:attributes],
                            dataset={"name": "celeba", "split": "train", "count": 8, "channels": 3,
                                     "image_size": [size, size], "label_kind": "attributes"},
                            train_config={"epochs": 1}, epoch=1)
    return save_checkpoint(checkpoint, path)


def make_checkpoint(path, family: str = "cvae", seed: int = 0, encodings: int = 200):
    """Write a tiny checkpoint of `family` with random weights (and, but for a face model or a classifier, fake
    test encodings) and a model card's figures; returns the path. "beta-cvae": face_checkpoint's face model."""
    if family == "beta-cvae":  # a face model: 16×16 RGB, 40 attributes, no class labels
        return face_checkpoint(path, names=ATTRIBUTES, seed=seed, epoch=1, metrics={"test_nelbo": 1234.5},
                               train_config={"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "beta": 1.0,
                                             "seed": seed})
    torch.manual_seed(seed)
    model = build_model(CONFIGS[family]()).eval()
    derived = {}
    if family != "classifier" and encodings:
        generator = torch.Generator().manual_seed(seed)
        derived = {"test_encodings": torch.randn(encodings, model.latent_dim, generator=generator),
                   "test_labels": torch.arange(encodings) % 10}
    checkpoint = Checkpoint(
        model=model, label_names=[str(d) for d in range(10)],
        dataset={"name": "mnist", "split": "train", "count": 100, "channels": 1, "image_size": [28, 28],
                 "label_kind": "class"},
        train_config={"epochs": 1, "batch_size": 10, "learning_rate": 1e-3, "beta": 1.0, "seed": seed},
        epoch=1, metrics={"test_nelbo": 543.21, "test_accuracy": 0.1} if family == "classifier" else
        {"test_nelbo": 543.21, "test_rec": 540.0, "test_kl": 3.21},
        derived=derived)
    return save_checkpoint(checkpoint, path)


# ----- face data ------------------------------------------------------------------------------------------------

def tiny_faces(n: int = 64, names=ATTRIBUTES, rates=0.3, seed: int = 0, split: str = "train", size: int = 16,
               marked: bool = True) -> ImageDataset:
    """n random size×size RGB faces in memory, attribute k on at rate `rates` (one number or one per name); when
    `marked`, the first attribute is also painted into a red corner, something for a model to learn."""
    generator = torch.Generator().manual_seed(seed)
    rates = torch.as_tensor(rates)
    labels = (torch.rand(n, len(names), generator=generator) < rates).to(torch.uint8)
    images = torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    if marked:
        images[:, 0, :4, :4] = labels[:, :1, None].expand(-1, 4, 4) * 255
    return ImageDataset("celeba", split, images, labels, list(names), "attributes")


def face_folder(root, layout: str, count: int = 40):
    """A tiny 16×16 face folder in one of CelebA's two layouts ("celeba-hq", "celeba"); returns the data folder
    (its parent for CelebA-HQ)."""
    if layout == "celeba-hq":
        formats.make_celeba_hq(root / "celebahq64", count=count, size=16)
    else:
        formats.make_celeba(root / "celeba", count=count)
    return root


def held_out(root, size: int = 16):
    """A face folder's held-out faces as the panels load them, read independently."""
    from cvae import data as cvae_data

    return cvae_data.load_dataset("celeba", root, "test", image_size=size, cache_dir=False)

