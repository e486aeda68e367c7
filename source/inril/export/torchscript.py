"""The deployable policy as one TorchScript module: raw observations in, raw actions out.

`DeployedPolicy` holds the observation normalizer, the diffusion base (its UNet traced, the DDIM
loop precomputed by `DenoiserStep`), each env's observation history and chunk queue, the residual
actor's mean and the action de-normalization. Per control step, for N envs at once:

    nobs   = normalize(obs)                               history: the last To normalized obs
    envs with an empty queue get a new chunk               one batched DDIM call (two when some envs
                                                           warm-start from their previous chunk's tail)
    base   = this step's action popped from each queue
    action = unnormalize(clip(base + scale * residual_mean([nobs, base]), -1, 1))   (base alone: unnormalize(base))

which is what `ResidualVecEnv` + the actor's mean (or `ChunkExecutor` for a BC policy) compute in
the library's deterministic run: DDIM with eta = 0 from the policy's fixed initial noise
(`inril.policies.diffusion.fixed_noise`), through the same `ddim_update`. So the module fed the
same observations (and `reset` calls) returns the same actions as the library, bit for bit.

Use: `policy = torch.jit.load("policy.pt"); action = policy(obs)`; after env i's episode ends call
`policy.reset(torch.tensor([i]))` before its next observation. A call with a new batch size starts
every env afresh. The module runs on CPU (the UNet is traced there, with its device fixed in the
trace).
"""

# No `from __future__ import annotations`: TorchScript must see the real annotation objects.
import copy
import warnings
from typing import Optional

import torch
from torch import Tensor, nn

from inril.export.ddim import DenoiserStep
from inril.export.deployable import Deployable
from inril.policies.diffusion import DiffusionPolicy, fixed_noise
from inril.policies.normalizer import MinMaxNormalizer


class FrozenNormalizer(nn.Module):
    """A MinMaxNormalizer's affine map as plain buffers (MinMaxNormalizer itself reads a module-level
    float, which TorchScript rejects); same ops, so bitwise the same results."""

    def __init__(self, normalizer: MinMaxNormalizer):
        super().__init__()
        center, half_span = normalizer._scale()
        self.register_buffer("center", center.detach().clone())
        self.register_buffer("half_span", half_span.detach().clone())
        self.register_buffer("clip", normalizer.clip.detach().clone())

    def normalize(self, x: Tensor) -> Tensor:
        """As MinMaxNormalizer.normalize: raw (..., dim) -> [-1, 1], clamped to [-clip, clip]."""
        return torch.clamp((x - self.center) / self.half_span, -self.clip, self.clip)

    def unnormalize(self, y: Tensor) -> Tensor:
        """As MinMaxNormalizer.unnormalize: normalized (..., dim) -> raw units."""
        return y * self.half_span + self.center


