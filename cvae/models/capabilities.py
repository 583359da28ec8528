"""What a model can do, so that front ends decide what applies without asking which family it is: a new family
or data set then lights up the right panels by itself."""

from __future__ import annotations

from dataclasses import dataclass

NO_LABEL, CLASS_LABEL, ATTRIBUTES = "none", "class", "attributes"


@dataclass(frozen=True)
class Capabilities:
    label_kind: str                        # none, class (one of K), attributes (A binary, strengths in between)
    label_count: int                       # K classes or A attributes; 0 when the model takes no label
    generative: bool                       # decodes latent points to images
    variational: bool                      # has a posterior and an N(0, I) prior to sample from
    latent_dim: int                        # 0 for a model without a latent space (a classifier)
    image_shape: tuple[int, int, int]      # channels, height, width

    @property
    def conditional(self) -> bool:
        """A generator that takes a label (a classifier *reads* labels; it is not conditional)."""
        return self.generative and self.label_kind != NO_LABEL

    @property
    def takes_class(self) -> bool:
        return self.generative and self.label_kind == CLASS_LABEL

    @property
    def takes_attributes(self) -> bool:
        return self.generative and self.label_kind == ATTRIBUTES


def capabilities_of(config, generative: bool, variational: bool) -> Capabilities:
    return Capabilities(
        label_kind=config.label_kind, label_count=config.label_dim, generative=generative, variational=variational,
        latent_dim=getattr(config, "latent_dim", 0) if generative else 0,
        image_shape=(config.image_channels, *tuple(config.image_size)))
