"""Policy checkpoints: config, weights and normalizers in one file that rebuilds the policy alone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from inril.data.layout import Layout, as_layout, describe
from inril.policies import make_policy, make_policy_config
from inril.policies.base import Policy
from inril.policies.normalizer import MinMaxNormalizer
from inril.tasks.registry import get_task, list_tasks
from inril.utils.io import atomic_torch_save

CHECKPOINT_FORMAT = "inril.policy.v1"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or does not fit what it is loaded for."""


class CheckpointUnreadable(CheckpointError):
    """A checkpoint that may well be intact cannot be read here (its tensors' device, file permissions):
    never to be treated as corrupt, skipped or overwritten."""


def first_sentence(exc: BaseException) -> str:
    """An exception in one short line: its type and first sentence."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line.split('. ')[0]}"


def load_torch_file(path: str | os.PathLike, map_location: str | torch.device, **kwargs) -> object:
    """torch.load(weights_only=True) with every tensor mapped to `map_location` (a checkpoint written on a
    GPU loads on a CPU machine). Raises CheckpointUnreadable for files that cannot be read here for a reason
    other than their bytes (OS errors, a device this machine lacks), CheckpointError for corrupt or foreign
    files."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, **kwargs)
    except OSError as exc:
        raise CheckpointUnreadable(f"checkpoint {path} cannot be read ({first_sentence(exc)})") from None
    except RuntimeError as exc:
        if "deserialize object on" in str(exc):  # torch's message for a storage device missing here
            raise CheckpointUnreadable(f"checkpoint {path} cannot be loaded on {map_location} "
                                       f"({first_sentence(exc)})") from None
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file ({first_sentence(exc)})") from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file ({first_sentence(exc)})") from None


def nonfinite_tensors(obj, prefix: str = "") -> list[str]:
    """Dotted names of the tensors in a (nested) state that hold NaN, or +-inf anywhere but a normalizer's
    `clip` buffer (inf there means "no clamp")."""
    if isinstance(obj, torch.Tensor):
        if not obj.is_floating_point():
            return []
        bad = torch.isnan(obj).any() if prefix.rsplit(".", 1)[-1] == "clip" else ~torch.isfinite(obj).all()
        return [prefix] if bool(bad) else []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    return [bad for key, value in items for bad in nonfinite_tensors(value, f"{prefix}.{key}" if prefix else str(key))]


def require(mapping: object, keys: Sequence[str], where: str) -> None:
    """Raise CheckpointError naming `where` and the first of `keys` that `mapping` lacks."""
    missing = [key for key in keys if not isinstance(mapping, dict) or key not in mapping]
    if missing:
        raise CheckpointError(f"{where} has no {missing[0]!r} (needed to load it)")


@dataclass
class LoadedPolicy:
    """A policy read back from a checkpoint: the policy, its registry name, its observation layout, the
    demos' robomimic `env_meta` (task name under `env_name`) and the extra keys saved with it."""
    policy: Policy
    name: str
    obs_layout: Layout  # the policy input: (term, size) in concatenation order
    env_meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        """The task the policy was trained on (`env_meta['env_name']`), None if unknown."""
        return self.env_meta.get("env_name")

    @property
    def obs_keys(self) -> list[str]:
        """The observation term names, in concatenation order."""
        return [name for name, _ in self.obs_layout]


def save_policy(
    path: str | os.PathLike,
    policy: Policy,
    name: str,
    obs_layout: Sequence[tuple[str, int]],
    env_meta: dict | None = None,
    extra: dict | None = None,
) -> None:
    """Write a policy checkpoint; `obs_layout` is what the policy reads, (term, size) in concatenation order."""
    obs_layout = as_layout(obs_layout)
    if sum(size for _, size in obs_layout) != policy.cfg.obs_dim:
        raise ValueError(f"observation layout {describe(obs_layout)} does not add up to the policy's "
                         f"{policy.cfg.obs_dim} observation dims")
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "policy_name": name,
            "policy_cfg": asdict(policy.cfg),
            "state_dict": policy.state_dict(),
            "obs_keys": [name for name, _ in obs_layout],
            "obs_layout": [[name, size] for name, size in obs_layout],
            "env_meta": dict(env_meta or {}),
            "extra": dict(extra or {}),
        },
        path,
    )


_POLICY_KEYS = ("policy_name", "policy_cfg", "state_dict", "obs_keys", "env_meta", "extra")


def _stored_layout(payload: dict, obs_dim: int, path: Path) -> Layout:
    """The checkpoint's observation layout. Checkpoints written before layouts were stored hold only
    `obs_keys`: their sizes come from the registered task they were trained on, or from obs_dim for a
    single term."""
    if "obs_layout" in payload:
        layout = as_layout(payload["obs_layout"])
    else:
        keys, task = list(payload["obs_keys"]), dict(payload["env_meta"]).get("env_name")
        sizes = dict(get_task(task).observation_layout) if task in list_tasks() else {}
        if len(keys) == 1:
            sizes = {keys[0]: obs_dim}
        if not set(keys) <= set(sizes):
            raise CheckpointError(f"checkpoint {path} has no 'obs_layout' (needed to load it)")
        layout = [(key, sizes[key]) for key in keys]
    if sum(size for _, size in layout) != obs_dim:
        raise CheckpointError(f"checkpoint {path}: observation layout {describe(layout)} does not add up to the "
                              f"policy's {obs_dim} observation dims")
    return layout


def load_policy(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedPolicy:
    """Rebuild a policy checkpoint on `map_location`. Raises CheckpointError (one line naming the file) for a
    missing, corrupt, foreign, incomplete (a missing key) or non-finite checkpoint."""
    path = Path(path)
    payload = load_torch_file(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an inril policy checkpoint (expected format {CHECKPOINT_FORMAT})")
    require(payload, _POLICY_KEYS, f"checkpoint {path}")
    bad = nonfinite_tensors(payload["state_dict"])
    if bad:
        raise CheckpointError(f"checkpoint {path} holds non-finite values (NaN or inf) in {', '.join(bad[:3])}")
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
    layout = _stored_layout(payload, cfg.obs_dim, path)
    policy.to(map_location).eval()
    return LoadedPolicy(policy, name, layout, dict(payload["env_meta"]), dict(payload["extra"]))
