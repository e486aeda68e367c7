"""The presets of a job (laptop: minutes on 2 CPU cores; full: ResiP-sized, for a GPU) and of its base policy."""

from __future__ import annotations

from typing import Any

from inril.algos.bc import PretrainConfig
from inril.algos.network_separation.config import AgentConfig, PPOConfig
from inril.interleave.schedule import InterleaveConfig
from inril.pipeline.config import BaseJobConfig, EnvJobConfig, TrainJob
from inril.policies import make_policy_config
from inril.residual.env import ResidualConfig

PRESETS = ("laptop", "full")
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
