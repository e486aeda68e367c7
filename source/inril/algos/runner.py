"""The residual-PPO agent config and rsl-rl-lib's OnPolicyRunner with IN-RIL attached.

`AgentConfig` is a typed, validated dataclass that becomes the dict rsl-rl-lib 5's runner takes
(`actor`, `critic`, `algorithm`, `obs_groups`, ...) through `to_rsl_rl()`; the IN-RIL parts
(base mode, IL optimizer, interleave schedule, residual scale) stay out of that dict and are
attached to the algorithm after construction. The runner's loop, checkpoint layout
(`model_<it>.pt`) and log directory are rsl-rl-lib's; we add the IN-RIL scalars to its logger.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from rsl_rl.runners import OnPolicyRunner
from rsl_rl.utils.logger import Logger

from inril.algos.bc import BCConfig
from inril.algos.residual_ppo import InrilPPO, Interleaving
from inril.data.windows import WindowSampler
from inril.envs.residual_wrapper import ResidualConfig, ResidualVecEnv
from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler
from inril.interleave.side_stream import BaseUpdater
from inril.utils.io import atomic_torch_save

BASE_MODES = ("bc", "frozen")


@dataclass
class PPOConfig:
    """rsl-rl-lib 5 PPO arguments (defaults follow ResiP where the two map onto each other)."""

    num_learning_epochs: int = 5
    num_mini_batches: int = 4
    clip_param: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    value_loss_coef: float = 1.0
    entropy_coef: float = 0.0  # ResiP: no entropy bonus, exploration comes from the fixed std
    learning_rate: float = 3e-4
    max_grad_norm: float = 1.0
    schedule: str = "adaptive"  # rsl-rl's KL-adaptive learning rate, or "fixed"
    desired_kl: float = 0.01

    def __post_init__(self):
        if self.num_learning_epochs < 1 or self.num_mini_batches < 1:
            raise ValueError("ppo num_learning_epochs and num_mini_batches must be >= 1")
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError(f"ppo needs 0 < gamma <= 1 and 0 <= lam <= 1, got {self.gamma}, {self.lam}")
        if self.learning_rate <= 0 or self.clip_param <= 0 or self.max_grad_norm <= 0:
            raise ValueError("ppo learning_rate, clip_param and max_grad_norm must be > 0")
        if self.schedule not in ("adaptive", "fixed"):
            raise ValueError(f"ppo schedule must be 'adaptive' or 'fixed', got {self.schedule!r}")


@dataclass
class MLPConfig:
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"

    def __post_init__(self):
        if not self.hidden_dims or any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")


@dataclass
class AgentConfig:
    """Everything that defines a residual-PPO run on top of a base policy."""

    base: str = "bc"  # "bc": IN-RIL network separation; "frozen": plain residual PPO (the RL-only baseline)
    num_steps_per_env: int = 50
    max_iterations: int = 100
    save_interval: int = 10
    eval_interval: int = 10  # iterations between deterministic evaluations (0 disables)
    eval_episodes: int = 32
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    interleave: InterleaveConfig = field(default_factory=InterleaveConfig)
    # The base's IL optimizer during RL (ResiP's prototype: AdamW 5e-5, grad clip 1, batch 1024).
    il: BCConfig = field(default_factory=lambda: BCConfig(lr=5e-5, warmup_steps=0, lr_schedule="constant"))
    ppo: PPOConfig = field(default_factory=PPOConfig)
    actor: MLPConfig = field(default_factory=MLPConfig)
    critic: MLPConfig = field(default_factory=MLPConfig)
    init_std: float = math.exp(-1.0)  # residual exploration std (ResiP: init_logstd -1)
    learn_std: bool = False
    logger: str = "tensorboard"  # or "wandb" (needs the wandb extra)

    def __post_init__(self):
        if self.base not in BASE_MODES:
            raise ValueError(f"base must be one of {BASE_MODES}, got {self.base!r}")
        for name in ("num_steps_per_env", "max_iterations", "save_interval", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_interval < 0:
            raise ValueError(f"eval_interval must be >= 0, got {self.eval_interval}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")
        if self.logger not in ("tensorboard", "wandb"):
            raise ValueError(f"logger must be 'tensorboard' or 'wandb', got {self.logger!r}")

    def to_rsl_rl(self) -> dict:
        """The train_cfg dict rsl-rl-lib 5's OnPolicyRunner takes."""
        return {
            "num_steps_per_env": self.num_steps_per_env,
            "save_interval": self.save_interval,
            "obs_groups": {"actor": ["policy", "base_action"], "critic": ["policy", "base_action"]},
            "actor": {
                "class_name": "inril.policies.residual:ResidualActor",
                "hidden_dims": list(self.actor.hidden_dims),
                "activation": self.actor.activation,
                "obs_normalization": False,  # inputs are already min-max normalized by the base's normalizer
                "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": self.init_std,
                                     "std_type": "log", "learn_std": self.learn_std},
            },
            "critic": {"class_name": "MLPModel", "hidden_dims": list(self.critic.hidden_dims),
                       "activation": self.critic.activation, "obs_normalization": False},
            "algorithm": {"class_name": "inril.algos.residual_ppo:InrilPPO", **vars(self.ppo)},
            "logger": self.logger if self.logger == "tensorboard" else {"class_name": "WandbLogWriter",
                                                                       "project_name": "inril"},
        }


