"""The four generative families share one convolutional body; they differ in conditioning and in the KL term."""

from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from cvae.errors import ConfigError
from cvae.models.capabilities import CLASS_LABEL, Capabilities, capabilities_of
from cvae.models.config import (CALIBRATED_MIN_SIGMA, RESIDUAL, AutoencoderConfig, BetaCVAEConfig,
                                ConditionalVAEConfig, ModelConfig, VAEConfig)
from cvae.models.layers import ConvDecoder, ConvEncoder
from cvae.models.objectives import AttributeReading, ClassReading, ImageCritic, LatentAdversary, ObjectiveTerm
from cvae.models.residual import ResDecoder, ResEncoder
from cvae.models.terms import ForwardPass, LossTerms
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
        residual = config.architecture == RESIDUAL
        encoder = ResEncoder if residual else ConvEncoder
        self.encoder = encoder(config.image_channels + label_channels, config.conv_channels, config.image_size)
        head_in = self.encoder.out_features + label_dim
        self.encoder_head = nn.Sequential(nn.Linear(head_in, config.hidden_dim), nn.ReLU(inplace=True))
        self.to_mean = nn.Linear(config.hidden_dim, config.latent_dim)
        self.to_logvar = nn.Linear(config.hidden_dim, config.latent_dim) if self.variational else None
        if residual:  # labels reach every decoder block, by FiLM or by concatenation
            self.decoder = ResDecoder(config.latent_dim + label_dim, config.hidden_dim, config.conv_channels,
                                      config.image_channels, config.image_size, label_dim, config.label_injection,
                                      config.full_size_width)
        else:
            self.decoder = ConvDecoder(config.latent_dim + label_dim, config.hidden_dim, config.conv_channels,
                                       config.image_channels, config.image_size,
                                       label_dim if getattr(config, "label_every_layer", False) else 0,
                                       config.decoder_dropout)

    def objective_terms(self) -> list[ObjectiveTerm]:
        """The family's extra training terms with networks of their own (cvae.models.objectives), built fresh from
        the configuration: the trainer owns them, saves them in the training state and never ships them."""
        return []

    def relabelled(self, step: ForwardPass) -> tuple[torch.Tensor, torch.Tensor]:
        """(target labels, images): the training batch's codes decoded under other labels, which the reading and
        realism terms share (computed once per step). Only for conditional families."""
        if "relabelled" not in step.cache:
            target = self.other_labels(step)
            step.cache["relabelled"] = (target, torch.sigmoid(self.decode_logits(step.z, target, step.warps)))
        return step.cache["relabelled"]

    def other_labels(self, step: ForwardPass) -> torch.Tensor:
        raise NotImplementedError(f"the {self.family} model has no labels to change")

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

    @staticmethod
    def reparameterize(mean: torch.Tensor, logvar: torch.Tensor | None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        if logvar is None:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + noise * torch.exp(0.5 * logvar)

    # ----- objective -----
    def reconstruction_nats(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x|z) per image, in nats. The calibrated Gaussian (σ-VAE, Rybkin et al. 2021) takes σ² as the
        batch's mean squared error, held fixed for the gradient: the likelihood stays as sharp as the decoder
        actually is, instead of a fixed σ that tells the model large pixel errors are cheap."""
        if self.config.likelihood == "bernoulli":
            per_pixel = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
        else:
            squared = (torch.sigmoid(logits.float()) - x.float()) ** 2
            if self.config.likelihood == "calibrated":
                variance = squared.detach().mean().clamp_min(CALIBRATED_MIN_SIGMA ** 2)
            else:
                variance = torch.tensor(self.config.gaussian_sigma ** 2, device=x.device)
            per_pixel = 0.5 * squared / variance + 0.5 * torch.log(2 * math.pi * variance)
        return per_pixel.flatten(1).sum(1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, beta: float = 1.0,
                generator: torch.Generator | None = None, objectives: Iterable[ObjectiveTerm] = (),
                progress: float = 0.0) -> LossTerms:
        """The training objective as named terms: `loss` (mean rec + β·KL, plus what each objective term adds;
        what training minimises) and per-image means in nats. `nelbo` is the negative ELBO at β = 1, the figure
        comparable across runs and papers. `objectives` (the trainer's, in training only) add their terms;
        `progress` (epochs done) is what their ramps read."""
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
            out = LossTerms(rec.mean(), {"rec": rec.mean().detach()})
        else:
            kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(1)
            out = LossTerms((rec + beta * kl).mean(), {"nelbo": (rec + kl).mean().detach(),
                                                       "rec": rec.mean().detach(), "kl": kl.mean().detach()})
        objectives = list(objectives)
        if objectives:
            y = self.label_vector(labels, x.shape[0], x.device) if self.conditional else None
            step = ForwardPass(x, labels, y, mean, logvar, z, logits, warps, generator, progress)
            for term in objectives:
                term.contribute(self, step, out)
        return out

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None, beta: float = 1.0,
             generator: torch.Generator | None = None, objectives: Iterable[ObjectiveTerm] = (),
             progress: float = 0.0) -> LossTerms:
        """The forward pass by its name (what evaluation and benchmarks call)."""
        return self(x, labels, beta, generator, objectives, progress)

    # ----- conveniences (sampling the prior is cvae.latent.sample_prior) -----
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, labels)[0], labels)


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

    def objective_terms(self) -> list[ObjectiveTerm]:
        return [ClassReading(self.config, self.config.class_loss)] if self.config.class_loss > 0 else []

    def other_labels(self, step: ForwardPass) -> torch.Tensor:
        """A class drawn uniformly for every code: codes of other classes' images stand in for prior samples, so
        the decoder learns to draw each class from anywhere in the plane (a Coat, not a blurred Pullover)."""
        device = step.generator.device if step.generator is not None else step.x.device
        return torch.randint(self.config.label_dim, (step.x.shape[0],), generator=step.generator,
                             device=device).to(step.x.device)


class BetaCVAE(GenerativeModel):
    def __init__(self, config: BetaCVAEConfig):
        super().__init__(config)

    def objective_terms(self) -> list[ObjectiveTerm]:
        config, terms = self.config, []
        if config.attribute_loss > 0:
            terms.append(AttributeReading(config, config.attribute_loss, config.attribute_read_size))
        if config.latent_adversary > 0:
            terms.append(LatentAdversary(config, config.latent_adversary, config.adversary_warmup))
        if config.critic > 0:
            terms.append(ImageCritic(config, config.critic))
        return terms

    def other_labels(self, step: ForwardPass) -> torch.Tensor:
        return attribute_targets(step.y, self.config.attribute_flips, step.generator)
