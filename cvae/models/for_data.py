"""A model configuration built from a data set, and the check that a model fits a data set: one place for the
CLI, the window's Train panel and the training loop, so they cannot disagree."""

from __future__ import annotations

import dataclasses

from cvae.errors import ConfigError
from cvae.models import config_class
from cvae.models.capabilities import ATTRIBUTES, CLASS_LABEL, NO_LABEL
from cvae.models.config import ImageModelConfig

LABEL_WORDS = {CLASS_LABEL: "class labels", ATTRIBUTES: "attribute labels"}


def default_family(data) -> str:
    """The conditional family a data set calls for: the β-CVAE for attributes, the class-label cVAE otherwise."""
    return "beta-cvae" if data.label_kind == ATTRIBUTES else "cvae"


def config_for_data(family: str | None, data, **overrides) -> ImageModelConfig:
    """The `family` configuration (default: `default_family`) for `data` (an ImageDataset): image size,
    channels and label count from the data, the family's defaults, then `overrides` (field name → value).
    A label kind that does not fit, or an override the family has no field for, is a ConfigError."""
    family = family or default_family(data)
    cls = config_class(family)
    if cls.label_kind != NO_LABEL and cls.label_kind != data.label_kind:
        other = "cvae" if data.label_kind == CLASS_LABEL else "beta-cvae"
        raise ConfigError(f"model {family} needs {LABEL_WORDS[cls.label_kind]}; {data.name} has "
                          f"{LABEL_WORDS.get(data.label_kind, data.label_kind)} (use {other})")
    values: dict = {"image_channels": data.channels, "image_size": tuple(data.image_size)}
    if cls.label_kind == CLASS_LABEL:
        values["num_classes"] = len(data.label_names)
    elif cls.label_kind == ATTRIBUTES:
        values["num_attributes"] = len(data.label_names)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"the {family} model has no {', '.join(unknown)} setting; it takes "
                          f"{', '.join(sorted(known - set(values)))}")
    return cls(**{**values, **overrides})


def check_names(model_names, data, role: str = "training") -> None:
    """Refuse attribute data whose names differ from those a model was trained with (same count, other meaning:
    training on would silently relabel every attribute). Class names are not compared: digits are digits."""
    if (not model_names or data.label_kind != ATTRIBUTES or len(model_names) != len(data.label_names)
            or list(model_names) == list(data.label_names)):
        return  # another count is check_fits's message
    pairs = [(m, d) for m, d in zip(model_names, data.label_names) if m != d]
    shown = ", ".join(f"{d} where the model has {m}" for m, d in pairs[:3]) + (" …" if len(pairs) > 3 else "")
    raise ConfigError(f"the {role} data's attributes differ from the model's: {shown}; expected the attribute "
                      "names, in order, that the model was trained with")


def check_fits(config: ImageModelConfig, data, role: str = "training") -> None:
    """Refuse data whose images or labels the model was not built for (e.g. resuming on another data set)."""
    if data.channels != config.image_channels or tuple(data.image_size) != tuple(config.image_size):
        raise ConfigError(
            f"the {role} images are {data.channels}×{data.image_size[0]}×{data.image_size[1]} but the model "
            f"expects {config.image_channels}×{config.image_size[0]}×{config.image_size[1]}")
    if not config.label_dim:
        return
    if data.label_kind != config.label_kind:
        raise ConfigError(f"the {role} data has {LABEL_WORDS.get(data.label_kind, data.label_kind)}; the model "
                          f"takes {LABEL_WORDS[config.label_kind]}")
    count = len(data.label_names) if data.label_kind == CLASS_LABEL else data.labels.shape[1]
    if count != config.label_dim:
        noun = "classes" if data.label_kind == CLASS_LABEL else "attributes"
        raise ConfigError(f"the {role} data has {count} {noun}; the model expects {config.label_dim}")
