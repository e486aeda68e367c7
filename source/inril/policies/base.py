"""The interface every action-chunking policy implements.

A policy works in normalized space ([-1, 1] per dimension, see normalizer.py) and owns the two
normalizers, so they are part of its state_dict and travel with every checkpoint. Only
`predict_action` touches raw units.

Shapes: observations are histories (B, obs_horizon, obs_dim); actions are chunks
(B, pred_horizon, action_dim). `action_horizon` (how many of the chunk's actions an env executes
before asking again) is metadata for env wrappers: sampling always returns the full chunk.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from inril.policies.normalizer import MinMaxNormalizer


def check_horizons(cfg: Any) -> None:
    """Validation shared by every policy config (called from their __post_init__)."""
    for name in ("obs_dim", "action_dim", "obs_horizon", "pred_horizon", "action_horizon"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(cfg).__name__}.{name} must be an integer >= 1, got {value!r}")
    if cfg.action_horizon > cfg.pred_horizon:
        raise ValueError(
            f"{type(cfg).__name__}.action_horizon ({cfg.action_horizon}) cannot exceed "
            f"pred_horizon ({cfg.pred_horizon}): a chunk cannot execute more actions than it predicts"
        )


class Policy(nn.Module, abc.ABC):
    """An action-chunking policy over normalized tensors; owns its normalizers (they are in its state_dict)."""

    # Whether `sample(..., init=chunk)` refines a given chunk (diffusion) or has nothing to refine.
    supports_warm_start: ClassVar[bool] = False

    def __init__(self, cfg: Any, obs_normalizer: MinMaxNormalizer, action_normalizer: MinMaxNormalizer):
        super().__init__()
        if obs_normalizer.dim != cfg.obs_dim:
            raise ValueError(f"obs normalizer has {obs_normalizer.dim} dims but cfg.obs_dim is {cfg.obs_dim}")
        if action_normalizer.dim != cfg.action_dim:
            raise ValueError(
                f"action normalizer has {action_normalizer.dim} dims but cfg.action_dim is {cfg.action_dim}"
            )
        self.cfg = cfg
        self.obs_normalizer = obs_normalizer
        self.action_normalizer = action_normalizer

    @abc.abstractmethod
    def compute_loss(self, nobs: Tensor, nactions: Tensor) -> Tensor:
        """Scalar BC loss of normalized demo chunks nactions (B, Tp, A) given normalized nobs (B, To, O)."""

    @abc.abstractmethod
    def sample(
        self,
        nobs: Tensor,
        *,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
        init: Tensor | None = None,
    ) -> Tensor:
        """Normalized action chunks (B, Tp, A) in [-1, 1] for normalized nobs (B, To, O)."""

    @torch.no_grad()
    def predict_action(self, obs: Tensor, **sample_kwargs: Any) -> Tensor:
        """Raw obs (B, To, obs_dim) -> raw action chunk (B, Tp, action_dim).

        Observations outside the demo range are clamped by the obs normalizer's `clip` (ResiP uses 3,
        DPPO 5); with clip=None they pass through unclamped. `init`, if given, is a normalized chunk.
        """
        nobs = self.obs_normalizer.normalize(obs)
        return self.action_normalizer.unnormalize(self.sample(nobs, **sample_kwargs))

    def flat_obs(self, nobs: Tensor) -> Tensor:
        """Check nobs is (B, To, obs_dim) and flatten the history to (B, To * obs_dim)."""
        expected = (self.cfg.obs_horizon, self.cfg.obs_dim)
        if nobs.ndim != 3 or tuple(nobs.shape[1:]) != expected:
            raise ValueError(
                f"observations must have shape (B, {expected[0]}, {expected[1]}), got {tuple(nobs.shape)}"
            )
        return nobs.reshape(nobs.shape[0], -1)

    def check_chunk(self, chunk: Tensor, batch_size: int, what: str) -> None:
        """Check chunk is (batch_size, Tp, action_dim)."""
        expected = (batch_size, self.cfg.pred_horizon, self.cfg.action_dim)
        if tuple(chunk.shape) != expected:
            raise ValueError(f"{what} must have shape {expected}, got {tuple(chunk.shape)}")


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Standard normal noise from `generator` (or the global RNG), placed on `device`.

    Drawn on the generator's own device, so a CPU generator gives the same numbers whatever device
    the policy runs on.
    """
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=generator, device=generator.device).to(device)
