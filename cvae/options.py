"""One configuration base for models and training: each field declares its default, range and help once, and
validation, checkpoints (to_dict / from_dict), `cvae-train`'s options and the window's Train panel all read it.

    learning_rate: float = option(1e-3, "Adam learning rate", low=0, low_open=True, cli="--lr")
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from cvae.errors import ConfigError


@dataclass(frozen=True)
class Option:
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False     # the bound itself is not allowed
    high_open: bool = False
    choices: tuple | None = None
    cli: str | None = ""       # the command-line name; "" derives --field-name, None keeps it off the command line
    metavar: str | None = None

    def describe_range(self) -> str:
        """'at least 1', 'in [0, 1)', 'positive', 'one of a, b' — the words the error messages use."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}")
        if self.low is not None:
            if self.low == 0:
                return "a positive number" if self.low_open else "zero or positive"
            return f"{'above' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None:
            return f"{'below' if self.high_open else 'at most'} {self.high:g}"
        return ""

    def accepts(self, value) -> bool:
        if self.choices is not None:
            return value in self.choices
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return self.low is None and self.high is None
            if isinstance(v, float) and not math.isfinite(v):
                return False
            if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
                return False
            if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
                return False
        return True


def option(default, help: str, **limits) -> Any:
    """A dataclass field with its help and range (`low`, `high`, `low_open`, `high_open`, `choices`, `cli`)."""
    if isinstance(default, (list, tuple)):
        value = tuple(default)
        return dataclasses.field(default_factory=lambda: value, metadata={"option": Option(help, **limits)})
    return dataclasses.field(default=default, metadata={"option": Option(help, **limits)})


ANY = object()  # a retired field that never mattered: old files may hold any value


def declared_option(cls: type, name: str) -> Option | None:
    """The Option declared for field `name` by `cls` or, when a subclass only changed the default
    (`latent_dim: int = 20`), by the nearest base class that declared it."""
    for klass in cls.__mro__:
        field = getattr(klass, "__dataclass_fields__", {}).get(name)
        if field is not None and "option" in field.metadata:
            return field.metadata["option"]
    return None


def cli_name(name: str, declared: Option) -> str | None:
    if declared.cli is None:
        return None
    return declared.cli or "--" + name.replace("_", "-")


@dataclass
class ConfigBase:
    """Checks every declared field against its range after construction; from_dict rejects unknown keys
    (a misspelt or newer field must not be silently dropped), except `retired` ones at their neutral value."""

    kind: ClassVar[str] = "configuration"  # what the error messages call it
    retired: ClassVar[dict[str, Any]] = {}  # removed field -> the value old files may hold (anything else refused)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):
                setattr(self, field.name, tuple(value))
        self.validate()

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            declared = declared_option(type(self), field.name)
            value = getattr(self, field.name)
            if declared is not None and not declared.accepts(value):
                shown = value if not isinstance(value, str) else repr(value)
                raise ConfigError(f"{self.kind}: {field.name} must be {declared.describe_range()}, got {shown}")

    @classmethod
    def options(cls) -> list[tuple[str, Option]]:
        """(field name, Option) for every declared field, in field order."""
        return [(f.name, declared_option(cls, f.name)) for f in dataclasses.fields(cls)
                if declared_option(cls, f.name) is not None]

    @classmethod
    def default_of(cls, name: str):
        for field in dataclasses.fields(cls):
            if field.name == name:
                return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ConfigBase":
        known = {f.name for f in dataclasses.fields(cls)}
        values = dict(values)
        for name, neutral in cls.retired.items():
            if name in values and name not in known:
                if neutral is not ANY and values[name] != neutral and not _same(values[name], neutral):
                    raise ConfigError(f"{cls.kind}: {name} = {values.pop(name)!r} is no longer supported (only "
                                      f"{neutral!r}); this file was written by an older version")
                values.pop(name)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{cls.kind} has unknown fields: {', '.join(unknown)}; expected some of "
                              f"{', '.join(sorted(known))}")
        return cls(**values)


def _same(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False