class InrilLogger(Logger):
    """rsl-rl-lib's logger plus the IN-RIL diagnostics of each iteration under `INRIL/`."""

    def __init__(self, alg: InrilPPO, runner: InrilRunner, **kwargs):
        super().__init__(**kwargs)
        self.alg, self.runner = alg, runner

    def log(self, it: int, start_it: int, total_it: int, collect_time: float, learn_time: float,
            loss_dict: dict, learning_rate: float, action_std: torch.Tensor, rnd_weight, **kwargs) -> None:
        super().log(it, start_it, total_it, collect_time, learn_time, loss_dict, learning_rate, action_std,
                    rnd_weight, **kwargs)
        scalars = self.runner.iteration_scalars(it, collect_time)
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(f"INRIL/{key}", value, it)
            print("  ".join(f"{k}={v:.4g}" for k, v in scalars.items() if not k.startswith("time/")))


class InrilRunner(OnPolicyRunner):
    """OnPolicyRunner over a ResidualVecEnv with InrilPPO, the base updater and evaluation."""

    alg: InrilPPO

    def __init__(self, env: ResidualVecEnv, agent: AgentConfig, demos: WindowSampler | None,
                 val_demos: WindowSampler | None, log_dir: str | None, device: str = "cpu",
                 evaluate=None, seed: int = 0):
        if agent.base == "bc" and demos is None:
            raise ValueError("base 'bc' needs demonstrations for its IL updates")
        self.agent = agent
        super().__init__(env, agent.to_rsl_rl(), log_dir, device)
        updater = BaseUpdater(env.base, demos, agent.il, seed=seed) if agent.base == "bc" else None
        self.alg.attach(Interleaving(InterleaveScheduler(agent.interleave), updater, env))
        self.val_demos, self.evaluate_fn = val_demos, evaluate
        self.logger = InrilLogger(
            self.alg, self, log_dir=log_dir, cfg=self.cfg, env_cfg=env.cfg, num_envs=env.num_envs,
            is_distributed=self.is_distributed, gpu_world_size=self.gpu_world_size,
            gpu_global_rank=self.gpu_global_rank, device=device,
        )
        self.eval_history: list[dict] = []

    def iteration_scalars(self, it: int, collect_time: float) -> dict[str, float]:
        """Diagnostics of the iteration just finished; runs the periodic evaluation."""
        env: ResidualVecEnv = self.env
        scalars = dict(self.alg.diagnostics)
        scalars["time/base_inference"] = env.base_inference_time
        scalars["time/rollout"] = collect_time - env.base_inference_time
        scalars["time/ppo_update"] = scalars.pop("ppo_time")
        if "bc_time" in scalars:
            scalars["time/bc_update"] = scalars.pop("bc_time")
        env.base_inference_time = 0.0
        if self.alg.interleaving.updater is not None and self.val_demos is not None:
            scalars["bc_val_loss"] = self.alg.interleaving.updater.validation_loss(self.val_demos)
        interval = self.agent.eval_interval
        if self.evaluate_fn is not None and interval and ((it + 1) % interval == 0 or it == 0):
            result = self.evaluate_fn(self)
            self.eval_history.append({"iteration": it, "env_steps": self.logger.tot_timesteps, **result.as_dict()})
            scalars.update({f"eval/{k}": v for k, v in result.as_dict().items()})
        return scalars

    def save(self, path: str, infos: dict | None = None) -> None:
        """Atomic checkpoint with RNG states: a crash mid-write leaves the previous file intact."""
        saved = self.alg.save()
        saved["iter"] = self.current_learning_iteration
        saved["infos"] = infos
        saved["rng_states"] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                               "python": random.getstate()}
        saved["eval_history"] = self.eval_history
        atomic_torch_save(saved, path)
        self.logger.save_model(path, self.current_learning_iteration)

    def load(self, path: str, load_cfg: dict | None = None, strict: bool = True, map_location: str | None = None):
        """Resume: rsl-rl stores the index of the last *completed* iteration, so continue after it."""
        loaded = torch.load(path, weights_only=False, map_location=map_location)
        if self.alg.load(loaded, load_cfg, strict):
            self.current_learning_iteration = loaded["iter"] + 1
        rng = loaded.get("rng_states")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])
        self.eval_history = list(loaded.get("eval_history", []))
        return loaded["infos"]


def latest_checkpoint(log_dir: str) -> str | None:
    """The newest `model_<it>.pt` in a run directory, or None."""
    if not os.path.isdir(log_dir):
        return None
    its = [int(f[6:-3]) for f in os.listdir(log_dir) if f.startswith("model_") and f.endswith(".pt") and f[6:-3].isdigit()]
    return os.path.join(log_dir, f"model_{max(its)}.pt") if its else None
