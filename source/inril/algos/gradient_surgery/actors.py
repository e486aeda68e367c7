"""Full-network actors: a policy network read as a chain of Gaussian steps from observation history to chunk
(`ChunkActor`), and the one chooser of the actor for a base (`make_full_network_actor`)."""

from __future__ import annotations

import abc
from typing import Any

import torch
from rsl_rl.utils import resolve_callable
from torch import Tensor, nn
from torch.distributions import Normal

from inril.policies import policy_name
from inril.policies.base import Policy

# DPPO clamps per-element log-densities to this range before averaging, so that one dimension far
# out in a tail cannot blow up a ratio.
LOG_PROB_RANGE = (-5.0, 2.0)


def chunk_log_prob(dist: Normal, x: Tensor) -> Tensor:
    """Log-density of chunks x (..., Tp, A) under `dist`, clamped per element and averaged over the
    chunk (DPPO's convention: the ratio is a geometric mean over elements, stable for long chunks)."""
    return dist.log_prob(x).clamp(*LOG_PROB_RANGE).mean(dim=(-2, -1))


class ChunkActor(abc.ABC):
    """A policy network read as a stochastic map from an observation history to a chunk, through a
    chain of `num_steps` Gaussian steps whose log-likelihoods PPO can re-evaluate."""

    policy: Policy  # the network being fine-tuned; its deterministic `sample` is what gets evaluated
    num_steps: int  # K, the length of the chain

    @abc.abstractmethod
    def act(self, nobs: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """Sample for normalized nobs (B, To, O): the normalized chunk (B, Tp, A) in [-1, 1], the chain's
        states (B, S, Tp, A) that `log_prob` re-evaluates, and each step's log-probability (B, K)."""

    @abc.abstractmethod
    def log_prob(self, nobs: Tensor, chain: Tensor) -> Tensor:
        """Log-probabilities (B, K) of the chain's steps under the current weights (differentiable)."""

    def step_weights(self) -> Tensor:
        """Advantage weight of each chain step (K,): DPPO's denoising discount; ones by default."""
        return torch.ones(self.num_steps)

    def clip_coefs(self, clip: float) -> Tensor:
        """PPO clip coefficient of each chain step (K,); `clip` for all by default."""
        return torch.full((self.num_steps,), clip)

    def exploration_std(self) -> Tensor:
        """The sampling std (for logging)."""
        return torch.zeros(())

    def parameters(self) -> list[nn.Parameter]:
        """The fine-tuned parameters: the policy's that require grad (DPPO's frozen denoiser does not)."""
        return [p for p in self.policy.parameters() if p.requires_grad]

    @classmethod
    @abc.abstractmethod
    def from_base(cls, base: Policy, cfg: Any) -> ChunkActor:
        """The actor that fine-tunes a copy of `base` with its algorithm's config `cfg`; `base` is left untouched."""


# base policy name -> (actor class "module:Class", the FullNetworkJob field holding its config)
FULL_NETWORK_ACTORS: dict[str, tuple[str, str]] = {
    "diffusion": ("inril.algos.gradient_surgery.dppo:DPPOActor", "dppo"),
    "gaussian": ("inril.algos.gradient_surgery.gaussian_actor:GaussianChunkActor", "gaussian"),
    "gaussian_chunked": ("inril.algos.gradient_surgery.gaussian_actor:GaussianChunkActor", "gaussian"),
}


def make_full_network_actor(base: Policy, configs: Any) -> ChunkActor:
    """The full-network RL actor for `base`: DPPO on a diffusion policy, Gaussian PPO on a Gaussian one, with
    its config read from `configs`' attribute `dppo` / `gaussian` (inril.apps.full_network.FullNetworkJob).
    Raises TypeError for a base no full-network algorithm serves."""
    name = policy_name(base)
    if name not in FULL_NETWORK_ACTORS:
        raise TypeError(f"no full-network RL algorithm for a {name} base")
    actor_class, config_field = FULL_NETWORK_ACTORS[name]
    return resolve_callable(actor_class).from_base(base, getattr(configs, config_field))
