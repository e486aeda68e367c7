"""Diffusion Policy: a 1-D temporal conditional UNet denoising action chunks (epsilon prediction).

Training uses diffusers' DDPMScheduler, inference a DDIMScheduler with the same betas (cosine
`squaredcos_cap_v2`, `clip_sample=True`), as ResiP's base policy does. Sampling is batched over all
envs (one UNet forward per denoising step) and can be warm-started from the unexecuted tail of the
previous chunk.

Scheduler state: `DDIMScheduler.set_timesteps` mutates the scheduler and `step` reads that state,
so each step count gets its own DDIM scheduler, configured once when first used and only read
afterwards. Training never touches them, so BC steps interleaved with rollouts cannot change what
sampling does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler
from torch import Tensor, nn

from inril.policies.base import Policy, check_horizons, randn
from inril.policies.normalizer import MinMaxNormalizer

BETA_SCHEDULE = "squaredcos_cap_v2"  # cosine schedule (Nichol & Dhariwal), as in ResiP and Diffusion Policy


@dataclass
class DiffusionPolicyConfig:
    obs_dim: int
    action_dim: int
    obs_horizon: int = 1
    pred_horizon: int = 32
    action_horizon: int = 8
    # UNet: channels per resolution level; the chunk is halved in time between consecutive levels.
    down_dims: list[int] = field(default_factory=lambda: [256, 512, 1024])
    kernel_size: int = 5
    n_groups: int = 8
    diffusion_step_embed_dim: int = 256
    num_train_timesteps: int = 100
    num_inference_steps: int = 16  # ResiP: 16 for evaluation, 4 during RL (pass num_inference_steps to sample)
    eta: float = 0.0  # DDIM stochasticity for non-deterministic sampling; 0 is plain DDIM
    warm_start_timestep: int = 50  # noise level a warm-start chunk is diffused to, in train timesteps

    def __post_init__(self) -> None:
        check_horizons(self)
        self.down_dims = list(self.down_dims)
        if not self.down_dims or any(d < 1 for d in self.down_dims):
            raise ValueError(f"down_dims must be a non-empty list of positive ints, got {self.down_dims}")
        if self.n_groups < 1 or any(d % self.n_groups for d in self.down_dims):
            raise ValueError(
                f"every entry of down_dims {self.down_dims} must be divisible by n_groups={self.n_groups}"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd and >= 1 (so convolutions keep the length), got {self.kernel_size}"
            )
        if self.diffusion_step_embed_dim < 2 or self.diffusion_step_embed_dim % 2:
            raise ValueError(f"diffusion_step_embed_dim must be even and >= 2, got {self.diffusion_step_embed_dim}")
        if self.num_train_timesteps < 1:
            raise ValueError(f"num_train_timesteps must be >= 1, got {self.num_train_timesteps}")
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps must be in [1, num_train_timesteps={self.num_train_timesteps}], "
                f"got {self.num_inference_steps}"
            )
        if not 0 <= self.warm_start_timestep < self.num_train_timesteps:
            raise ValueError(
                f"warm_start_timestep must be in [0, {self.num_train_timesteps - 1}], got {self.warm_start_timestep}"
            )
        if self.eta < 0:
            raise ValueError(f"eta must be >= 0, got {self.eta}")


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sin/cos features of the (integer) diffusion step."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / half), persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        angles = t.float()[:, None] * self.freqs[None]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def conv_block(in_channels: int, out_channels: int, kernel_size: int, n_groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.GroupNorm(n_groups, out_channels),
        nn.Mish(),
    )


class FiLMResidualBlock(nn.Module):
    """Two conv blocks; the conditioning vector scales and shifts the channels between them."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.block1 = conv_block(in_channels, out_channels, kernel_size, n_groups)
        self.block2 = conv_block(out_channels, out_channels, kernel_size, n_groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * out_channels))
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        # (1 + scale) so that a freshly initialised FiLM layer is close to the identity.
        h = self.block1(x) * (1 + scale) + bias
        return self.block2(h) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """Denoiser eps(x_t, t, obs) over action chunks x_t of shape (B, T, action_dim).

    Every residual block is FiLM-conditioned on [step embedding ‖ flattened normalized obs history].
    Level i has down_dims[i] channels; between levels the time axis is halved (strided conv) on the
    way down and doubled (transposed conv) on the way up, where the matching down level's features
    are concatenated. Chunk lengths that are not a multiple of 2**(levels - 1) are padded internally
    by repeating the last action and cropped back, so any pred_horizon works.
    """

    def __init__(
        self,
        action_dim: int,
        cond_dim: int,
        down_dims: list[int],
        kernel_size: int,
        n_groups: int,
        step_embed_dim: int,
    ):
        super().__init__()
        self.time_multiple = 2 ** (len(down_dims) - 1)
        self.step_encoder = nn.Sequential(
            SinusoidalEmbedding(step_embed_dim),
            nn.Linear(step_embed_dim, 4 * step_embed_dim),
            nn.Mish(),
            nn.Linear(4 * step_embed_dim, step_embed_dim),
        )
        cond_dim = cond_dim + step_embed_dim

        def res(cin: int, cout: int) -> FiLMResidualBlock:
            return FiLMResidualBlock(cin, cout, cond_dim, kernel_size, n_groups)

        in_dims = [action_dim, *down_dims[:-1]]
        self.down = nn.ModuleList(
            nn.ModuleList([res(cin, cout), res(cout, cout)]) for cin, cout in zip(in_dims, down_dims)
        )
        self.downsample = nn.ModuleList(nn.Conv1d(d, d, 3, stride=2, padding=1) for d in down_dims[:-1])
        self.mid = nn.ModuleList([res(down_dims[-1], down_dims[-1]), res(down_dims[-1], down_dims[-1])])
        # up[i] brings level i+1 back to level i's resolution and channels.
        self.upsample = nn.ModuleList(nn.ConvTranspose1d(d, d, 4, stride=2, padding=1) for d in down_dims[1:])
        self.up = nn.ModuleList(
            nn.ModuleList([res(down_dims[i + 1] + down_dims[i], down_dims[i]), res(down_dims[i], down_dims[i])])
            for i in range(len(down_dims) - 1)
        )
        self.head = nn.Sequential(
            conv_block(down_dims[0], down_dims[0], kernel_size, n_groups),
            nn.Conv1d(down_dims[0], action_dim, 1),
        )

    def forward(self, x: Tensor, timestep: Tensor | int, obs_cond: Tensor) -> Tensor:
        """x (B, T, action_dim), timestep scalar or (B,), obs_cond (B, cond_dim) -> eps (B, T, action_dim)."""
        batch, length = x.shape[0], x.shape[1]
        t = torch.as_tensor(timestep, device=x.device).expand(batch)
        cond = torch.cat([self.step_encoder(t), obs_cond], dim=-1)

        h = x.transpose(1, 2)
        padded = -(-length // self.time_multiple) * self.time_multiple
        if padded != length:
            h = F.pad(h, (0, padded - length), mode="replicate")

        skips = []
        for level, (block1, block2) in enumerate(self.down):
            h = block2(block1(h, cond), cond)
            if level < len(self.downsample):
                skips.append(h)
                h = self.downsample[level](h)
        for block in self.mid:
            h = block(h, cond)
        for level in reversed(range(len(self.up))):
            h = torch.cat([self.upsample[level](h), skips[level]], dim=1)
            block1, block2 = self.up[level]
            h = block2(block1(h, cond), cond)
        return self.head(h)[:, :, :length].transpose(1, 2)


def warm_start_from_tail(prev_chunk: Tensor, num_executed: int) -> Tensor:
    """The initial chunk for the next plan: prev_chunk's unexecuted tail moved to the front, padded
    by repeating prev_chunk's last action. prev_chunk (B, Tp, A) -> (B, Tp, A); 0 <= num_executed <= Tp."""
    horizon = prev_chunk.shape[1]
    if not 0 <= num_executed <= horizon:
        raise ValueError(f"num_executed must be in [0, {horizon}], got {num_executed}")
    pad = prev_chunk[:, -1:].expand(-1, num_executed, -1)
    return torch.cat([prev_chunk[:, num_executed:], pad], dim=1)


class DiffusionPolicy(Policy):
    supports_warm_start = True

    def __init__(
        self, cfg: DiffusionPolicyConfig, obs_normalizer: MinMaxNormalizer, action_normalizer: MinMaxNormalizer
    ):
        super().__init__(cfg, obs_normalizer, action_normalizer)
        self.model = ConditionalUnet1D(
            action_dim=cfg.action_dim,
            cond_dim=cfg.obs_horizon * cfg.obs_dim,
            down_dims=cfg.down_dims,
            kernel_size=cfg.kernel_size,
            n_groups=cfg.n_groups,
            step_embed_dim=cfg.diffusion_step_embed_dim,
        )
        self.train_scheduler = DDPMScheduler(**self._scheduler_kwargs())
        self._inference_schedulers: dict[int, DDIMScheduler] = {}

    def _scheduler_kwargs(self) -> dict:
        return dict(
            num_train_timesteps=self.cfg.num_train_timesteps,
            beta_schedule=BETA_SCHEDULE,
            clip_sample=True,
            prediction_type="epsilon",
        )

    def inference_scheduler(self, num_inference_steps: int) -> DDIMScheduler:
        """The DDIM scheduler for this step count, created and configured once, then only read."""
        if not 1 <= num_inference_steps <= self.cfg.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps must be in [1, {self.cfg.num_train_timesteps}], got {num_inference_steps}"
            )
        if num_inference_steps not in self._inference_schedulers:
            # set_alpha_to_one: the last step lands exactly on the predicted clean chunk.
            scheduler = DDIMScheduler(**self._scheduler_kwargs(), set_alpha_to_one=True, steps_offset=0)
            scheduler.set_timesteps(num_inference_steps)
            self._inference_schedulers[num_inference_steps] = scheduler
        return self._inference_schedulers[num_inference_steps]

    def denoising_timesteps(self, num_inference_steps: int | None = None, warm_start: bool = False) -> list[int]:
        """The train timesteps DDIM visits, in order.

        Cold start: the full DDIM grid for the step count, e.g. 10 steps of 100 -> 90, 80, ..., 0.
        Warm start: the tail of that same grid at or below `warm_start_timestep` (50 -> 50, 40, ..., 0);
        the initial chunk is noised to the first of them. Staying on the grid keeps every DDIM
        update between consecutive grid points, which is what diffusers' `step` assumes; a
        warm_start_timestep between grid points is effectively rounded down to the next one.
        """
        steps = self.cfg.num_inference_steps if num_inference_steps is None else num_inference_steps
        grid = self.inference_scheduler(steps).timesteps.tolist()
        if not warm_start:
            return grid
        return [t for t in grid if t <= self.cfg.warm_start_timestep]

    def compute_loss(self, nobs: Tensor, nactions: Tensor) -> Tensor:
        """Epsilon-prediction MSE at uniformly drawn train timesteps (global RNG)."""
        cond = self.flat_obs(nobs)
        self.check_chunk(nactions, cond.shape[0], "nactions")
        noise = torch.randn_like(nactions)
        timesteps = torch.randint(0, self.cfg.num_train_timesteps, (cond.shape[0],), device=nactions.device)
        noisy = self.train_scheduler.add_noise(nactions, noise, timesteps)
        return F.mse_loss(self.model(noisy, timesteps, cond), noise)

    @torch.no_grad()
    def sample(
        self,
        nobs: Tensor,
        *,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
        init: Tensor | None = None,
        num_inference_steps: int | None = None,
    ) -> Tensor:
        """DDIM-sample normalized chunks (B, Tp, A), clamped to [-1, 1].

        All randomness (initial noise, and the DDIM noise when cfg.eta > 0) comes from `generator`,
        so the same generator state and inputs give bit-identical chunks. `deterministic=True`
        forces eta = 0: the chunk is then a deterministic function of the initial noise (still
        drawn from `generator`), i.e. DDIM's ODE sampler. `init` (normalized, (B, Tp, A), e.g. from
        `warm_start_from_tail`) is noised to the warm-start timestep and only the remaining steps
        run (see `denoising_timesteps`). `num_inference_steps` overrides cfg.num_inference_steps.
        """
        cond = self.flat_obs(nobs)
        batch = cond.shape[0]
        steps = self.cfg.num_inference_steps if num_inference_steps is None else num_inference_steps
        scheduler = self.inference_scheduler(steps)
        timesteps = self.denoising_timesteps(steps, warm_start=init is not None)
        shape = (batch, self.cfg.pred_horizon, self.cfg.action_dim)
        x = randn(shape, generator, cond.device).to(cond.dtype)
        if init is not None:
            self.check_chunk(init, batch, "init")
            start = torch.full((batch,), timesteps[0], dtype=torch.long, device=cond.device)
            x = scheduler.add_noise(init.to(cond), x, start)
        eta = 0.0 if deterministic else self.cfg.eta
        for t in timesteps:
            eps = self.model(x, t, cond)
            x = scheduler.step(eps, t, x, eta=eta, generator=generator).prev_sample
        return x.clamp(-1.0, 1.0)
