"""The four generative families share one convolutional body; they differ in conditioning and in the KL term."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cvae.errors import ConfigError
from cvae.models.capabilities import CLASS_LABEL, Capabilities, capabilities_of
from cvae.models.config import AutoencoderConfig, BetaCVAEConfig, ConditionalVAEConfig, ModelConfig, VAEConfig
from cvae.models.layers import ConvDecoder, ConvEncoder
from cvae.models.warp import WARP_DIMS, apply_warps, sample_warps


class GenerativeModel(nn.Module):
    """Encoder q(z|x, y) and decoder p(x|z, y); `decode` returns images in [0, 1].

    Labels are passed as class indices (class-label cVAE), as {0, 1} or real-valued attribute vectors
    (β-CVAE; values between 0 and 1, or beyond, give strength sliders), or as None (unconditional).
    A warp-conditioned model (config.warp_probability > 0) also sees four warp parameters after the label;
    they are zeros (no warp) everywhere except on the warped images of a training step.
    """

    variational = True
    config: ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.warp_dims = WARP_DIMS if config.warp_probability > 0 else 0
        label_dim = config.label_dim + self.warp_dims  # what the networks are conditioned on
        label_channels = label_dim if getattr(config, "label_channels", False) else 0
        self.encoder = ConvEncoder(config.image_channels + label_channels, config.conv_channels, config.image_size)
        head_in = self.encoder.out_features + label_dim
        self.encoder_head = nn.Sequential(nn.Linear(head_in, config.hidden_dim), nn.ReLU(inplace=True))
        self.to_mean = nn.Linear(config.hidden_dim, config.latent_dim)
        self.to_logvar = nn.Linear(config.hidden_dim, config.latent_dim) if self.variational else None
        self.decoder = ConvDecoder(config.latent_dim + label_dim, config.hidden_dim, config.conv_channels,
                                   config.image_channels, config.image_size,
                                   label_dim if getattr(config, "label_every_layer", False) else 0,
                                   config.decoder_dropout)
        # only with an attribute-reading loss (β-CVAE): a reader of attributes from images, trained on real faces
        self.attribute_reader = (AttributeReader(config.image_channels, config.conv_channels, config.image_size,
                                                 config.label_dim)
                                 if getattr(config, "attribute_loss", 0) > 0 else None)
        # only with a class-reading loss (class cVAE): the same kind of reader, of the class
        self.class_reader = (AttributeReader(config.image_channels, config.conv_channels, config.image_size,
                                             config.label_dim)
                             if getattr(config, "class_loss", 0) > 0 else None)

    # ----- labels -----
    @property
    def family(self) -> str:
        return self.config.family

    @property
    def conditional(self) -> bool:
        return self.config.label_dim > 0

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_of(self.config, generative=True, variational=self.variational)

    def label_vector(self, labels: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor | None:
        """The label as the float vector the networks see; class indices become one-hot."""
        if not self.conditional:
            return None
        if labels is None:
            raise ConfigError(f"the {self.family} model is conditional: give a label for every image")
        labels = torch.as_tensor(labels, device=device)
        if self.config.label_kind == CLASS_LABEL and labels.dim() <= 1 and not labels.is_floating_point():
            labels = F.one_hot(labels.long().reshape(-1), self.config.label_dim)
        labels = labels.float().reshape(-1, self.config.label_dim)
        if labels.shape[0] == 1 and batch > 1:
            labels = labels.expand(batch, -1)
        if labels.shape[0] != batch:
            raise ConfigError(f"got {labels.shape[0]} labels for {batch} items")
        return labels

    def conditioning(self, labels: torch.Tensor | None, batch: int, device: torch.device,
                     warps: torch.Tensor | None = None) -> torch.Tensor | None:
        """The label vector, then (warp-conditioned models only) the warp parameters, zeros meaning no warp."""
        y = self.label_vector(labels, batch, device)
        if not self.warp_dims:
            return y
        if warps is None:
            warps = torch.zeros(batch, self.warp_dims, device=device)
        return warps.float() if y is None else torch.cat([y, warps.to(y.dtype)], dim=1)

    # ----- networks -----
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None, warps: torch.Tensor | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Posterior mean and log-variance (log-variance is None for the deterministic autoencoder)."""
        y = self.conditioning(labels, x.shape[0], x.device, warps)
        inputs = x
        if y is not None and getattr(self.config, "label_channels", False):
            planes = y[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            inputs = torch.cat([x, planes.to(x.dtype)], dim=1)
        features = self.encoder(inputs)
        if y is not None:
            features = torch.cat([features, y.to(features.dtype)], dim=1)
        h = self.encoder_head(features)
        return self.to_mean(h), (self.to_logvar(h) if self.to_logvar is not None else None)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                      warps: torch.Tensor | None = None) -> torch.Tensor:
        y = self.conditioning(labels, z.shape[0], z.device, warps)
        inputs = z if y is None else torch.cat([z, y.to(z.dtype)], dim=1)
        return self.decoder(inputs, y)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1]: the Bernoulli means or the Gaussian means."""
        return torch.sigmoid(self.decode_logits(z, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
                warps: torch.Tensor | None = None):
        mean, logvar = self.encode(x, labels, warps)
        z = self.reparameterize(mean, logvar, generator)
        return self.decode_logits(z, labels, warps), mean, logvar

    @staticmethod
    def reparameterize(mean: torch.Tensor, logvar: torch.Tensor | None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        if logvar is None:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + noise * torch.exp(0.5 * logvar)

    # ----- objective -----
    def reconstruction_nats(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x|z) per image, in nats."""
        if self.config.likelihood == "bernoulli":
            per_pixel = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
        else:
            sigma = self.config.gaussian_sigma
            per_pixel = 0.5 * ((torch.sigmoid(logits.float()) - x.float()) / sigma) ** 2 \
                + 0.5 * math.log(2 * math.pi * sigma ** 2)
        return per_pixel.flatten(1).sum(1)

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None, beta: float = 1.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """`loss` (mean rec + β·KL, what training minimises) and per-image means of its terms in nats.

        `nelbo` is the negative ELBO at β = 1, the figure comparable across runs and papers.
        """
        warps = None
        if self.training and self.warp_dims:  # a training step of a warp-conditioned model
            config = self.config
            warps = sample_warps(x.shape[0], config.warp_probability, generator, x.device)
            x = apply_warps(x, warps, config.warp_shift, config.warp_rotation, config.warp_scale)
        mean, logvar = self.encode(x, labels, warps)
        z = self.reparameterize(mean, logvar, generator)
        logits = self.decode_logits(z, labels, warps)
        rec = self.reconstruction_nats(logits, x)
        if logvar is None:  # an autoencoder has no ELBO: its loss is the reconstruction alone
            return {"loss": rec.mean(), "rec": rec.mean().detach()}
        kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(1)
        terms = {
            "loss": (rec + beta * kl).mean(),
            "nelbo": (rec + kl).mean().detach(),
            "rec": rec.mean().detach(),
            "kl": kl.mean().detach(),
        }
        if self.attribute_reader is not None and self.training:
            reader, control = self._attribute_terms(x, z, labels, warps, generator)
            terms["loss"] = terms["loss"] + reader + self.config.attribute_loss * control
            terms.update(reader=reader.detach(), control=control.detach())
        if self.class_reader is not None and self.training:
            reader, control = self._class_terms(x, z, labels, warps, generator)
            terms["loss"] = terms["loss"] + reader + self.config.class_loss * control
            terms.update(reader=reader.detach(), control=control.detach())
        return terms

    def _class_terms(self, x, z, labels, warps, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The class-reading loss, the class-label twin of the attribute-reading loss: the reader learns the classes
        of the real images; the same codes decoded under a class drawn uniformly must be read as that class through
        the reader's weights as they are. Codes of other classes' images stand in for prior samples, so the decoder
        learns to draw each class from anywhere in the plane (a Coat, not a blurred Pullover). Cross-entropies,
        averaged over images: (reader, control)."""
        labels = torch.as_tensor(labels, device=x.device).long().reshape(-1)
        reader = F.cross_entropy(self.class_reader(x).float(), labels)
        device = generator.device if generator is not None else x.device
        target = torch.randint(self.config.label_dim, labels.shape, generator=generator, device=device).to(x.device)
        shown = torch.sigmoid(self.decode_logits(z, target, warps))
        read_shown = read_with_detached_weights(self.class_reader, shown)
        control = F.cross_entropy(read_shown.float(), target)
        return reader, control

    def _attribute_terms(self, x, z, labels, warps, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The attribute-reading loss: the reader learns the attributes of the real faces; the same codes decoded
        under a target attribute vector (another face's, or the face's own with one attribute flipped) must be read
        as that vector through the reader's weights as they are (the decoder learns to show attributes, the reader
        does not learn to accept decodes). Both are BCE summed over attributes, averaged over images: (reader, control)."""
        y = self.label_vector(labels, x.shape[0], x.device)
        read_real = self.attribute_reader(x)
        reader = F.binary_cross_entropy_with_logits(read_real.float(), y, reduction="none").sum(1)
        target = attribute_targets(y, self.config.attribute_flips, generator)
        shown = torch.sigmoid(self.decode_logits(z, target, warps))
        read_shown = read_with_detached_weights(self.attribute_reader, shown)
        control = F.binary_cross_entropy_with_logits(read_shown.float(), target, reduction="none").sum(1)
        return reader.mean(), control.mean()

    # ----- conveniences (sampling the prior is cvae.latent.sample_prior) -----
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, labels)[0], labels)


