"""The configuration base: each field's range and help declared once, enforced everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from cvae.errors import ConfigError
from cvae.models import ClassifierConfig, ConditionalVAEConfig, VAEConfig
from cvae.options import ConfigBase, declared_option, option
from trainer.cli import build_parser
from trainer.config import TrainConfig


@dataclass
class Example(ConfigBase):
    kind: ClassVar[str] = "example configuration"
    count: int = option(3, "how many", low=1)
    share: float = option(0.5, "a share", low=0, high=1, high_open=True)
    mode: str = option("a", "a mode", choices=("a", "b"))
    rate: float = option(0.1, "a rate", low=0, low_open=True)


@pytest.mark.parametrize("values, message", [
    ({"count": 0}, "example configuration: count must be at least 1, got 0"),
    ({"share": 1.0}, "share must be in [0, 1), got 1.0"),
    ({"share": float("nan")}, "share must be in [0, 1), got nan"),
    ({"mode": "c"}, "mode must be one of a, b, got 'c'"),
    ({"rate": 0.0}, "rate must be a positive number, got 0.0"),
])
def test_declared_ranges_are_enforced_with_the_field_named(values, message):
    with pytest.raises(ConfigError) as error:
        Example(**values)
    assert str(error.value).endswith(message) and str(error.value).startswith("example configuration: ")


def test_from_dict_rejects_unknown_keys_for_every_configuration():
    for cls in (Example, TrainConfig, VAEConfig, ClassifierConfig):
        with pytest.raises(ConfigError, match="unknown fields: colour"):
            cls.from_dict({"colour": "red"})
    assert TrainConfig.from_dict(TrainConfig(epochs=3).to_dict()) == TrainConfig(epochs=3)


def test_a_subclass_that_only_changes_a_default_keeps_the_declared_range():
    assert VAEConfig().latent_dim == 20
    assert declared_option(VAEConfig, "latent_dim").low == 1
    with pytest.raises(ConfigError, match="vae configuration: latent_dim must be at least 1"):
        VAEConfig(latent_dim=0)


def test_the_command_line_is_generated_from_the_declarations():
    """Every declared training and model field with a command-line name is an option with the declared help;
    a value outside the declared range is refused in the CLI's words."""
    parser = build_parser()
    flags = {flag: action for action in parser._actions for flag in action.option_strings}
    for cls in (TrainConfig, ConditionalVAEConfig, ClassifierConfig):
        for name, declared in cls.options():
            if declared.cli is None:  # e.g. image_size: taken from the data (--image-size is the data's option)
                action = flags.get("--" + name.replace("_", "-"))
                assert action is None or action.help != declared.help
                continue
            flag = declared.cli or "--" + name.replace("_", "-")
            assert flags[flag].dest == name and flags[flag].help.startswith(declared.help.replace("%", "%%"))
    args = parser.parse_args(["--dataset", "mnist", "-o", "x.pt", "--lr", "0.01", "--no-amp", "--conv-channels",
                              "8,16", "--warp", "0.25"])
    assert (args.learning_rate, args.mixed_precision, args.conv_channels, args.warp_probability) == \
        (0.01, False, (8, 16), 0.25)
    untouched = parser.parse_args(["--dataset", "mnist", "-o", "x.pt"])
    assert untouched.epochs is None and untouched.mixed_precision is None  # not given: the declared default
