"""The laptop preset's diffusion base is a real diffusion policy: trained by the BC pipeline on demos whose
actions are bimodal given the observation, its samples keep both modes, where the Gaussian MLP base of the
same preset averages them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inril.algos.bc import PretrainJob, build_pretraining
from inril.data.demos import DemoSet
from inril.pipeline.presets import base_preset

MODE = 0.6  # every episode's actions sit at +MODE or -MODE (half the episodes each); the observations are identical
STEPS = 400  # BC steps: a few seconds on one core


def bimodal_demos(episodes: int = 20, length: int = 16, seed: int = 0) -> DemoSet:
    rng = np.random.default_rng(seed)
    obs = [np.stack([np.linspace(0, 1, length), np.zeros(length)], 1).astype(np.float32) for _ in range(episodes)]
    actions = [((1 if e % 2 else -1) * MODE + 0.02 * rng.standard_normal((length, 2))).astype(np.float32)
               for e in range(episodes)]
    return DemoSet(path=Path("bimodal.hdf5"), obs=obs, actions=actions, success=[True] * episodes,
                   names=[f"demo_{e}" for e in range(episodes)], obs_keys=["state"], obs_key_dims=[2])


def trained_base(name: str):
    policy_cfg, pretrain = base_preset("laptop", name, 2, 2)
    pretrain.steps, pretrain.val_fraction = STEPS, 0.0
    run = build_pretraining(PretrainJob(policy_cfg, pretrain), name, bimodal_demos())
    for _ in range(STEPS):
        run.learner.step()
    return run.learner.eval_policy.eval()


def observation(policy, n: int = 1) -> torch.Tensor:
    """n copies of a mid-episode observation history (B, To, 2)."""
    return torch.tensor([0.5, 0.0]).expand(n, policy.cfg.obs_horizon, 2)


def chunk_means(policy, n: int = 400) -> torch.Tensor:
    return policy.predict_action(observation(policy, n), generator=torch.Generator().manual_seed(0)).mean(dim=(1, 2))


@pytest.fixture(scope="module")
def diffusion_base():
    torch.manual_seed(0)
    return trained_base("diffusion")


def test_diffusion_samples_keep_both_modes(diffusion_base):
    means = chunk_means(diffusion_base)
    near_pos = ((means - MODE).abs() < 0.15).float().mean().item()
    near_neg = ((means + MODE).abs() < 0.15).float().mean().item()
    assert 0.25 < near_pos < 0.75 and 0.25 < near_neg < 0.75, (near_pos, near_neg)
    assert near_pos + near_neg > 0.9
    # The deterministic chunk is one of the modes, not their average.
    chunk = diffusion_base.predict_action(observation(diffusion_base), deterministic=True)
    assert (chunk.mean().abs() - MODE).abs() < 0.15


def test_the_gaussian_mlp_base_averages_the_modes():
    torch.manual_seed(0)
    policy = trained_base("gaussian_chunked")
    mean = policy.predict_action(observation(policy), deterministic=True)
    assert mean.mean().abs() < 0.2
