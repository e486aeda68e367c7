"""Residual composition over any VecEnv: base action chunks plus a per-step RL residual.

The wrapped env speaks raw task units; the wrapper speaks the normalized action space the base
policy was trained in. Each step:

1. the RL actor's residual arrives (normalized units);
2. the executed action is `clip(base + scale * residual, -1, 1)`, unnormalized for the inner env;
3. after the inner step, envs that finished an episode forget their chunk queue and history, and
   the base is queried (one batched DDIM call for the envs whose queue is empty) for the next
   step's base action, which is exposed as the observation group `base_action` (inril.data.groups).

So rsl-rl-lib's PPO sees an ordinary VecEnv whose action is the residual; with a zero residual
the env executes the base policy exactly. Both backends (embedded MuJoCo, and Isaac Lab through
`RslRlVecEnvWrapper`) go through this one class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.backends.wrappers import VecEnvWrapper
from inril.data.groups import BASE_ACTION_GROUP, POLICY_GROUP
from inril.policies.base import Policy
from inril.policies.chunk_executor import ChunkExecutor
from inril.policies.diffusion import DiffusionPolicy
from inril.utils.timing import RegionTimer


@dataclass
class ResidualConfig:
    """How base and residual make the executed action during RL (ResiP's residual policy): `scale` of the
    residual in normalized action units, the base's DDIM steps per chunk, and whether a chunk is warm-started
    from the previous chunk's unexecuted tail (diffusion bases only). Raises ValueError."""
    scale: float = 0.1  # residual scale in normalized action space (ResiP's action_scale)
    num_inference_steps: int = 4  # DDIM steps of the base during RL (ResiP: 4)
    warm_start: bool = True  # start each chunk from the previous chunk's unexecuted tail (ResiP)

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"residual scale must be > 0, got {self.scale}")
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")


def compose_action(base_action: torch.Tensor, residual: torch.Tensor, cfg: ResidualConfig) -> torch.Tensor:
    """The executed normalized action (..., A): clip(base + scale * residual, -1, 1), both in the base's
    normalized action space (ResiP's composition)."""
    return torch.clamp(base_action + cfg.scale * residual, -1.0, 1.0)


class ResidualVecEnv(VecEnvWrapper):
    """Adds the base policy's action to the observations and composes base + residual actions."""

    def __init__(self, env: VecEnv, base: Policy, cfg: ResidualConfig, obs_group: str = POLICY_GROUP):
        obs = env.get_observations()
        if obs_group not in obs.keys():
            raise ValueError(f"the env has no observation group {obs_group!r}; it has {list(obs.keys())}")
        obs_dim = obs[obs_group].shape[-1]
        if (obs_dim, env.num_actions) != (base.cfg.obs_dim, base.cfg.action_dim):
            raise ValueError(
                f"the base policy expects obs {base.cfg.obs_dim} / action {base.cfg.action_dim} dims but the env "
                f"has obs {obs_dim} / action {env.num_actions}: the base was trained on demos of another task"
            )
        super().__init__(env)
        self.base, self.residual_cfg, self.obs_group = base, cfg, obs_group
        self.executor = ChunkExecutor(
            base, env.num_envs, warm_start=cfg.warm_start and base.supports_warm_start, deterministic=True,
            num_inference_steps=cfg.num_inference_steps if isinstance(base, DiffusionPolicy) else None,
        )
        # Seconds spent querying the base (on CUDA as the GPU sees it, see RegionTimer); the trainer resets it.
        self.base_inference_timer = RegionTimer(base.obs_normalizer.low.device)
        self._obs = self._compose(obs)

    def _compose(self, obs: TensorDict) -> TensorDict:
        nobs = self.base.obs_normalizer.normalize(obs[self.obs_group])
        with self.base_inference_timer.region():
            base_action = self.executor.act_normalized(nobs)
        groups = {key: obs[key] for key in obs.keys() if key != self.obs_group}
        groups.update({self.obs_group: nobs, BASE_ACTION_GROUP: base_action})
        return TensorDict(groups, batch_size=[self.num_envs], device=self.device)

    def get_observations(self) -> TensorDict:
        """The current observations: the inner env's groups, `policy` replaced by its normalized version (N, O),
        plus `base_action` (N, A), the base's normalized action for this step."""
        return self._obs

    def executed_action(self, residual: torch.Tensor) -> torch.Tensor:
        """The normalized action the env executes for `residual` at the current state."""
        return compose_action(self._obs[BASE_ACTION_GROUP], residual, self.residual_cfg)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Execute residuals (N, A) (normalized): the inner env gets unnormalize(clip(base + scale * residual)).
        Returns the inner env's rewards, dones and extras with the composed observations (see `get_observations`)."""
        raw = self.base.action_normalizer.unnormalize(self.executed_action(actions.to(self.device)))
        obs, rewards, dones, extras = self.env.step(raw)
        done_ids = dones.nonzero(as_tuple=True)[0]
        if len(done_ids):
            self.executor.reset(done_ids)
        self._obs = self._compose(obs)
        return self._obs, rewards, dones, extras
