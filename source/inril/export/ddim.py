"""DDIM (eta = 0) with the schedule precomputed as buffers, so TorchScript and ONNX can run it.

diffusers' schedulers are Python objects that cannot be scripted or exported. `DDIMTables` reads
one step count's grid from the policy's own DDIMScheduler and evaluates, with the very tensor ops
diffusers' `DDIMScheduler.step` uses, every coefficient that step would compute; `DenoiserStep`
is then one UNet call plus the update

    x0     = clamp((x - sqrt(1 - a_t) * eps) / sqrt(a_t), -r, r)          (epsilon prediction, clip_sample)
    x_prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps                   (eta = 0: no noise term)

with a_t = alphas_cumprod[t], a_prev = alphas_cumprod[t - T // K] (1 past the last step) and r
the scheduler's clip_sample_range. A warm start noises the initial chunk to the grid point
`timesteps[warm_start_index]` as diffusers' `add_noise` does and runs the remaining steps only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from inril.policies.diffusion import DiffusionPolicy


@dataclass(frozen=True)
class DDIMTables:
    timesteps: Tensor  # (K,) long: the train timesteps visited, in order
    sqrt_alpha: Tensor  # (K,) sqrt(a_t)
    sqrt_one_minus_alpha: Tensor  # (K,) sqrt(1 - a_t)
    sqrt_alpha_prev: Tensor  # (K,) sqrt(a_prev)
    sqrt_one_minus_alpha_prev: Tensor  # (K,) sqrt(1 - a_prev)
    clip_sample_range: float
    warm_start_index: int  # first grid index a warm start runs (the grid point at or below warm_start_timestep)
    warm_sqrt_alpha: Tensor  # () add_noise coefficients at timesteps[warm_start_index]
    warm_sqrt_one_minus_alpha: Tensor

    @classmethod
    def from_policy(cls, policy: DiffusionPolicy, num_inference_steps: int) -> DDIMTables:
        scheduler = policy.inference_scheduler(num_inference_steps)
        config = scheduler.config
        if config.prediction_type != "epsilon" or config.thresholding or not config.clip_sample:
            raise ValueError("only epsilon-prediction DDIM with clip_sample (and no thresholding) can be exported")
        grid = scheduler.timesteps.to(torch.long)
        stride = config.num_train_timesteps // num_inference_steps
        alphas = scheduler.alphas_cumprod
        alpha_t = [alphas[t] for t in grid.tolist()]
        alpha_prev = [alphas[t - stride] if t - stride >= 0 else scheduler.final_alpha_cumprod for t in grid.tolist()]
        warm = policy.denoising_timesteps(num_inference_steps, warm_start=True)
        warm_index = len(grid) - len(warm)
        return cls(
            timesteps=grid,
            # `x ** 0.5` on float32 0-d tensors, exactly as DDIMScheduler.step and add_noise evaluate them.
            sqrt_alpha=torch.stack([a**0.5 for a in alpha_t]),
            sqrt_one_minus_alpha=torch.stack([(1 - a) ** 0.5 for a in alpha_t]),
            sqrt_alpha_prev=torch.stack([a**0.5 for a in alpha_prev]),
            sqrt_one_minus_alpha_prev=torch.stack([(1 - a) ** 0.5 for a in alpha_prev]),
            clip_sample_range=float(config.clip_sample_range),
            warm_start_index=warm_index,
            warm_sqrt_alpha=alphas[grid[warm_index]] ** 0.5,
            warm_sqrt_one_minus_alpha=(1 - alphas[grid[warm_index]]) ** 0.5,
        )

    @property
    def num_steps(self) -> int:
        return len(self.timesteps)

    def as_dict(self) -> dict:
        """Plain lists, for metadata.json (the ONNX loop needs them)."""
        return {
            "timesteps": self.timesteps.tolist(),
            "sqrt_alpha": self.sqrt_alpha.tolist(),
            "sqrt_one_minus_alpha": self.sqrt_one_minus_alpha.tolist(),
            "sqrt_alpha_prev": self.sqrt_alpha_prev.tolist(),
            "sqrt_one_minus_alpha_prev": self.sqrt_one_minus_alpha_prev.tolist(),
            "clip_sample_range": self.clip_sample_range,
            "warm_start_index": self.warm_start_index,
            "warm_sqrt_alpha": self.warm_sqrt_alpha.item(),
            "warm_sqrt_one_minus_alpha": self.warm_sqrt_one_minus_alpha.item(),
        }


class DenoiserStep(nn.Module):
    """One DDIM step: (x_t (B, Tp, A), obs_cond (B, To * O), grid index k (0-d long)) -> x_prev.

    `denoiser` is the policy's UNet eps(x, t (B,), obs_cond), eager (for ONNX) or traced (for
    TorchScript)."""

    def __init__(self, denoiser: nn.Module, tables: DDIMTables):
        super().__init__()
        self.denoiser = denoiser
        self.clip_sample_range = tables.clip_sample_range
        self.register_buffer("timesteps", tables.timesteps.clone())
        self.register_buffer("sqrt_alpha", tables.sqrt_alpha.clone())
        self.register_buffer("sqrt_one_minus_alpha", tables.sqrt_one_minus_alpha.clone())
        self.register_buffer("sqrt_alpha_prev", tables.sqrt_alpha_prev.clone())
        self.register_buffer("sqrt_one_minus_alpha_prev", tables.sqrt_one_minus_alpha_prev.clone())

    def forward(self, sample: Tensor, obs_cond: Tensor, step: Tensor) -> Tensor:
        t = self.timesteps[step].expand(sample.shape[0])
        eps = self.denoiser(sample, t, obs_cond)
        x0 = (sample - self.sqrt_one_minus_alpha[step] * eps) / self.sqrt_alpha[step]
        x0 = x0.clamp(-self.clip_sample_range, self.clip_sample_range)
        return self.sqrt_alpha_prev[step] * x0 + self.sqrt_one_minus_alpha_prev[step] * eps
