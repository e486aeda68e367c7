"""Action-chunking policies and their registry.

Checkpoints store a policy as (name, dataclasses.asdict(cfg), state_dict); rebuild it with
`make_policy(name, make_policy_config(name, **cfg_dict), obs_normalizer, action_normalizer)`
followed by `load_state_dict` (the normalizer buffers are part of the state_dict).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from rsl_rl.utils import resolve_callable

from inril.policies.base import Policy
from inril.policies.diffusion import DiffusionPolicy, DiffusionPolicyConfig, warm_start_from_tail
from inril.policies.gaussian import GaussianPolicy, GaussianPolicyConfig
from inril.policies.normalizer import MinMaxNormalizer

# name -> (policy class, config class), as rsl-rl-lib names its classes ("module:Class", resolved with
# rsl_rl.utils.resolve_callable): the one way a class is chosen by name in inril (the full-network actors in
# inril.algos.gradient_surgery.actors and rsl-rl's own `class_name` entries use it too).
POLICIES: dict[str, tuple[str, str]] = {
    "diffusion": ("inril.policies.diffusion:DiffusionPolicy", "inril.policies.diffusion:DiffusionPolicyConfig"),
    "gaussian": ("inril.policies.gaussian:GaussianPolicy", "inril.policies.gaussian:GaussianPolicyConfig"),
    "gaussian_chunked": ("inril.policies.gaussian:GaussianPolicy", "inril.policies.gaussian:GaussianPolicyConfig"),
}
POLICY_NAMES = tuple(POLICIES)
# `gaussian` is the unchunked Gaussian MLP: one action per query.
_FIXED: dict[str, dict[str, Any]] = {"gaussian": {"pred_horizon": 1, "action_horizon": 1}}


def _classes(name: str) -> tuple[type[Policy], type]:
    _check_name(name)
    policy, config = POLICIES[name]
    return resolve_callable(policy), resolve_callable(config)


def _check_name(name: str) -> None:
    if name not in POLICY_NAMES:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(POLICY_NAMES)}")


def make_policy_config(name: str, obs_dim: int, action_dim: int, **overrides: Any) -> Any:
    """The config dataclass of policy `name` with its defaults, the given dims and overrides."""
    _check_name(name)
    cls = _classes(name)[1]
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
    policy_cls, config_cls = _classes(name)
    if not isinstance(cfg, config_cls):
        raise ValueError(f"policy {name!r} needs a {config_cls.__name__}, got {type(cfg).__name__}")
    for key, value in _FIXED.get(name, {}).items():
        if getattr(cfg, key) != value:
            raise ValueError(f"policy {name!r} has {key}={value}, but cfg.{key} is {getattr(cfg, key)}")
    return policy_cls(cfg, obs_normalizer, action_normalizer)


def policy_name(policy: Policy) -> str:
    """The registry name of `policy`'s class or nearest registered base class (a DPPO-wrapped diffusion policy
    is "diffusion"; gaussian and gaussian_chunked share a class: the unchunked one is the name whose fixed fields
    the config has). Raises TypeError for an unregistered class."""
    names = [name for name in POLICY_NAMES if isinstance(policy, _classes(name)[0])
             and all(getattr(policy.cfg, k) == v for k, v in _FIXED.get(name, {}).items())]
    if not names:
        raise TypeError(f"no registered policy name for {type(policy).__name__}")
    return max(names, key=lambda name: len(_FIXED.get(name, {})))  # the most specific


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
    "policy_name",
    "warm_start_from_tail",
]