def read_with_detached_weights(reader: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The reader's logits for `images` with its weights cut from the graph: the gradient reaches the images (the
    decoder that drew them), never the reader."""
    frozen = {name: p.detach() for name, p in reader.named_parameters()}
    return torch.func.functional_call(reader, frozen, (images,))


def attribute_targets(y: torch.Tensor, flips: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Targets for the attribute-reading loss: for a `flips` share of the rows the row itself with one attribute
    (chosen uniformly) flipped, the edits the panels make; for the rest another row of the batch (a real
    combination). Whole other rows alone never ask for "this woman, but male", and gender stays tied to make-up."""
    n, device = y.shape[0], generator.device if generator is not None else y.device
    order = torch.randperm(n, generator=generator, device=device).to(y.device)
    flip = (torch.rand(n, generator=generator, device=device) < flips).to(y.device)
    which = torch.randint(y.shape[1], (n,), generator=generator, device=device).to(y.device)
    flipped = y.clone()
    rows = torch.arange(n, device=y.device)
    flipped[rows, which] = 1 - flipped[rows, which]
    return torch.where(flip[:, None], flipped, y[order])


class AttributeReader(nn.Module):
    """Stride-2 convs and one linear layer: attribute logits from an image. No batch norm, so that reading a decode
    through detached weights (torch.func.functional_call) leaves no running statistics behind."""

    def __init__(self, channels: int, widths: tuple[int, ...], image_size: tuple[int, int], outputs: int):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        h, w = image_size
        for width in widths:
            layers += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            previous, h, w = width, h // 2, w // 2
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * h * w, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Autoencoder(GenerativeModel):
    variational = False

    def __init__(self, config: AutoencoderConfig):
        super().__init__(config)


class VAE(GenerativeModel):
    def __init__(self, config: VAEConfig):
        super().__init__(config)


class ConditionalVAE(GenerativeModel):
    def __init__(self, config: ConditionalVAEConfig):
        super().__init__(config)


class BetaCVAE(GenerativeModel):
    def __init__(self, config: BetaCVAEConfig):
        super().__init__(config)
