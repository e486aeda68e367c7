"""Training checkpoints of both separation modes: one format, verification on load, RNG states, and which
file a resume starts from.

A checkpoint is `model_<it>.pt` in a run directory (`it`: the last completed iteration, rsl-rl's naming),
written atomically by `InrilRunner.save` (residual PPO) or `FullNetworkPPO.save` (full-network PPO); an
interrupted write leaves a `.model_<it>.pt.*.tmp` file that `remove_partial_checkpoints` cleans. Every
checkpoint holds the run keys (`RUN_KEYS`: iteration, RNG states, evaluation history, logger counters,
skipped-step counters, what a deployment needs) and its algorithm's keys (`ALGORITHM_KEYS`, named by
`algorithm`; residual checkpoints written before that key are "residual_ppo" and keep rsl-rl's key names).
"""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from rsl_rl.utils.logger import Logger

from inril.data.layout import Layout
from inril.policies import policy_name
from inril.policies.base import Policy
from inril.policies.checkpoint import CheckpointError, CheckpointUnreadable, load_torch_file, nonfinite_tensors, require


def deployed_base_state(checkpoint: dict) -> dict:
    """The acting base policy's state_dict in a runner checkpoint (frozen base or IN-RIL's BC-updated one)."""
    if "base_state_dict" in checkpoint:
        return checkpoint["base_state_dict"]
    return checkpoint["base_updater_state_dict"]["acting"]


RUN_KEYS = ("iter", "rng_states", "eval_history", "logger_state", "nonfinite_skips", "deploy")
_NAMES = {"residual_ppo": "residual-PPO", "full_network_ppo": "full-network-PPO"}
ALGORITHM_KEYS = {
    "residual_ppo": ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "interleave_state_dict"),
    "full_network_ppo": ("policy_state_dict", "critic_state_dict", "optimizer_state_dict", "interleave_state_dict",
                         "il_updates"),
}
# Keys a resume reads inside the run keys.
_REQUIRED_NESTED = {"rng_states": ("torch", "python", "numpy"), "logger_state": ("tot_timesteps", "tot_time"),
                    "nonfinite_skips": ("rl", "il")}


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    algorithm: str | None = None) -> dict:
    """Load a training checkpoint onto `map_location` (the job's device) and verify it: a complete torch file
    (loaded with weights_only=True), holding every key a resume needs (of `algorithm` when given), with no NaN or
    inf in any tensor. Raises CheckpointError; CheckpointUnreadable where the file may be intact but cannot be
    read here."""
    loaded = load_torch_file(path, map_location)
    kind = loaded.get("algorithm", "residual_ppo") if isinstance(loaded, dict) else None
    if kind not in ALGORITHM_KEYS or (algorithm is not None and kind != algorithm):
        raise CheckpointError(f"{path} is not an inril {_NAMES.get(algorithm, 'training')} checkpoint")
    required = (*RUN_KEYS, *ALGORITHM_KEYS[kind])
    missing = [key for key in required if key not in loaded]
    if missing:
        raise CheckpointError(f"{path} is not an inril {_NAMES[kind]} checkpoint (missing {', '.join(missing)})")
    for key, inner in _REQUIRED_NESTED.items():
        require(loaded[key], inner, f"checkpoint {path}: {key!r}")
    bad = nonfinite_tensors(loaded)
    if bad:
        raise CheckpointError(f"checkpoint {path} holds non-finite values (NaN or inf) in {', '.join(bad[:3])}")
    return loaded


def _capture_rng_states(generators: dict[str, torch.Generator]) -> dict:
    """The global RNG states (torch, CUDA, python, numpy) and those of the named `generators`, storable with
    weights_only=True (numpy's key array as a tensor)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
              **{name: g.get_state() for name, g in generators.items()}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: dict, generators: dict[str, torch.Generator]) -> None:
    """Inverse of `_capture_rng_states`. Generator states are CPU byte tensors whatever map_location moved
    them to."""
    torch.set_rng_state(states["torch"].cpu())
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    for name, generator in generators.items():
        generator.set_state(states[name].cpu())
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])


def run_keys(algorithm: str, iteration: int, generators: dict[str, torch.Generator], eval_history: list[dict],
             logger: Logger) -> dict:
    """The run keys both trainers write with their own: `algorithm` (a key of ALGORITHM_KEYS), `iter` (the last
    completed iteration), the RNG states (global and the trainer's named `generators`), the evaluation history and
    rsl-rl's logger counters. `nonfinite_skips` and `deploy` are the trainer's (`deployed_policy`)."""
    return {"algorithm": algorithm, "iter": iteration, "rng_states": _capture_rng_states(generators),
            "eval_history": list(eval_history),
            "logger_state": {"tot_timesteps": logger.tot_timesteps, "tot_time": logger.tot_time}}


def restore_run_keys(checkpoint: dict, generators: dict[str, torch.Generator], logger: Logger) -> list[dict]:
    """Inverse of `run_keys` on a verified checkpoint: restores the RNG states and the logger's counters and
    returns the evaluation history."""
    _restore_rng_states(checkpoint["rng_states"], generators)
    logger.tot_timesteps = checkpoint["logger_state"]["tot_timesteps"]
    logger.tot_time = checkpoint["logger_state"]["tot_time"]
    return list(checkpoint["eval_history"])


def deployed_policy(task: str | None, policy: Policy, obs_layout: Layout | None) -> dict:
    """The `deploy` entries every checkpoint holds for the policy it deploys: task, registry name and config, and the
    observation layout it reads (when known)."""
    return {"task": task, "policy_name": policy_name(policy), "policy_cfg": asdict(policy.cfg),
            **({} if obs_layout is None else {"obs_layout": [[name, dim] for name, dim in obs_layout]})}


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


def newest_valid_checkpoint(log_dir: str, map_location: str | torch.device = "cpu") -> str:
    """The newest checkpoint of a run that passes `read_checkpoint` on `map_location`. Newer corrupt ones are
    skipped with a warning (a resume sets them aside, `set_aside_newer`). A checkpoint that cannot be read
    here for another reason (CheckpointUnreadable) stops the search: skipping it would resume from an older
    one and later write over a valid file. Raises CheckpointError."""
    problems = []
    for path in checkpoints_newest_first(log_dir):
        try:
            read_checkpoint(path, map_location)
        except CheckpointUnreadable:
            raise
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warnings.warn(f"skipping a checkpoint that does not verify: {problem}", RuntimeWarning, stacklevel=2)
        return path
    detail = f"; the newest fails: {problems[0]}" if problems else ""
    raise CheckpointError(f"no valid model_<it>.pt checkpoint in {log_dir}{detail}")


def set_aside_newer(log_dir: str, resumed: str) -> list[str]:
    """Rename the checkpoints newer than `resumed` (those that did not verify) to `model_<it>.pt.corrupt`
    (`.corrupt.<n>` if taken), so that the resumed run never writes over an existing file. Returns the new
    names."""
    resumed_it = int(Path(resumed).name[6:-3])
    moved = []
    for path in checkpoints_newest_first(log_dir):
        if int(Path(path).name[6:-3]) <= resumed_it:
            break
        target, n = Path(f"{path}.corrupt"), 0
        while target.exists():
            n += 1
            target = Path(f"{path}.corrupt.{n}")
        os.rename(path, target)
        moved.append(str(target))
    return moved


def remove_partial_checkpoints(log_dir: str) -> list[str]:
    """Delete the temporary files an interrupted atomic save leaves behind (`.model_<it>.pt.*.tmp`)."""
    stale = sorted(Path(log_dir).glob(".model_*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return [str(p) for p in stale]