class DeployedPolicy(nn.Module):
    """See the module docstring; `residual_mean` None deploys the base alone."""

    def __init__(self, base: DiffusionPolicy, residual_mean: Optional[nn.Module], residual_scale: float,
                 num_inference_steps: int, warm_start: bool):
        super().__init__()
        cfg = base.cfg
        tables = base.ddim_tables(num_inference_steps)
        self.obs_horizon, self.pred_horizon, self.action_horizon = cfg.obs_horizon, cfg.pred_horizon, cfg.action_horizon
        self.obs_dim, self.action_dim = cfg.obs_dim, cfg.action_dim
        self.num_steps, self.warm_start = tables.num_steps, warm_start
        self.warm_start_index = tables.warm_start_index
        self.residual_scale = residual_scale
        self.obs_normalizer = FrozenNormalizer(base.obs_normalizer)
        self.action_normalizer = FrozenNormalizer(base.action_normalizer)
        example = (torch.zeros(2, cfg.pred_horizon, cfg.action_dim), torch.zeros(2, dtype=torch.long),
                   torch.zeros(2, cfg.obs_horizon * cfg.obs_dim))
        with warnings.catch_warnings():
            # The trace is exact here: the chunk length (the only Python-level branch) is fixed, and the
            # timestep enters as a traced tensor (torch.as_tensor passes it through).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            unet = torch.jit.trace(copy.deepcopy(base.model).eval(), example)
        self.denoise = DenoiserStep(unet, tables, cfg.prediction_type)
        self.residual = residual_mean
        self.register_buffer("step_ids", torch.arange(tables.num_steps))
        self.register_buffer("warm_sqrt_alpha", tables.sqrt_alpha[self.warm_start_index].clone())
        self.register_buffer("warm_sqrt_one_minus_alpha", tables.sqrt_one_minus_alpha[self.warm_start_index].clone())
        self.register_buffer("initial_noise", fixed_noise(cfg.pred_horizon, cfg.action_dim))
        self._allocate(0)
        self.requires_grad_(False)

    def _allocate(self, num_envs: int) -> None:
        self.obs_history = torch.zeros(num_envs, self.obs_horizon, self.obs_dim)
        self.chunks = torch.zeros(num_envs, self.pred_horizon, self.action_dim)
        self.cursor = torch.full([num_envs], self.action_horizon, dtype=torch.long)  # action_horizon: empty
        self.has_plan = torch.zeros(num_envs, dtype=torch.bool)  # the chunk may seed a warm start
        self.fresh = torch.ones(num_envs, dtype=torch.bool)  # the next obs fills the whole history

    @torch.jit.export
    def reset(self, env_ids: Optional[Tensor] = None) -> None:
        """Forget the history and queued actions of `env_ids` (all envs when None)."""
        if env_ids is None:
            self.cursor.fill_(self.action_horizon)
            self.has_plan.fill_(False)
            self.fresh.fill_(True)
        else:
            self.cursor[env_ids] = self.action_horizon
            self.has_plan[env_ids] = False
            self.fresh[env_ids] = True

    def _sample(self, nobs_history: Tensor, init: Optional[Tensor]) -> Tensor:
        batch = nobs_history.shape[0]
        cond = nobs_history.reshape(batch, -1)
        x = self.initial_noise.expand(batch, -1, -1)
        start = 0
        if init is not None:
            x = self.warm_sqrt_alpha * init + self.warm_sqrt_one_minus_alpha * x
            start = self.warm_start_index
        for k in range(start, self.num_steps):
            x = self.denoise(x, cond, self.step_ids[k])
        return x.clamp(-1.0, 1.0)

    def _refill(self, env_ids: Tensor) -> None:
        warm = self.has_plan[env_ids] if self.warm_start else torch.zeros_like(env_ids, dtype=torch.bool)
        cold_ids, warm_ids = env_ids[~warm], env_ids[warm]
        # The previous chunk's unexecuted tail, padded by repeating its last action.
        previous = self.chunks[warm_ids]
        tail = torch.cat([previous[:, self.action_horizon:],
                          previous[:, -1:].expand(-1, self.action_horizon, -1)], dim=1)
        if cold_ids.numel() > 0:
            self.chunks[cold_ids] = self._sample(self.obs_history[cold_ids], None)
        if warm_ids.numel() > 0:
            self.chunks[warm_ids] = self._sample(self.obs_history[warm_ids], tail)
        self.cursor[env_ids] = 0
        self.has_plan[env_ids] = True

    def forward(self, obs: Tensor) -> Tensor:
        """Raw observations (N, obs_dim) -> raw actions (N, action_dim) for this control step."""
        num_envs = obs.shape[0]
        if num_envs != self.cursor.shape[0]:
            self._allocate(num_envs)
        nobs = self.obs_normalizer.normalize(obs)
        shifted = torch.cat([self.obs_history[:, 1:], nobs.unsqueeze(1)], dim=1)
        filled = nobs.unsqueeze(1).expand(-1, self.obs_horizon, -1)
        self.obs_history = torch.where(self.fresh[:, None, None], filled, shifted)
        self.fresh.fill_(False)
        empty = (self.cursor >= self.action_horizon).nonzero().squeeze(1)
        if empty.numel() > 0:
            self._refill(empty)
        base = self.chunks[torch.arange(num_envs), self.cursor]
        self.cursor += 1
        action = base
        residual = self.residual
        if residual is not None:
            action = torch.clamp(base + self.residual_scale * residual(torch.cat([nobs, base], dim=-1)), -1.0, 1.0)
        return self.action_normalizer.unnormalize(action)


def script_policy(deployable: Deployable, num_inference_steps: int | None = None) -> torch.jit.ScriptModule:
    """The scripted `DeployedPolicy` of a deployable (by default with its own DDIM step count)."""
    if not isinstance(deployable.base, DiffusionPolicy):
        raise ValueError(f"export needs a diffusion base policy, got {type(deployable.base).__name__}")
    residual_mean = None if deployable.actor is None else deployable.actor.as_jit().eval()
    module = DeployedPolicy(
        deployable.base, residual_mean, 0.0 if deployable.residual is None else deployable.residual.scale,
        deployable.num_inference_steps if num_inference_steps is None else num_inference_steps,
        deployable.warm_start,
    )
    return torch.jit.script(module.eval())
