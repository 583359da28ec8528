"""Model families, their configurations and the registry that rebuilds a model from a saved configuration."""

from __future__ import annotations

from typing import Any

from torch import nn

from cvae.errors import ConfigError
from cvae.models.capabilities import ATTRIBUTES, CLASS_LABEL, NO_LABEL, Capabilities
from cvae.models.attribute_judge import AttributeJudge
from cvae.models.classifier import Classifier
from cvae.models.config import (CONFIGS, AttributeJudgeConfig, AutoencoderConfig, BetaCVAEConfig, ClassifierConfig,
                                ConditionalVAEConfig, ModelConfig, VAEConfig)
from cvae.models.generative import VAE, Autoencoder, BetaCVAE, ConditionalVAE, GenerativeModel

MODELS: dict[str, type[nn.Module]] = {
    "ae": Autoencoder, "vae": VAE, "cvae": ConditionalVAE, "beta-cvae": BetaCVAE, "classifier": Classifier,
    "attribute-judge": AttributeJudge,
}
FAMILY_NAMES = {
    "ae": "convolutional autoencoder", "vae": "VAE", "cvae": "conditional VAE (class label)",
    "beta-cvae": "β-CVAE (multi-label attributes)", "classifier": "classifier (judge)",
    "attribute-judge": "face-attribute judge",
}


def config_class(family: str) -> type[ModelConfig]:
    try:
        return CONFIGS[family]
    except KeyError:
        raise ConfigError(f"unknown model family {family!r}; expected one of {', '.join(CONFIGS)}") from None


def build_model(config: ModelConfig) -> nn.Module:
    return MODELS[config.family](config)


def config_from_dict(family: str, values: dict[str, Any]) -> ModelConfig:
    return config_class(family).from_dict(values)


__all__ = [
    "AutoencoderConfig", "VAEConfig", "ConditionalVAEConfig", "BetaCVAEConfig", "ClassifierConfig", "AttributeJudgeConfig", "ModelConfig",
    "Autoencoder", "VAE", "ConditionalVAE", "BetaCVAE", "Classifier", "AttributeJudge", "GenerativeModel",
    "Capabilities", "NO_LABEL", "CLASS_LABEL", "ATTRIBUTES", "MODELS", "FAMILY_NAMES", "build_model", "config_class", "config_from_dict",
]
