"""Closed-loop execution of an action-chunking policy in N parallel environments.

Each env keeps its observation history (the last To observations) and a queue holding the
not-yet-executed actions of its current chunk. At every control step the envs whose queue is
empty are refilled in one batched `policy.sample` call (two when some envs warm-start and some,
just reset, cannot), and every env pops one action. A chunk is consumed for `action_horizon`
steps before the policy is asked again, as in Diffusion Policy and ResiP.

This is the one place where chunked policies meet envs: BC evaluation, the residual wrapper
(which adds a per-step residual to the action popped here) and play all run through it.
"""

from __future__ import annotations

import torch

from inril.policies.base import Policy
from inril.policies.diffusion import warm_start_from_tail


class ObservationHistory:
    """The last To normalized observations of each of N envs, as the policy's (N, To, O) input.

    A fresh env (new, or reset) fills its whole history with its first observation, which is the
    start padding the demo windows use, so a policy sees right after a reset what it saw in training.
    """

    def __init__(self, num_envs: int, obs_horizon: int, obs_dim: int, device: torch.device | str):
        self.history = torch.zeros(num_envs, obs_horizon, obs_dim, device=device)
        self.fresh = torch.ones(num_envs, dtype=torch.bool, device=device)

    def reset(self, env_ids: torch.Tensor | slice = slice(None)) -> None:
        """Mark `env_ids` fresh: their next `push` fills their whole history with that observation."""
        self.fresh[env_ids] = True

    def push(self, nobs: torch.Tensor) -> torch.Tensor:
        """Append this step's normalized observations (N, O); returns the history (N, To, O)."""
        fresh, kept = self.fresh, ~self.fresh
        self.history[fresh] = nobs[fresh].unsqueeze(1).expand(-1, self.history.shape[1], -1)
        self.history[kept] = torch.cat([self.history[kept, 1:], nobs[kept].unsqueeze(1)], dim=1)
        self.fresh[:] = False
        return self.history


class ChunkExecutor:
    """Runs a chunk policy step by step in `num_envs` envs (module docstring): `act` / `act_normalized` take
    this step's observations (N, O) and return this step's action (N, A). `warm_start` (diffusion only),
    `deterministic`, `generator` and `num_inference_steps` are passed to `policy.sample`. Raises ValueError for
    num_envs < 1 or a warm start the policy does not support."""
    def __init__(
        self,
        policy: Policy,
        num_envs: int,
        *,
        warm_start: bool = False,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        num_inference_steps: int | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if warm_start and not policy.supports_warm_start:
            raise ValueError(f"{type(policy).__name__} cannot warm-start chunks")
        cfg = policy.cfg
        self.policy, self.num_envs = policy, num_envs
        self.warm_start, self.deterministic, self.generator = warm_start, deterministic, generator
        self.sample_kwargs = {} if num_inference_steps is None else {"num_inference_steps": num_inference_steps}
        device = policy.obs_normalizer.low.device
        self.history = ObservationHistory(num_envs, cfg.obs_horizon, cfg.obs_dim, device)
        self.chunks = torch.zeros(num_envs, cfg.pred_horizon, cfg.action_dim, device=device)
        # Index of the next action to pop from each env's chunk; action_horizon means "empty".
        self.cursor = torch.full((num_envs,), cfg.action_horizon, dtype=torch.long, device=device)
        # Whether the env's current chunk may seed a warm start (false right after a reset).
        self.has_plan = torch.zeros(num_envs, dtype=torch.bool, device=device)
        self.num_refills = 0  # envs refilled so far, for diagnostics and tests

    @property
    def action_horizon(self) -> int:
        """Ta: actions executed from each chunk before the policy is queried again."""
        return self.policy.cfg.action_horizon

    def reset(self, env_ids: torch.Tensor | None = None) -> None:
        """Forget the history and the queued actions of `env_ids` (all envs when None)."""
        ids = slice(None) if env_ids is None else env_ids
        self.cursor[ids] = self.action_horizon
        self.has_plan[ids] = False
        self.history.reset(ids)

    def _refill(self, env_ids: torch.Tensor) -> None:
        warm = self.has_plan[env_ids] if self.warm_start else torch.zeros_like(env_ids, dtype=torch.bool)
        for ids, init in (
            (env_ids[~warm], None),
            (env_ids[warm], warm_start_from_tail(self.chunks[env_ids[warm]], self.action_horizon)),
        ):
            if len(ids):
                self.chunks[ids] = self.policy.sample(
                    self.history.history[ids], generator=self.generator, deterministic=self.deterministic,
                    init=init, **self.sample_kwargs,
                )
        self.cursor[env_ids] = 0
        self.has_plan[env_ids] = True
        self.num_refills += len(env_ids)

    @torch.no_grad()
    def act_normalized(self, nobs: torch.Tensor) -> torch.Tensor:
        """Normalized obs (N, obs_dim) -> this step's normalized action (N, action_dim)."""
        self.history.push(nobs)
        empty = (self.cursor >= self.action_horizon).nonzero(as_tuple=True)[0]
        if len(empty):
            self._refill(empty)
        action = self.chunks[torch.arange(self.num_envs, device=self.cursor.device), self.cursor]
        self.cursor += 1
        return action

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw obs (N, obs_dim) -> this step's raw action (N, action_dim)."""
        nobs = self.policy.obs_normalizer.normalize(obs)
        return self.policy.action_normalizer.unnormalize(self.act_normalized(nobs))
