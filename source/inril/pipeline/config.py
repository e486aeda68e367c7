"""The whole config of a training job: `env.*` (task and env counts), `base.*` (demos, base policy and its
pre-training), `agent.*` (residual PPO and IN-RIL). Presets fill it (inril.pipeline.presets); Hydra overrides
adjust it (inril.pipeline.compose)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from inril.algos.bc import PretrainConfig
from inril.algos.network_separation.config import AgentConfig

ACTION_DIM = 10  # absolute end-effector pose: position 3, rotation 6-D, gripper 1


@dataclass
class EnvJobConfig:
    """The envs of a job: the task name, the number of training and evaluation envs, the env seed and the
    weight of the dense keypoint shaping in the training envs (0: sparse reward only). Raises ValueError."""
    task: str = "OneLeg-Low"
    num_envs: int = 32
    seed: int = 0
    eval_num_envs: int = 16
    shaping_weight: float = 0.0  # dense keypoint shaping in the training envs (MujocoEnvConfig.shaping_weight)

    def __post_init__(self):
        if self.num_envs < 1 or self.eval_num_envs < 1:
            raise ValueError("env.num_envs and env.eval_num_envs must be >= 1")
        if not (math.isfinite(self.shaping_weight) and self.shaping_weight >= 0):  # as MujocoEnvConfig, before stage 1
            raise ValueError(f"env.shaping_weight must be >= 0 and finite, got {self.shaping_weight}")


@dataclass
class BaseJobConfig:
    """Where the base policy comes from: a checkpoint, or scripted demos + BC pre-training."""

    checkpoint: str | None = None  # a pretrain_bc.py policy.pt; skips demo collection and pre-training
    demos: str | None = None  # an HDF5 file to pre-train on instead of collecting scripted demos
    num_demos: int = 50
    demo_seed: int = 1000  # disjoint from the RL env seeds, so RL does not replay the demo episodes
    policy_name: str = "diffusion"
    policy: Any = None  # the policy config dataclass; filled from the task's dims by `make_job`
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    val_fraction: float = 0.1  # held-out demos for the IL-loss-during-RL curve
    # Which demos of `demos` to learn from (inril.data.demos.load_demos): robomimic's filter keys, and
    # whether episodes marked success=False count (scripted demos are successes only).
    filter_key: str | None = None
    val_filter_key: str | None = None
    keep_failed_demos: bool = False

    def __post_init__(self):
        if self.num_demos < 2:
            raise ValueError(f"base.num_demos must be >= 2 (one is held out), got {self.num_demos}")


@dataclass
class TrainJob:
    """The whole job of a training run: `env` (task and envs), `base` (demos, base policy, pre-training) and
    `agent` (residual PPO and IN-RIL); written as the run's job.json, which a resume must match."""
    env: EnvJobConfig = field(default_factory=EnvJobConfig)
    base: BaseJobConfig = field(default_factory=BaseJobConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
