"""The config of full-network PPO with IN-RIL's IL updates and gradient surgery (inril.algos.gradient_surgery)."""

from __future__ import annotations

from dataclasses import dataclass, field

from inril.interleave.schedule import InterleaveConfig
from inril.interleave.surgery import METHODS


@dataclass
class FullNetworkILConfig:
    """IN-RIL's IL updates on the fine-tuned network itself."""

    enabled: bool = True
    surgery: str = "pcgrad"  # none (naive interleaving), pcgrad or dual_cone
    coef: float = 1.0  # weight of the BC loss in the combined update: the IL step size relative to RL
    batch_size: int = 128
    grad_clip: float = 1.0
    interleave: InterleaveConfig = field(default_factory=InterleaveConfig)

    def __post_init__(self):
        if self.surgery not in METHODS:
            raise ValueError(f"il.surgery must be one of {METHODS}, got {self.surgery!r}")
        if self.coef <= 0 or self.grad_clip <= 0 or self.batch_size < 1:
            raise ValueError("il.coef and il.grad_clip must be > 0 and il.batch_size >= 1")


@dataclass
class FullNetworkPPOConfig:
    """Everything that defines a full-network PPO run (inril.algos.gradient_surgery.full_network_ppo).
    Groups: the rollout (`decisions_per_env`: chunks per env per iteration); PPO over decisions (epochs,
    minibatches, clip, `gamma` per decision, GAE `lam`, `value_loss_coef`, `max_grad_norm`); one Adam optimizer
    with a rate per network (`actor_lr`, `critic_lr`; 0 freezes one); the critic MLP on the flattened (To * O)
    observation history; `eval_interval`, `save_interval` and `max_nonfinite_streak`; the IL updates and
    surgery (`il`). The PPO defaults (5 epochs x 4 minibatches, clip 0.2, gamma 0.99, lam 0.95) are residual
    PPO's (PPOConfig, ResiP / rsl-rl); the mish critic follows DPPO's critics. Raises ValueError."""
    decisions_per_env: int = 10  # chunks per env per iteration (env steps: this times action_horizon)
    num_learning_epochs: int = 5
    num_mini_batches: int = 4
    clip_param: float = 0.2
    gamma: float = 0.99  # per decision
    lam: float = 0.95
    actor_lr: float = 1e-4
    critic_lr: float = 1e-3
    max_grad_norm: float = 1.0
    value_loss_coef: float = 0.5
    critic_hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    critic_activation: str = "mish"
    eval_interval: int = 10  # iterations between evaluations (0 disables)
    save_interval: int = 10  # iterations between checkpoints (model_<it>.pt; the last iteration is always saved)
    # Consecutive optimizer steps with a non-finite loss or gradient, each skipped, that stop the run.
    max_nonfinite_streak: int = 10
    il: FullNetworkILConfig = field(default_factory=FullNetworkILConfig)

    def __post_init__(self):
        for name in ("decisions_per_env", "num_learning_epochs", "num_mini_batches", "max_nonfinite_streak",
                     "save_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError(f"need 0 < gamma <= 1 and 0 <= lam <= 1, got {self.gamma}, {self.lam}")
        if self.clip_param <= 0 or self.max_grad_norm <= 0 or self.value_loss_coef < 0:
            raise ValueError("clip_param and max_grad_norm must be > 0, value_loss_coef >= 0")
        if self.actor_lr < 0 or self.critic_lr < 0:
            raise ValueError("learning rates must be >= 0 (0 freezes that network)")
        if self.eval_interval < 0:
            raise ValueError(f"eval_interval must be >= 0, got {self.eval_interval}")
