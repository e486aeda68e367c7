"""Runner checkpoints on disk: verification on load, and which file a resume starts from.

A checkpoint is `model_<it>.pt` in a run directory, written atomically by `InrilRunner.save`; an
interrupted write leaves a `.model_<it>.pt.*.tmp` file that `remove_partial_checkpoints` cleans.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from inril.policies.checkpoint import CheckpointError


def deployed_base_state(checkpoint: dict) -> dict:
    """The acting base policy's state_dict in a runner checkpoint (frozen base or IN-RIL's BC-updated one)."""
    if "base_state_dict" in checkpoint:
        return checkpoint["base_state_dict"]
    return checkpoint["base_updater_state_dict"]["acting"]


_REQUIRED_KEYS = ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "iter", "interleave_state_dict",
                  "nonfinite_skips", "rng_states", "eval_history", "logger_state", "deploy")


def _nan_tensors(obj, prefix: str = "") -> list[str]:
    # NaN only: inf is legitimate in places (a normalizer's clip buffer is inf for "no clamp").
    if isinstance(obj, torch.Tensor):
        return [prefix] if obj.is_floating_point() and bool(torch.isnan(obj).any()) else []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    return [bad for key, value in items for bad in _nan_tensors(value, f"{prefix}.{key}" if prefix else str(key))]


def load_error(exc: Exception) -> str:
    """A torch.load failure in one short line: its type and first sentence."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line.split('. ')[0]}"


def read_checkpoint(path: str | os.PathLike, map_location: str | None = None) -> dict:
    """Load a runner checkpoint and verify it: a complete torch file (loaded with weights_only=True),
    holding every key a resume needs, with no NaN in any tensor. Raises CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        loaded = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a torch file ({load_error(exc)})") from None
    missing = [key for key in _REQUIRED_KEYS if key not in loaded] if isinstance(loaded, dict) else list(_REQUIRED_KEYS)
    if missing:
        raise CheckpointError(f"{path} is not an inril residual-PPO checkpoint (missing {', '.join(missing)})")
    bad = _nan_tensors(loaded)
    if bad:
        raise CheckpointError(f"checkpoint {path} holds NaN values in {', '.join(bad[:3])}")
    return loaded


def checkpoints_newest_first(log_dir: str) -> list[str]:
    """The `model_<it>.pt` files of a run directory, highest iteration first."""
    if not os.path.isdir(log_dir):
        return []
    its = [int(f[6:-3]) for f in os.listdir(log_dir) if f.startswith("model_") and f.endswith(".pt") and f[6:-3].isdigit()]
    return [os.path.join(log_dir, f"model_{it}.pt") for it in sorted(its, reverse=True)]


def latest_checkpoint(log_dir: str) -> str | None:
    """The newest `model_<it>.pt` in a run directory, or None."""
    paths = checkpoints_newest_first(log_dir)
    return paths[0] if paths else None


def newest_valid_checkpoint(log_dir: str) -> str:
    """The newest checkpoint of a run that passes `read_checkpoint`. Newer corrupt ones are skipped with a
    warning (training overwrites them when it reaches their iteration again). Raises CheckpointError."""
    problems = []
    for path in checkpoints_newest_first(log_dir):
        try:
            read_checkpoint(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warnings.warn(f"skipping a checkpoint that does not verify: {problem}", RuntimeWarning, stacklevel=2)
        return path
    detail = f"; the newest fails: {problems[0]}" if problems else ""
    raise CheckpointError(f"no valid model_<it>.pt checkpoint in {log_dir}{detail}")


def remove_partial_checkpoints(log_dir: str) -> list[str]:
    """Delete the temporary files an interrupted atomic save leaves behind (`.model_<it>.pt.*.tmp`)."""
    stale = sorted(Path(log_dir).glob(".model_*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return [str(p) for p in stale]
