"""Hydra command-line overrides applied to our typed config dataclasses.

Scripts build their default config as a dataclass instance (some fields, like observation
dimensions, are only known after reading data), register it with Hydra's ConfigStore and compose
it with the user's overrides (`agent.bc.lr=3e-4`, `policy.down_dims=[64,128]`). The result is
turned back into dataclasses, so every `__post_init__` validation runs on the final values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A command-line override or a config value is invalid."""


def apply_overrides(default: T, overrides: Sequence[str], name: str = "inril_job") -> T:
    """Return a copy of dataclass instance `default` with Hydra overrides applied and validated."""
    ConfigStore.instance().store(name=name, node=default)
    try:
        with initialize(version_base=None, config_path=None):
            composed = compose(name, overrides=list(overrides))
        return OmegaConf.to_object(composed)
    except (HydraException, OmegaConfBaseException) as exc:
        detail = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        raise ConfigError(f"bad config override: {exc}{detail}".replace("\n", " ")) from None
    except ValueError as exc:  # a dataclass __post_init__ rejected the final values
        raise ConfigError(f"invalid config: {exc}") from None


def quote(value: str) -> str:
    """`value` as a Hydra override value that reads back exactly, whatever its characters (unicode, spaces,
    `=`, quotes, brackets, backslashes, `${`): single-quoted, with quotes, interpolation openers and the
    backslashes before them escaped (Hydra's quoted-value grammar)."""
    value = re.sub(r"(\\+)(?='|\$\{|$)", lambda m: m.group(1) * 2, value)
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def override(key: str, value: str) -> str:
    """One `key=value` override whose string value passes through Hydra unchanged (see `quote`)."""
    return f"{key}={quote(str(value))}"


def set_fields(cfg: T, values: Mapping[str, Any]) -> T:
    """A copy of dataclass `cfg` with dotted fields set (`{"env.num_envs": 8}`) and every touched dataclass
    validated again by its `__post_init__`. For command-line flags: their values never go through the
    override grammar, so any path works. Raises ConfigError."""
    for dotted, value in values.items():
        head, _, rest = dotted.partition(".")
        try:
            inner = set_fields(getattr(cfg, head), {rest: value}) if rest else value
            cfg = dataclasses.replace(cfg, **{head: inner})
        except ValueError as exc:
            raise ConfigError(f"invalid config: {exc}") from None
    return cfg


def to_yaml(cfg: object) -> str:
    """A config dataclass (nested ones included) as YAML text, through OmegaConf's structured config."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
