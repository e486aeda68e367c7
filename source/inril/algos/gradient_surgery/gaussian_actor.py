"""Full-network PPO on a Gaussian chunk policy: the cheapest surgery baseline.

The chain is one step: the chunk is drawn from N(mean(obs), std^2) with a fixed exploration std
(in normalized action space, as ResiP's residual has), whatever std the BC base was trained with.
The deterministic policy that gets evaluated is the mean, i.e. the policy itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Normal

from inril.algos.gradient_surgery.actors import ChunkActor, chunk_log_prob
from inril.policies.base import randn
from inril.policies.gaussian import GaussianPolicy


@dataclass
class GaussianPPOConfig:
    """The fixed exploration std of Gaussian PPO, in normalized action units (> 0, else ValueError)."""
    std: float = 0.1  # exploration std in normalized action space

    def __post_init__(self):
        if not self.std > 0:
            raise ValueError(f"gaussian.std must be > 0, got {self.std}")


class GaussianChunkActor(ChunkActor):
    """Gaussian PPO as a one-step `ChunkActor`: chunk ~ N(mean(nobs), std^2) with the config's fixed std;
    the policy's own learned std is not used."""
    num_steps = 1

    @classmethod
    def from_base(cls, base: GaussianPolicy, cfg: GaussianPPOConfig) -> GaussianChunkActor:
        """Gaussian PPO on a deep copy of `base`."""
        return cls(copy.deepcopy(base), cfg)

    def __init__(self, policy: GaussianPolicy, cfg: GaussianPPOConfig):
        self.policy, self.cfg = policy, cfg

    def _dist(self, nobs: Tensor) -> Normal:
        mean = self.policy.distribution(nobs).mean
        return Normal(mean, torch.full_like(mean, self.cfg.std))

    def act(self, nobs: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """Sample for nobs (B, To, O): the chunk clamped to [-1, 1] (B, Tp, A), the unclamped draw as the
        chain (B, 1, Tp, A) and its log-probability (B, 1)."""
        dist = self._dist(nobs)
        x = dist.mean + self.cfg.std * randn(tuple(dist.mean.shape), generator, dist.mean.device)
        return x.clamp(-1.0, 1.0), x.unsqueeze(1), chunk_log_prob(dist, x).unsqueeze(1)

    def log_prob(self, nobs: Tensor, chain: Tensor) -> Tensor:
        """Log-probability (B, 1) of the drawn chunk `chain[:, 0]` under the current mean."""
        return chunk_log_prob(self._dist(nobs), chain[:, 0]).unsqueeze(1)

    def exploration_std(self) -> Tensor:
        """The fixed exploration std (normalized action units)."""
        return torch.tensor(self.cfg.std)
