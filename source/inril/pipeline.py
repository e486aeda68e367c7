"""The main job on the embedded backend: scripted demos -> BC base -> IN-RIL residual PPO.

Each stage's output is cached under the cache directory, keyed by everything that determines it,
so a second run (or a second seed of a benchmark) reuses the demos and the pre-trained base:

    <cache>/demos/<task>-n<num_demos>-s<seed>-r<observation revision>.hdf5
    <cache>/bases/<task>-<hash of demos name + policy + pretrain config>/policy.pt

`TrainJob` is the whole config: `env.*` (task and env counts), `base.*` (demos, base policy and
its pre-training), `agent.*` (residual PPO and IN-RIL). Presets fill it; Hydra overrides adjust it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inril.algos.bc import PretrainConfig
from inril.algos.runner import AgentConfig, PPOConfig
from inril.envs.residual_wrapper import ResidualConfig
from inril.interleave.schedule import InterleaveConfig
from inril.policies import make_policy_config
from inril.tasks.spec import OBSERVATION_REVISION

PRESETS = ("laptop", "full")


@dataclass
class EnvJobConfig:
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
    env: EnvJobConfig = field(default_factory=EnvJobConfig)
    base: BaseJobConfig = field(default_factory=BaseJobConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)


BASE_POLICIES = ("diffusion", "gaussian_chunked", "gaussian")  # gaussian: one action per query, no chunk


def base_preset(preset: str, name: str, obs_dim: int, action_dim: int) -> tuple[Any, PretrainConfig]:
    """The policy config and BC pre-training of base policy `name` (any registered policy) in a preset.

    laptop: minutes of BC on 2 CPU cores. Diffusion: DPPO's furniture choice of an MLP denoiser, sized and
            trained like the Gaussian MLP (same chunks of 8 with 4 executed, widths, optimizer and steps),
            on two observations of history, predicting the clean chunk, 8 DDIM steps on the trailing grid
            (README "The laptop base").
            Gaussian MLPs: a fixed std (BC = scaled MSE), chunks of 8 with 4 executed when chunked.
    full:   ResiP's base: UNet [256, 512, 1024], 32-step chunks with 8 executed, 16 DDIM steps, EMA 0.995,
            100k BC steps; for a GPU (one step of its UNet takes seconds on a laptop CPU).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    if preset == "full":
        # Clean-chunk prediction: the trailing DDIM grid starts at t = 99, where an epsilon model's clean-chunk
        # estimate is useless at ResiP's 4 RL-time steps (DiffusionPolicyConfig.prediction_type).
        overrides = {"prediction_type": "sample"} if name == "diffusion" else {}
        pretrain = PretrainConfig(steps=100_000, val_every=5000)
        pretrain.bc.ema_decay = 0.995 if name == "diffusion" else 0.0
        return make_policy_config(name, obs_dim, action_dim, **overrides), pretrain
    chunks = {} if name == "gaussian" else {"pred_horizon": 8, "action_horizon": 4}
    if name == "diffusion":
        # Two observations of history, Diffusion Policy's low-dim choice: with one, the same base reached 34% on
        # PegInHole-Low where two gave 52% (README "The laptop base").
        policy = make_policy_config(name, obs_dim, action_dim, **chunks, obs_horizon=2, denoiser="mlp",
                                    mlp_dims=[256, 256, 256], diffusion_step_embed_dim=32, prediction_type="sample",
                                    num_inference_steps=8)
    else:
        policy = make_policy_config(name, obs_dim, action_dim, **chunks, learn_std=False, init_log_std=-2.0)
    pretrain = PretrainConfig(steps=5000, val_every=1000)
    pretrain.bc.lr, pretrain.bc.warmup_steps = 1e-3, 100
    return policy, pretrain


def make_job(preset: str, task: str, obs_dim: int, action_dim: int, base_policy: str | None = None) -> TrainJob:
    """Default job of a preset for a task whose policy observations have `obs_dim` dims.

    laptop: the whole pipeline in about 35 min on 2 CPU cores (128 envs, keypoint reward shaping; a
            chunked Gaussian MLP base by default, `base_policy="diffusion"` for a small MLP-denoiser diffusion base).
    full:   sized like ResiP (1024 envs, diffusion UNet [256, 512, 1024], 16-step DDIM for eval, 4 during RL).
    The bases are `base_preset`'s.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    name = base_policy or ("gaussian_chunked" if preset == "laptop" else "diffusion")
    if name not in BASE_POLICIES:
        raise ValueError(f"unknown base policy {name!r}; known base policies: {', '.join(BASE_POLICIES)}")
    policy, pretrain = base_preset(preset, name, obs_dim, action_dim)
    if preset == "laptop":
        # 2.3M env steps (128 envs x 100 steps x 180 iterations), about 30 min on 2 cores. Measured on OneLeg-Low
        # and PegInHole-Low (README "Measured"): 77k steps (32 envs x 40 x 60) moved nothing; the sparse reward
        # alone moved nothing at 768k; with the keypoint shaping and 40 PPO steps per iteration, success rose
        # only after about 1.5M steps, by 6-11 points at 2.3M (512 held-out episodes). Exploration std 0.1, not
        # ResiP's 0.37: at residual scale 0.1 the latter alone cut the base from 45% to 10% here
        # (bench/exploration_noise.py). A fixed PPO learning rate, as ResiP's: rsl-rl's KL-adaptive schedule drove
        # the residual's LR to its 1e-5 floor within a few iterations and it stopped learning. The base and final
        # evaluations run 512 episodes (+-4 points), the periodic ones 128 (+-9).
        agent = AgentConfig(num_steps_per_env=100, max_iterations=180, save_interval=30, eval_interval=60,
                            eval_episodes=128, final_eval_episodes=512, init_std=0.1,
                            interleave=InterleaveConfig(mode="fixed", m=10),
                            ppo=PPOConfig(num_learning_epochs=10, num_mini_batches=4, gamma=0.995, schedule="fixed"))
        agent.il.batch_size = 128
        env = EnvJobConfig(task=task, num_envs=128, eval_num_envs=128, shaping_weight=1.0)
    else:
        agent = AgentConfig(num_steps_per_env=100, max_iterations=1000, save_interval=50, eval_interval=20,
                            eval_episodes=256, ppo=PPOConfig(num_learning_epochs=5, num_mini_batches=1, gamma=0.999),
                            residual=ResidualConfig(scale=0.1, num_inference_steps=4))
        agent.il.batch_size = 1024
        env = EnvJobConfig(task=task, num_envs=1024, eval_num_envs=256)
    base = BaseJobConfig(num_demos=50, policy_name=name, policy=policy, pretrain=pretrain)
    return TrainJob(env=env, base=base, agent=agent)


def cache_dir() -> Path:
    return Path(os.environ.get("INRIL_CACHE_DIR", Path.home() / ".cache" / "inril"))


def demos_path(job: TrainJob) -> Path:
    name = f"{job.env.task}-n{job.base.num_demos}-s{job.base.demo_seed}-r{OBSERVATION_REVISION}.hdf5"
    return cache_dir() / "demos" / name


def base_dir(job: TrainJob, demos: Path) -> Path:
    selection = {name: getattr(job.base, name) for name in ("filter_key", "val_filter_key", "keep_failed_demos")
                 if getattr(job.base, name) != getattr(BaseJobConfig, name)}  # only when set: older keys stay valid
    key = json.dumps({"demos": demos.name, "policy_name": job.base.policy_name, "policy": asdict(job.base.policy),
                      "pretrain": asdict(job.base.pretrain), **selection}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir() / "bases" / f"{job.env.task}-{digest}"
