"""The config of a residual-PPO run (network separation): `AgentConfig` is a typed, validated dataclass that
becomes the dict rsl-rl-lib 5's OnPolicyRunner takes (`actor`, `critic`, `algorithm`, `obs_groups`, ...) through
`to_rsl_rl()`; the IN-RIL parts (base mode, IL optimizer, interleave schedule, residual scale) stay out of that dict
and are attached to the algorithm after construction (inril.algos.network_separation.runner)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from inril.algos.bc import BCConfig
from inril.data.groups import ACTOR_OBS_GROUPS
from inril.interleave.schedule import InterleaveConfig
from inril.residual.env import ResidualConfig

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
    critic_learning_rate: float | None = None  # None: the critic shares learning_rate (rsl-rl's one optimizer)

    def __post_init__(self):
        if self.num_learning_epochs < 1 or self.num_mini_batches < 1:
            raise ValueError("ppo num_learning_epochs and num_mini_batches must be >= 1")
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError(f"ppo needs 0 < gamma <= 1 and 0 <= lam <= 1, got {self.gamma}, {self.lam}")
        if self.learning_rate <= 0 or self.clip_param <= 0 or self.max_grad_norm <= 0:
            raise ValueError("ppo learning_rate, clip_param and max_grad_norm must be > 0")
        if self.schedule not in ("adaptive", "fixed"):
            raise ValueError(f"ppo schedule must be 'adaptive' or 'fixed', got {self.schedule!r}")
        if self.critic_learning_rate is not None and (self.critic_learning_rate <= 0 or self.schedule != "fixed"):
            raise ValueError("ppo critic_learning_rate must be > 0 and needs schedule 'fixed' (the KL-adaptive "
                             "schedule sets one rate for actor and critic)")


@dataclass
class MLPConfig:
    """Hidden layer widths and activation (an rsl-rl-lib activation name, e.g. "relu", "elu") of an MLP:
    the residual actor's or the critic's."""
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
    # Episodes of the base-alone and final evaluations, which the run's summary pairs episode by episode;
    # more than the periodic ones, since that comparison is the run's result. None: eval_episodes.
    final_eval_episodes: int | None = None
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    interleave: InterleaveConfig = field(default_factory=InterleaveConfig)
    # The base's IL optimizer during RL (ResiP's prototype: AdamW 5e-5, grad clip 1, batch 1024).
    il: BCConfig = field(default_factory=lambda: BCConfig(lr=5e-5, warmup_steps=0, lr_schedule="constant"))
    # On CUDA, queue the IL updates on a side stream so they overlap PPO's updates (False: in line on the default
    # stream, the same updates; bench/gpu_suite.py measures the overlap against it). No effect on CPU.
    il_side_stream: bool = True
    ppo: PPOConfig = field(default_factory=PPOConfig)
    actor: MLPConfig = field(default_factory=MLPConfig)
    critic: MLPConfig = field(default_factory=MLPConfig)
    init_std: float = math.exp(-1.0)  # residual exploration std (ResiP: init_logstd -1)
    learn_std: bool = False
    logger: str = "tensorboard"  # or "wandb" (needs the wandb extra)
    # Consecutive optimizer steps (PPO or IL) with a non-finite loss or gradient, each skipped, that stop the run.
    max_nonfinite_streak: int = 10

    def __post_init__(self):
        if self.base not in BASE_MODES:
            raise ValueError(f"base must be one of {BASE_MODES}, got {self.base!r}")
        for name in ("num_steps_per_env", "max_iterations", "save_interval", "eval_episodes", "max_nonfinite_streak"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.final_eval_episodes is not None and self.final_eval_episodes < 1:
            raise ValueError(f"final_eval_episodes must be >= 1 or None, got {self.final_eval_episodes}")
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
            "obs_groups": {"actor": list(ACTOR_OBS_GROUPS), "critic": list(ACTOR_OBS_GROUPS)},
            "actor": {
                "class_name": "inril.residual.actor:ResidualActor",
                "hidden_dims": list(self.actor.hidden_dims),
                "activation": self.actor.activation,
                "obs_normalization": False,  # inputs are already min-max normalized by the base's normalizer
                "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": self.init_std,
                                     "std_type": "log", "learn_std": self.learn_std},
            },
            "critic": {"class_name": "MLPModel", "hidden_dims": list(self.critic.hidden_dims),
                       "activation": self.critic.activation, "obs_normalization": False},
            "algorithm": {"class_name": "inril.algos.network_separation.ppo:InrilPPO", **vars(self.ppo)},
            "logger": self.logger if self.logger == "tensorboard" else {"class_name": "WandbLogWriter",
                                                                       "project_name": "inril"},
        }
