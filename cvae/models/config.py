"""Configuration dataclasses: one per model family, saved with the weights and enough to rebuild the model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from cvae.errors import ConfigError

LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass
class ModelConfig:
    """Fields every family shares. Image size and channels come from the dataset, never assumed."""

    family: ClassVar[str] = ""
    label_kind: ClassVar[str] = "none"  # what the model is told (generators) or predicts (classifiers)
    image_channels: int = 1
    image_size: tuple[int, int] = (28, 28)
    latent_dim: int = 2
    conv_channels: tuple[int, ...] = (32, 64)
    hidden_dim: int = 512
    likelihood: str = "bernoulli"
    gaussian_sigma: float = 0.1
    fc_layers: int = 1  # hidden fully connected layers in the encoder head and the decoder; 1 = the seed's
    decoder_refine: int = 0  # channels of two full-resolution 3×3 convs before the output; 0 = the seed's decoder
    decoder_dropout: float = 0.0  # dropout after the decoder's hidden fully connected layers (less overfitting)
    # warp-conditioned augmentation (cvae.models.warp): this share of training images is warped by up to
    # `warp_shift` pixels, `warp_rotation` degrees and a factor e^±`warp_scale`, and the networks are told the warp
    warp_probability: float = 0.0
    warp_shift: float = 1.5
    warp_rotation: float = 10.0
    warp_scale: float = 0.1

    def __post_init__(self) -> None:
        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        self.conv_channels = tuple(int(c) for c in self.conv_channels)
        self.validate()

    def validate(self) -> None:
        if len(self.image_size) != 2 or min(self.image_size) < 4:
            raise ConfigError(f"image_size must be (height, width) of at least 4 pixels, got {self.image_size}")
        if self.image_channels < 1:
            raise ConfigError(f"image_channels must be at least 1, got {self.image_channels}")
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if not self.conv_channels or min(self.conv_channels) < 1:
            raise ConfigError(f"conv_channels must list positive channel counts, got {self.conv_channels}")
        smallest = min(self.image_size) // 2 ** len(self.conv_channels)
        if smallest < 1:
            raise ConfigError(
                f"{len(self.conv_channels)} pooling stages are too many for {self.image_size[0]}x{self.image_size[1]} images"
            )
        if self.hidden_dim < 1:
            raise ConfigError(f"hidden_dim must be at least 1, got {self.hidden_dim}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.fc_layers < 1:
            raise ConfigError(f"fc_layers must be at least 1, got {self.fc_layers}")
        if self.decoder_refine < 0:
            raise ConfigError(f"decoder_refine must be 0 (off) or a channel count, got {self.decoder_refine}")
        if not 0 <= self.decoder_dropout < 1:
            raise ConfigError(f"decoder_dropout must be in [0, 1), got {self.decoder_dropout}")
        if not 0 <= self.warp_probability <= 1:
            raise ConfigError(f"warp_probability must be in [0, 1], got {self.warp_probability}")
        if min(self.warp_shift, self.warp_rotation, self.warp_scale) < 0:
            raise ConfigError("warp_shift, warp_rotation and warp_scale must be zero or positive, got "
                              f"{self.warp_shift}, {self.warp_rotation}, {self.warp_scale}")
        if self.gaussian_sigma <= 0:
            raise ConfigError(f"gaussian_sigma must be positive, got {self.gaussian_sigma}")

    @property
    def label_dim(self) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{cls.family} configuration has unknown fields: {', '.join(unknown)}")
        return cls(**values)


@dataclass
class AutoencoderConfig(ModelConfig):
    """Deterministic convolutional autoencoder: reconstruction only, small code."""

    family: ClassVar[str] = "ae"
    latent_dim: int = 4


@dataclass
class VAEConfig(ModelConfig):
    """Unconditional VAE sampled from the N(0, I) prior."""

    family: ClassVar[str] = "vae"
    latent_dim: int = 20


@dataclass
class ConditionalVAEConfig(ModelConfig):
    """Class-label cVAE; a 2-D latent by default so that the latent plane is the map."""

    family: ClassVar[str] = "cvae"
    label_kind: ClassVar[str] = "class"
    latent_dim: int = 2
    num_classes: int = 10
    label_channels: bool = False  # also give the encoder the label as constant image channels
    label_every_layer: bool = False  # feed the label to every decoder layer, not only the first

    def validate(self) -> None:
        super().validate()
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2, got {self.num_classes}")

    @property
    def label_dim(self) -> int:
        return self.num_classes


@dataclass
class BetaCVAEConfig(ModelConfig):
    """Multi-label β-CVAE for binary attributes; labels also enter the encoder as constant image channels."""

    family: ClassVar[str] = "beta-cvae"
    label_kind: ClassVar[str] = "attributes"
    image_channels: int = 3
    image_size: tuple[int, int] = (64, 64)
    latent_dim: int = 128
    conv_channels: tuple[int, ...] = (32, 64, 128, 256)
    hidden_dim: int = 512
    likelihood: str = "gaussian"
    num_attributes: int = 40
    label_channels: bool = True
    label_every_layer: bool = False

    def validate(self) -> None:
        super().validate()
        if self.num_attributes < 1:
            raise ConfigError(f"num_attributes must be at least 1, got {self.num_attributes}")

    @property
    def label_dim(self) -> int:
        return self.num_attributes


@dataclass
class ClassifierConfig(ModelConfig):
    """Small convolutional classifier: the independent judge of conditional accuracy."""

    family: ClassVar[str] = "classifier"
    label_kind: ClassVar[str] = "class"
    conv_channels: tuple[int, ...] = (32, 64)
    hidden_dim: int = 128
    num_classes: int = 10
    dropout: float = 0.25
    augment_shift: int = 0  # train on images shifted by up to this many pixels (a judge that generalises)

    @property
    def label_dim(self) -> int:
        return self.num_classes


CONFIGS: dict[str, type[ModelConfig]] = {
    c.family: c for c in (AutoencoderConfig, VAEConfig, ConditionalVAEConfig, BetaCVAEConfig, ClassifierConfig)
}
