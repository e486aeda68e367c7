"""Hydra command-line overrides applied to our typed config dataclasses.

Scripts build their default config as a dataclass instance (some fields, like observation
dimensions, are only known after reading data), register it with Hydra's ConfigStore and compose
it with the user's overrides (`agent.bc.lr=3e-4`, `policy.down_dims=[64,128]`). The result is
turned back into dataclasses, so every `__post_init__` validation runs on the final values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

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


def to_yaml(cfg: object) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
