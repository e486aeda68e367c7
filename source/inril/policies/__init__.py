"""Action-chunking policies and their registry.

Checkpoints store a policy as (name, dataclasses.asdict(cfg), state_dict); rebuild it with
`make_policy(name, make_policy_config(name, **cfg_dict), obs_normalizer, action_normalizer)`
followed by `load_state_dict` (the normalizer buffers are part of the state_dict).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from inril.policies.base import Policy
from inril.policies.diffusion import DiffusionPolicy, DiffusionPolicyConfig, warm_start_from_tail
from inril.policies.gaussian import GaussianPolicy, GaussianPolicyConfig
from inril.policies.normalizer import MinMaxNormalizer

POLICY_NAMES = ("diffusion", "gaussian", "gaussian_chunked")

_CONFIGS: dict[str, type] = {
    "diffusion": DiffusionPolicyConfig,
    "gaussian": GaussianPolicyConfig,
    "gaussian_chunked": GaussianPolicyConfig,
}
_POLICIES: dict[str, type[Policy]] = {
    "diffusion": DiffusionPolicy,
    "gaussian": GaussianPolicy,
    "gaussian_chunked": GaussianPolicy,
}
# `gaussian` is the unchunked Gaussian MLP: one action per query.
_FIXED: dict[str, dict[str, Any]] = {"gaussian": {"pred_horizon": 1, "action_horizon": 1}}


def _check_name(name: str) -> None:
    if name not in POLICY_NAMES:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(POLICY_NAMES)}")


def make_policy_config(name: str, obs_dim: int, action_dim: int, **overrides: Any) -> Any:
    """The config dataclass of policy `name` with its defaults, the given dims and overrides."""
    _check_name(name)
    cls = _CONFIGS[name]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; known fields: {', '.join(sorted(known))}")
    for key, value in _FIXED.get(name, {}).items():
        if overrides.get(key, value) != value:
            raise ValueError(f"policy {name!r} has {key}={value}; use 'gaussian_chunked' for chunks")
    return cls(obs_dim=obs_dim, action_dim=action_dim, **{**_FIXED.get(name, {}), **overrides})


def make_policy(
    name: str, cfg: Any, obs_normalizer: MinMaxNormalizer, action_normalizer: MinMaxNormalizer
) -> Policy:
    """Build policy `name` from its config (as made by make_policy_config) and the demo normalizers."""
    _check_name(name)
    if not isinstance(cfg, _CONFIGS[name]):
        raise ValueError(f"policy {name!r} needs a {_CONFIGS[name].__name__}, got {type(cfg).__name__}")
    for key, value in _FIXED.get(name, {}).items():
        if getattr(cfg, key) != value:
            raise ValueError(f"policy {name!r} has {key}={value}, but cfg.{key} is {getattr(cfg, key)}")
    return _POLICIES[name](cfg, obs_normalizer, action_normalizer)


__all__ = [
    "POLICY_NAMES",
    "DiffusionPolicy",
    "DiffusionPolicyConfig",
    "GaussianPolicy",
    "GaussianPolicyConfig",
    "MinMaxNormalizer",
    "Policy",
    "make_policy",
    "make_policy_config",
    "warm_start_from_tail",
]
