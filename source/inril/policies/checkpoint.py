"""Policy checkpoints: config, weights and normalizers in one file that rebuilds the policy alone."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from inril.policies import make_policy, make_policy_config
from inril.policies.base import Policy
from inril.policies.normalizer import MinMaxNormalizer
from inril.utils.io import atomic_torch_save

CHECKPOINT_FORMAT = "inril.policy.v1"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or does not fit what it is loaded for."""


@dataclass
class LoadedPolicy:
    policy: Policy
    name: str
    obs_keys: list[str]
    env_meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        return self.env_meta.get("env_name")


def save_policy(
    path: str | os.PathLike,
    policy: Policy,
    name: str,
    obs_keys: list[str],
    env_meta: dict | None = None,
    extra: dict | None = None,
) -> None:
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "policy_name": name,
            "policy_cfg": asdict(policy.cfg),
            "state_dict": policy.state_dict(),
            "obs_keys": list(obs_keys),
            "env_meta": dict(env_meta or {}),
            "extra": dict(extra or {}),
        },
        path,
    )


def load_policy(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedPolicy:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an inril policy checkpoint (expected format {CHECKPOINT_FORMAT})")
    try:
        cfg_dict = dict(payload["policy_cfg"])
        name = payload["policy_name"]
        cfg = make_policy_config(name, **cfg_dict)
        policy = make_policy(
            name, cfg, MinMaxNormalizer.empty(cfg.obs_dim), MinMaxNormalizer.empty(cfg.action_dim)
        )
        policy.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not rebuild a policy: {exc}") from exc
    policy.to(map_location).eval()
    return LoadedPolicy(policy, name, list(payload["obs_keys"]), dict(payload["env_meta"]), dict(payload["extra"]))
