"""Shared fixtures: small synthetic demo files in the robomimic layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# The suite's networks are tiny: one intra-op thread is fastest, and it leaves the second core to
# MuJoCo's stepping threads instead of oversubscribing both.
torch.set_num_threads(1)

from inril.data.demos import Episode, write_demos


def make_episodes(num: int = 4, length: int = 12, seed: int = 0, action_dim: int = 2) -> list[Episode]:
    """Episodes whose values encode (episode, step) so window tests can check exact indices."""
    rng = np.random.default_rng(seed)
    episodes = []
    for e in range(num):
        steps = np.arange(length, dtype=np.float32)
        pos = np.stack([np.full(length, e, np.float32), steps], axis=1)
        vel = rng.normal(size=(length, 1)).astype(np.float32)
        actions = np.stack([np.full(length, e, np.float32), steps + 0.5], axis=1)[:, :action_dim]
        episodes.append(Episode({"pos": pos, "vel": vel}, actions, success=e % 2 == 0, seed=100 + e))
    return episodes


@pytest.fixture
def demo_file(tmp_path):
    path = tmp_path / "demos.hdf5"
    write_demos(path, make_episodes(), {"env_name": "Toy-v0"}, obs_keys=["pos", "vel"])
    return path


def load_script(name: str):
    """Import scripts/<name>.py as a module so tests can call its main(argv) in-process."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"inril_script_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses defined in a script look their module up there
    spec.loader.exec_module(module)
    return module


def job_from_argv(script, argv: list[str]):
    """The job a training script would compose from `argv` (its parse_args, then inril.pipeline.compose)."""
    from inril.pipeline.compose import JobFlags, compose_job

    args, overrides = script.parse_args(argv)
    return compose_job(JobFlags.from_args(args), overrides)
