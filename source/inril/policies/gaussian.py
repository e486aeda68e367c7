"""Gaussian MLP policy: flattened normalized obs history -> diagonal Gaussian over an action chunk.

With pred_horizon = action_horizon = 1 it is the plain per-step Gaussian MLP (registry name
`gaussian`); with longer chunks it is DPPO's MLP chunking baseline (`gaussian_chunked`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from inril.policies.base import Policy, check_horizons, randn
from inril.policies.normalizer import MinMaxNormalizer

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "mish": nn.Mish,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


@dataclass
class GaussianPolicyConfig:
    """Dims (O, A), horizons (To, Tp, Ta), the MLP (hidden widths, activation name from ACTIVATIONS) and
    the std: learned (per action dim, or a state-dependent head) or fixed at `init_log_std`, clamped to
    [min_log_std, max_log_std] (log of normalized action units). Raises ValueError on an inconsistent config."""
    obs_dim: int
    action_dim: int
    obs_horizon: int = 1
    pred_horizon: int = 8
    action_horizon: int = 8
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256, 256])
    activation: str = "mish"
    # learn_std=False: log-std is a fixed buffer at init_log_std, and the NLL is a scaled MSE.
    learn_std: bool = True
    # Learned std only: one parameter per action dim (shared over the chunk and all states), or,
    # if state_dependent_std, a second MLP head.
    state_dependent_std: bool = False
    init_log_std: float = 0.0
    # Learned log-std is clamped here, so the NLL cannot collapse the std to zero on exact data.
    min_log_std: float = -5.0
    max_log_std: float = 2.0

    def __post_init__(self) -> None:
        check_horizons(self)
        self.hidden_dims = list(self.hidden_dims)
        if any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive ints, got {self.hidden_dims}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        if self.state_dependent_std and not self.learn_std:
            raise ValueError("state_dependent_std=True needs learn_std=True: a fixed std cannot depend on the state")
        if not self.min_log_std < self.max_log_std:
            raise ValueError(f"min_log_std ({self.min_log_std}) must be < max_log_std ({self.max_log_std})")
        if not self.min_log_std <= self.init_log_std <= self.max_log_std:
            raise ValueError(
                f"init_log_std ({self.init_log_std}) must lie in [min_log_std, max_log_std] = "
                f"[{self.min_log_std}, {self.max_log_std}]"
            )


class GaussianPolicy(Policy):
    """Gaussian MLP chunk policy: flattened normalized obs history (B, To * O) -> diagonal Gaussian over
    normalized chunks (B, Tp, A); trained by negative log-likelihood (module docstring)."""
    def __init__(
        self, cfg: GaussianPolicyConfig, obs_normalizer: MinMaxNormalizer, action_normalizer: MinMaxNormalizer
    ):
        super().__init__(cfg, obs_normalizer, action_normalizer)
        chunk = cfg.pred_horizon * cfg.action_dim
        heads = 2 if cfg.state_dependent_std else 1
        layers: list[nn.Module] = []
        width = cfg.obs_horizon * cfg.obs_dim
        for hidden in cfg.hidden_dims:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[cfg.activation]()]
            width = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, heads * chunk))
        if cfg.state_dependent_std:
            # Start the std head at init_log_std for every state.
            with torch.no_grad():
                self.mlp[-1].weight[chunk:].zero_()
                self.mlp[-1].bias[chunk:].fill_(cfg.init_log_std)
        else:
            log_std = torch.full((cfg.action_dim,), cfg.init_log_std)
            if cfg.learn_std:
                self.log_std = nn.Parameter(log_std)
            else:
                self.register_buffer("log_std", log_std)

    def distribution(self, nobs: Tensor) -> Normal:
        """The diagonal Gaussian over normalized chunks (B, Tp, A) for normalized nobs (B, To, O)."""
        out = self.mlp(self.flat_obs(nobs)).view(nobs.shape[0], -1, self.cfg.pred_horizon, self.cfg.action_dim)
        mean = out[:, 0]
        log_std = out[:, 1] if self.cfg.state_dependent_std else self.log_std.expand_as(mean)
        return Normal(mean, log_std.clamp(self.cfg.min_log_std, self.cfg.max_log_std).exp())

    def compute_loss(self, nobs: Tensor, nactions: Tensor) -> Tensor:
        """Negative log-likelihood of the demo chunk, averaged over batch, chunk steps and action dims."""
        dist = self.distribution(nobs)
        self.check_chunk(nactions, nobs.shape[0], "nactions")
        return -dist.log_prob(nactions).mean()

    @torch.no_grad()
    def sample(
        self,
        nobs: Tensor,
        *,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
        init: Tensor | None = None,
    ) -> Tensor:
        """mean + std * noise (noise from `generator`), or the mean if deterministic; clamped to [-1, 1].

        A one-shot sampler has nothing to warm-start (supports_warm_start is False), so `init` must be None.
        """
        if init is not None:
            raise ValueError("GaussianPolicy does not support warm start; pass init=None")
        dist = self.distribution(nobs)
        if deterministic:
            return dist.mean.clamp(-1.0, 1.0)
        noise = randn(tuple(dist.mean.shape), generator, dist.mean.device).to(dist.mean.dtype)
        return (dist.mean + dist.stddev * noise).clamp(-1.0, 1.0)
