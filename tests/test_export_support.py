"""Builders shared by the export, play, fault and crash-resume tests (no tests here).

A tiny diffusion base with fixed normalizers and a residual-PPO run built by the trainer's own
`build_runner`, so checkpoints, evaluation and env seeds are exactly what train_residual.py uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inril.algos.network_separation.runner import InrilRunner
from inril.apps.residual import build_runner
from inril.data.demos import DemoSet
from inril.interleave.schedule import InterleaveConfig
from inril.pipeline.config import TrainJob
from inril.pipeline.presets import make_job
from inril.policies import make_policy, make_policy_config
from inril.policies.diffusion import DiffusionPolicy
from inril.policies.normalizer import MinMaxNormalizer
from inril.tasks.registry import get_task

TASK = "PegInHole-Low"
LAYOUT = list(get_task(TASK).observation_layout)
OBS_DIM = sum(dim for _, dim in LAYOUT)


def tiny_policy_config(obs_dim: int = OBS_DIM):
    return make_policy_config("diffusion", obs_dim, 10, pred_horizon=8, action_horizon=4, down_dims=[16, 32],
                              diffusion_step_embed_dim=16, num_inference_steps=4)


def tiny_base(obs_dim: int = OBS_DIM, seed: int = 0) -> DiffusionPolicy:
    """A small untrained base whose action range keeps the tool in the workspace."""
    torch.manual_seed(seed)
    obs_norm = MinMaxNormalizer(-2 * torch.ones(obs_dim), 2 * torch.ones(obs_dim), clip=3.0)
    act_norm = MinMaxNormalizer(torch.tensor([0.3, -0.3, 0.0] + [-1.0] * 7), torch.tensor([0.7, 0.3, 0.4] + [1.0] * 7))
    return make_policy("diffusion", tiny_policy_config(obs_dim), obs_norm, act_norm).eval()


def synthetic_demos(obs_dim: int = OBS_DIM, episodes: int = 10, seed: int = 0) -> DemoSet:
    rng = np.random.default_rng(seed)
    obs = [rng.normal(size=(24, obs_dim)).astype(np.float32) for _ in range(episodes)]
    actions = [rng.uniform(-1, 1, size=(24, 10)).astype(np.float32) for _ in range(episodes)]
    names = [f"demo_{i}" for i in range(episodes)]
    return DemoSet(Path("synthetic.hdf5"), obs, actions, [True] * episodes, names, ["x"], [obs_dim])


def tiny_job(base_mode: str = "bc", seed: int = 0) -> TrainJob:
    """The laptop preset shrunk to seconds: 4 envs, 6 steps per iteration, a tiny UNet."""
    job = make_job("laptop", TASK, OBS_DIM, 10)
    job.base.policy = tiny_policy_config()
    job.env.num_envs, job.env.eval_num_envs, job.env.seed = 4, 4, seed
    agent = job.agent
    agent.base, agent.num_steps_per_env, agent.save_interval, agent.eval_interval = base_mode, 6, 1, 0
    agent.eval_episodes = agent.final_eval_episodes = 4
    agent.ppo.num_learning_epochs, agent.ppo.num_mini_batches = 2, 2
    agent.interleave = InterleaveConfig(mode="fixed", m=3)
    agent.il.batch_size = 8
    return job


def build_tiny_runner(log_dir: Path | None, base_mode: str = "bc", seed: int = 0) -> tuple[InrilRunner, TrainJob]:
    job = tiny_job(base_mode, seed)
    demos = synthetic_demos() if base_mode == "bc" else None
    runner = build_runner(job, tiny_base(), demos, None if log_dir is None else str(log_dir), "cpu")
    return runner, job


def perturb_residual(runner: InrilRunner, scale: float = 0.05, seed: int = 0) -> None:
    """Move the residual actor off its zero-initialised output, so that it visibly changes actions."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in runner.alg.get_policy().parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
