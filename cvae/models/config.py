"""Configuration dataclasses: one per model family, saved with the weights and enough to rebuild the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cvae.errors import ConfigError
from cvae.options import ANY, ConfigBase, option

LIKELIHOODS = ("bernoulli", "gaussian", "calibrated")
CALIBRATED_MIN_SIGMA = 1e-3  # the calibrated Gaussian's σ never falls below this (a perfect batch has MSE 0)
LABEL_KINDS = {"num_classes": "class", "num_attributes": "attributes"}  # counting field -> kind of label
PLAIN, RESIDUAL = "plain", "residual"
ARCHITECTURES = (PLAIN, RESIDUAL)


@dataclass
class ImageModelConfig(ConfigBase):
    """Fields every image model shares. Image size and channels come from the dataset, never assumed."""

    family: ClassVar[str] = ""
    label_kind: ClassVar[str] = "none"  # what the model is told (generators) or predicts (classifiers)
    label_field: ClassVar[str] = ""  # the field that counts the labels; its kind follows from it (LABEL_KINDS)
    image_channels: int = option(1, "image channels (taken from the data)", low=1, cli=None)
    image_size: tuple[int, int] = option((28, 28), "image height and width (taken from the data)", low=4, cli=None)
    conv_channels: tuple[int, ...] = option((32, 64), "encoder conv channels, one stage each, e.g. 32,64", low=1,
                                            metavar="C1,C2,...")
    hidden_dim: int = option(512, "width of the hidden fully connected layer", low=1)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.kind = f"{cls.family} configuration" if cls.family else "model configuration"
        if cls.label_field:
            cls.label_kind = LABEL_KINDS[cls.label_field]

    def validate(self) -> None:
        super().validate()
        if len(self.image_size) != 2:
            raise ConfigError(f"{self.kind}: image_size must be (height, width), got {self.image_size}")
        if not self.conv_channels:
            raise ConfigError(f"{self.kind}: conv_channels must list at least one stage")
        if min(self.image_size) // 2 ** len(self.conv_channels) < 1:
            raise ConfigError(f"{self.kind}: {len(self.conv_channels)} pooling stages are too many for "
                              f"{self.image_size[0]}x{self.image_size[1]} images")

    @property
    def label_dim(self) -> int:
        return int(getattr(self, self.label_field)) if self.label_field else 0


@dataclass
class ModelConfig(ImageModelConfig):
    """What the generative families (autoencoder, VAE, cVAE, β-CVAE) add: a latent space and a decoder."""

    # fc_layers > 1 and decoder_refine measured no gain on the bundled models; old files hold the neutral values
    retired: ClassVar[dict[str, Any]] = {"fc_layers": 1, "decoder_refine": 0}
    latent_dim: int = option(2, "latent size", low=1)
    architecture: str = option(PLAIN, "network body: plain (conv + max-pool encoder, transposed-conv decoder) or "
                               "residual (residual blocks with group norm, resize-then-conv decoder, labels at every "
                               "block)", choices=ARCHITECTURES)
    label_injection: str = option("film", "residual decoder: how the label reaches each block, film (a per-channel "
                                  "scale and shift) or concat (constant planes)", choices=("film", "concat"))
    full_size_width: int = option(0, "residual decoder: width of one more label-conditioned residual block at the "
                                  "full image size before the image is drawn (0: none, and the last nearest "
                                  "resize's 2×2 blocks are smoothed by the drawing conv alone)", low=0)
    likelihood: str = option("bernoulli", "pixel likelihood of the decoder; calibrated: a Gaussian whose σ is the "
                             "batch's RMS error (σ-VAE)", choices=LIKELIHOODS)
    gaussian_sigma: float = option(0.1, "standard deviation of the Gaussian likelihood", low=0, low_open=True,
                                   cli=None)
    decoder_dropout: float = option(0.0, "dropout after the decoder's hidden layer (0: off)", low=0, high=1,
                                    high_open=True)
    # warp-conditioned augmentation (cvae.models.warp): this share of training images is warped by up to
    # `warp_shift` pixels, `warp_rotation` degrees and a factor e^±`warp_scale`, and the networks are told the warp
    warp_probability: float = option(0.0, "warp-conditioned augmentation: share of training images warped, e.g. 0.5 "
                                     "(0: off)", low=0, high=1, cli="--warp", metavar="SHARE")
    warp_shift: float = option(1.5, "largest warp shift in pixels", low=0, cli=None)
    warp_rotation: float = option(10.0, "largest warp rotation in degrees", low=0, cli=None)
    warp_scale: float = option(0.1, "largest warp log-scale", low=0, cli=None)


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
    label_field: ClassVar[str] = "num_classes"
    latent_dim: int = 2
    num_classes: int = option(10, "number of classes (taken from the data)", low=2, cli=None)
    label_channels: bool = option(False, "also give the encoder the label as constant image channels")
    label_every_layer: bool = option(False, "feed the label to every decoder layer, not only the first")
    class_loss: float = option(
        0.0, "class cVAE: weight of the class-reading loss (codes decoded under a random class must be read as that "
        "class by a small reader trained on the real images alongside; 0: off)", low=0)


@dataclass
class BetaCVAEConfig(ModelConfig):
    """Multi-label β-CVAE for binary attributes; labels also enter the encoder as constant image channels."""

    family: ClassVar[str] = "beta-cvae"
    label_field: ClassVar[str] = "num_attributes"
    image_channels: int = 3
    image_size: tuple[int, int] = (64, 64)
    latent_dim: int = 128
    conv_channels: tuple[int, ...] = (32, 64, 128, 256)
    hidden_dim: int = 512
    likelihood: str = "gaussian"
    num_attributes: int = option(40, "number of binary attributes (taken from the data)", low=1, cli=None)
    label_channels: bool = True
    label_every_layer: bool = option(False, "feed the label to every decoder layer, not only the first")
    attribute_loss: float = option(
        0.0, "β-CVAE: weight of the attribute-reading loss (decodes under shuffled attribute vectors must be read as "
        "those attributes by a small reader trained on the real faces alongside; 0: off)", low=0)
    attribute_read_size: int = option(
        0, "β-CVAE attribute-reading loss: the reader reads real faces and decodes area-averaged down to this "
        "height (e.g. 32 for 64×64 faces), so that only shapes, not stripes or textures a few pixels wide, satisfy "
        "it; 0: at full size", low=0)
    attribute_flips: float = option(
        0.5, "β-CVAE attribute-reading loss: share of targets that are the face's own attributes with one flipped "
        "(the rest: another face's whole attribute vector)", low=0, high=1)
    latent_adversary: float = option(
        0.0, "β-CVAE: weight of a Fader-style latent adversary (a small network learns to read the attributes from "
        "z; the encoder learns to make it read the opposite, so the decoder must take them from the label; 0: off)",
        low=0)
    adversary_warmup: float = option(2.0, "β-CVAE latent adversary: epochs over which its weight ramps up from 0",
                                     low=0)
    critic: float = option(
        0.0, "β-CVAE: weight of a realism critic on decodes under other attributes (a PatchGAN critic with the hinge "
        "loss, trained alongside on the real faces; 0: off)", low=0)


@dataclass
class ClassifierConfig(ImageModelConfig):
    """Small convolutional classifier: the independent judge of conditional accuracy."""

    # judges saved before the split carried the generative fields, which never did anything for them
    retired: ClassVar[dict[str, Any]] = {name: ANY for name in (
        "latent_dim", "likelihood", "gaussian_sigma", "fc_layers", "decoder_refine", "decoder_dropout",
        "warp_probability", "warp_shift", "warp_rotation", "warp_scale")}
    family: ClassVar[str] = "classifier"
    label_field: ClassVar[str] = "num_classes"
    hidden_dim: int = 128
    num_classes: int = option(10, "number of classes (taken from the data)", low=2, cli=None)
    dropout: float = option(0.25, "judge: dropout before each fully connected layer", low=0, high=1, high_open=True)
    augment_shift: int = option(0, "judge: train on images shifted by up to this many pixels", low=0)


@dataclass
class AttributeJudgeConfig(ImageModelConfig):
    """Face-attribute judge: one sigmoid output per attribute, read on generated and edited faces."""

    family: ClassVar[str] = "attribute-judge"
    label_field: ClassVar[str] = "num_attributes"
    num_attributes: int = option(40, "number of binary attributes (taken from the data)", low=1, cli=None)
    conv_channels: tuple[int, ...] = (32, 64, 128, 256, 256)
    hidden_dim: int = 256
    image_channels: int = 3
    image_size: tuple[int, int] = (64, 64)
    dropout: float = option(0.3, "judge: dropout before each fully connected layer", low=0, high=1, high_open=True)
    augment_shift: int = option(3, "judge: train on images shifted by up to this many pixels (and mirrored)", low=0)
    positive_weighting: float = option(
        0.5, "attribute judge: weight positives by (negatives/positives)^this, from the training data (0: off, "
        "1: fully balanced); rare attributes need it", low=0, high=1)
    body: str = option("vgg", "attribute judge: vgg (conv + batch norm + max-pool stages) or residual (residual "
                       "blocks with group norm, global average pool)", choices=("vgg", "residual"))
    read_size: int = option(0, "attribute judge: shrink faces to this many pixels a side before reading them (a "
                            "low-pass view that reads shapes, not textures; 0: the full size)", low=0)
    augment_blur: float = option(0.0, "attribute judge: train on faces blurred by a Gaussian of σ up to this many "
                                 "pixels", low=0)
    augment_noise: float = option(0.0, "attribute judge: train on faces with Gaussian noise of a standard deviation "
                                  "up to this", low=0)
    augment_colour: float = option(0.0, "attribute judge: train with brightness, contrast and saturation factors "
                                   "within 1 ± this", low=0, high=1)

    def validate(self) -> None:
        super().validate()
        if self.read_size and self.read_size // 2 ** len(self.conv_channels) < 1:
            raise ConfigError(f"{self.kind}: {len(self.conv_channels)} stages are too many for faces read at "
                              f"{self.read_size}x{self.read_size}")


CONFIGS: dict[str, type[ImageModelConfig]] = {
    c.family: c for c in (AutoencoderConfig, VAEConfig, ConditionalVAEConfig, BetaCVAEConfig, ClassifierConfig,
                             AttributeJudgeConfig)
}
