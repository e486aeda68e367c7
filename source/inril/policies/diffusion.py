"""Diffusion Policy: a 1-D temporal conditional UNet denoising action chunks.

Training is DDPM (diffusers' DDPMScheduler for the cosine `squaredcos_cap_v2` betas and `add_noise`),
with the denoiser predicting either the noise (`prediction_type="epsilon"`, Diffusion Policy's and
ResiP's choice) or the clean chunk (`"sample"`). Inference is DDIM over a *trailing* grid of the
train timesteps (`ddim_grid`): the first denoising step is always at the last train step T - 1, as
diffusers' `timestep_spacing="trailing"` (Lin et al. 2024, "Common diffusion noise schedules and sample
steps are flawed"), so one step already maps pure noise to a chunk. diffusers' default "leading"
spacing starts at t = 50 for 2 of 100 steps and at t = 0 for one step, where `sample()` returned its
initial noise almost unchanged.

`DDIMTables` holds one step count's grid and coefficients as tensors; `ddim_update` is the update.
The library's sampler, DPPO's chain (inril.algos.gradient_surgery.dppo) and the exported TorchScript and ONNX loops
(inril.export) all run these two, op for op, so they agree bit for bit. Sampling is batched over all
envs (one denoiser forward per step) and can be warm-started from the unexecuted tail of the
previous chunk. `deterministic=True` starts from one fixed noise chunk (`fixed_noise`), so the same
observation always gives the same chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from torch import Tensor, nn

from inril.policies.base import Policy, check_horizons, randn
from inril.policies.denoisers import ConditionalMLP, ConditionalUnet1D
from inril.policies.normalizer import MinMaxNormalizer

BETA_SCHEDULE = "squaredcos_cap_v2"  # cosine schedule (Nichol & Dhariwal), as in ResiP and Diffusion Policy
PREDICTION_TYPES = ("epsilon", "sample")
DENOISERS = ("unet", "mlp")
CLIP_SAMPLE_RANGE = 1.0  # predicted clean chunks are clamped to the normalized action range, as clip_sample does
FIXED_NOISE_SEED = 0  # seed of the initial noise of deterministic sampling (`fixed_noise`)


@dataclass
class DiffusionPolicyConfig:
    """Dims (obs_dim O, action_dim A), horizons (To, Tp, Ta; defaults ResiP's 1 / 32 / 8), the denoiser and
    its size (UNet widths [256, 512, 1024], kernel 5, 8 groups: Diffusion Policy's), the DDPM schedule (100
    train steps, Diffusion Policy's) and the DDIM sampling. Raises ValueError on an inconsistent config."""
    obs_dim: int
    action_dim: int
    obs_horizon: int = 1
    pred_horizon: int = 32
    action_horizon: int = 8
    # The denoiser: "unet" (Diffusion Policy's / ResiP's 1-D temporal UNet) or "mlp" (an MLP over the
    # flattened chunk, the step embedding and the obs history, as DPPO's furniture configs use).
    denoiser: str = "unet"
    # UNet: channels per resolution level; the chunk is halved in time between consecutive levels.
    down_dims: list[int] = field(default_factory=lambda: [256, 512, 1024])
    mlp_dims: list[int] = field(default_factory=lambda: [512, 512, 512])  # MLP denoiser: hidden widths
    kernel_size: int = 5
    n_groups: int = 8
    diffusion_step_embed_dim: int = 256
    num_train_timesteps: int = 100
    num_inference_steps: int = 16  # ResiP: 16 for evaluation, 4 during RL (pass num_inference_steps to sample)
    # What the denoiser predicts: "epsilon" (the noise; Diffusion Policy, ResiP, DPPO) or "sample" (the clean
    # chunk). At the capped cosine schedule's last step sqrt(alpha_bar) is 5e-4, so an epsilon model's
    # clean-chunk estimate there multiplies its error by 2000: few-step sampling needs "sample".
    prediction_type: str = "epsilon"
    eta: float = 0.0  # DDIM stochasticity for non-deterministic sampling; 0 is plain DDIM
    warm_start_timestep: int = 50  # noise level a warm-start chunk is diffused to, in train timesteps

    def __post_init__(self) -> None:
        check_horizons(self)
        self.down_dims, self.mlp_dims = list(self.down_dims), list(self.mlp_dims)
        if self.denoiser not in DENOISERS:
            raise ValueError(f"denoiser must be one of {', '.join(DENOISERS)}, got {self.denoiser!r}")
        if not self.mlp_dims or any(d < 1 for d in self.mlp_dims):
            raise ValueError(f"mlp_dims must be a non-empty list of positive ints, got {self.mlp_dims}")
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
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}, got {self.prediction_type!r}"
            )


def warm_start_from_tail(prev_chunk: Tensor, num_executed: int) -> Tensor:
    """The initial chunk for the next plan: prev_chunk's unexecuted tail moved to the front, padded
    by repeating prev_chunk's last action. prev_chunk (B, Tp, A) -> (B, Tp, A); 0 <= num_executed <= Tp."""
    horizon = prev_chunk.shape[1]
    if not 0 <= num_executed <= horizon:
        raise ValueError(f"num_executed must be in [0, {horizon}], got {num_executed}")
    pad = prev_chunk[:, -1:].expand(-1, num_executed, -1)
    return torch.cat([prev_chunk[:, num_executed:], pad], dim=1)


def ddim_grid(num_train_timesteps: int, num_inference_steps: int) -> list[int]:
    """The train timesteps K DDIM steps visit, trailing spacing: T - 1 first, then evenly down.

    t_k = round(T (K - k) / K) - 1 for k = 0 .. K - 1 (round half to even, as numpy), which is diffusers'
    `timestep_spacing="trailing"` grid: 1 step of 100 -> [99], 2 -> [99, 49], 4 -> [99, 74, 49, 24],
    8 -> [99, 87, 74, 61, 49, 37, 24, 11]. The step from the last grid point lands on the clean chunk.
    """
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be in [1, {num_train_timesteps}], got {num_inference_steps}")
    steps = num_inference_steps
    return [round(num_train_timesteps * (steps - k) / steps) - 1 for k in range(steps)]


@dataclass(frozen=True)
class DDIMTables:
    """One step count's DDIM grid and coefficients (float32 tensors of shape (K,) unless noted).

    Step k goes from train timestep t_k to t_{k+1} (to the clean chunk, alpha_bar = 1, after the last):
    a_t = alpha_bar[t_k], a_prev = alpha_bar[t_{k+1}], and sigma the DDIM noise scale at eta = 1,
    sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)). Note diffusers' own DDIM `step` instead takes
    t_k - T // K as the previous timestep, which is off the trailing grid when K does not divide T.
    """

    timesteps: Tensor  # (K,) long
    sqrt_alpha: Tensor
    sqrt_one_minus_alpha: Tensor
    sqrt_alpha_prev: Tensor
    sqrt_one_minus_alpha_prev: Tensor
    alpha_prev: Tensor
    sigma: Tensor
    warm_start_index: int  # first grid index a warm start runs: the first grid point <= warm_start_timestep

    @classmethod
    def build(cls, alphas_cumprod: Tensor, num_inference_steps: int, warm_start_timestep: int) -> DDIMTables:
        """The tables of `num_inference_steps` steps on the trailing grid of the schedule `alphas_cumprod` (T,).
        Raises ValueError unless 1 <= num_inference_steps <= T."""
        grid = ddim_grid(len(alphas_cumprod), num_inference_steps)
        a_t = alphas_cumprod[grid].float()
        a_prev = torch.cat([a_t[1:], torch.ones(1)])
        sigma = ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        below = [k for k, t in enumerate(grid) if t <= warm_start_timestep]
        return cls(
            timesteps=torch.tensor(grid, dtype=torch.long),
            sqrt_alpha=a_t.sqrt(),
            sqrt_one_minus_alpha=(1 - a_t).sqrt(),
            sqrt_alpha_prev=a_prev.sqrt(),
            sqrt_one_minus_alpha_prev=(1 - a_prev).sqrt(),
            alpha_prev=a_prev,
            sigma=sigma,
            # With no grid point at or below it (one step), a warm start runs the whole grid from t_0.
            warm_start_index=below[0] if below else 0,
        )

    @property
    def num_steps(self) -> int:
        """K, the number of DDIM steps of this grid."""
        return len(self.timesteps)

    def noise_to(self, clean: Tensor, noise: Tensor, index: int) -> Tensor:
        """DDPM's forward process to grid point `index`: sqrt(a) clean + sqrt(1 - a) noise."""
        return self.sqrt_alpha[index] * clean + self.sqrt_one_minus_alpha[index] * noise


def ddim_update(
    sample: Tensor,
    model_output: Tensor,
    sqrt_alpha: Tensor,
    sqrt_one_minus_alpha: Tensor,
    sqrt_alpha_prev: Tensor,
    direction_scale: Tensor,
    predicts_epsilon: bool,
    clip_range: float = CLIP_SAMPLE_RANGE,
) -> Tensor:
    """One DDIM step without its noise term: the mean of x_prev.

        x0     = clamp((x - sqrt(1 - a_t) eps) / sqrt(a_t), -r, r)    (epsilon prediction; eps = model output)
        x0     = clamp(model output, -r, r), eps = (x - sqrt(a_t) x0) / sqrt(1 - a_t)    (sample prediction)
        x_prev = sqrt(a_prev) x0 + direction_scale * eps

    r is `clip_range` (1: the normalized action range, as diffusers' clip_sample), direction_scale
    sqrt(1 - a_prev - sigma^2) (sqrt(1 - a_prev) at eta = 0); the caller adds
    sigma * z for stochastic steps. Coefficients are 0-d or broadcastable tensors. TorchScript-compatible:
    the exported loops call this very function.
    """
    if predicts_epsilon:
        eps = model_output
        x0 = ((sample - sqrt_one_minus_alpha * eps) / sqrt_alpha).clamp(-clip_range, clip_range)
    else:
        x0 = model_output.clamp(-clip_range, clip_range)
        eps = (sample - sqrt_alpha * x0) / sqrt_one_minus_alpha
    return sqrt_alpha_prev * x0 + direction_scale * eps


def fixed_noise(pred_horizon: int, action_dim: int) -> Tensor:
    """The initial noise (Tp, A) of deterministic sampling: one standard-normal draw from a generator seeded
    with FIXED_NOISE_SEED, the same for every observation, env and call (broadcast over the batch)."""
    return torch.randn(pred_horizon, action_dim, generator=torch.Generator().manual_seed(FIXED_NOISE_SEED))


class DiffusionPolicy(Policy):
    """Diffusion Policy (Chi et al. 2023) over normalized chunks: DDPM training (`compute_loss`), DDIM sampling
    on a trailing grid (`sample`), optionally warm-started (module docstring). Input nobs (B, To, O), output
    chunks (B, Tp, A) in [-1, 1]; `model` is the denoiser chosen by `cfg.denoiser`."""
    supports_warm_start = True

    def __init__(
        self, cfg: DiffusionPolicyConfig, obs_normalizer: MinMaxNormalizer, action_normalizer: MinMaxNormalizer
    ):
        super().__init__(cfg, obs_normalizer, action_normalizer)
        cond_dim = cfg.obs_horizon * cfg.obs_dim
        if cfg.denoiser == "mlp":
            self.model = ConditionalMLP(cfg.action_dim, cfg.pred_horizon, cond_dim, cfg.mlp_dims,
                                        cfg.diffusion_step_embed_dim)
        else:
            self.model = ConditionalUnet1D(
                action_dim=cfg.action_dim,
                cond_dim=cond_dim,
                down_dims=cfg.down_dims,
                kernel_size=cfg.kernel_size,
                n_groups=cfg.n_groups,
                step_embed_dim=cfg.diffusion_step_embed_dim,
            )
        self.train_scheduler = DDPMScheduler(
            num_train_timesteps=cfg.num_train_timesteps, beta_schedule=BETA_SCHEDULE, clip_sample=True,
            prediction_type=cfg.prediction_type,
        )
        self._ddim_tables: dict[int, DDIMTables] = {}

    def ddim_tables(self, num_inference_steps: int | None = None) -> DDIMTables:
        """The DDIM tables for this step count (default cfg.num_inference_steps), built once, then only read:
        training never touches them, so BC steps interleaved with rollouts cannot change what sampling does."""
        steps = self.cfg.num_inference_steps if num_inference_steps is None else num_inference_steps
        if steps not in self._ddim_tables:
            self._ddim_tables[steps] = DDIMTables.build(
                self.train_scheduler.alphas_cumprod, steps, self.cfg.warm_start_timestep
            )
        return self._ddim_tables[steps]

    def denoising_timesteps(self, num_inference_steps: int | None = None, warm_start: bool = False) -> list[int]:
        """The train timesteps DDIM visits, in order.

        Cold start: the trailing grid for the step count (`ddim_grid`), e.g. 10 steps of 100 -> 99, 89, ..., 9.
        Warm start: the tail of that same grid at or below `warm_start_timestep` (50 -> 49, 39, ..., 9);
        the initial chunk is noised to the first of them. Staying on the grid keeps every DDIM update
        between consecutive grid points; a warm_start_timestep between grid points is effectively rounded
        down to the next one (with a single step, a warm start runs that step from t = T - 1).
        """
        tables = self.ddim_tables(num_inference_steps)
        start = tables.warm_start_index if warm_start else 0
        return tables.timesteps[start:].tolist()

    def compute_loss(self, nobs: Tensor, nactions: Tensor) -> Tensor:
        """DDPM loss at uniformly drawn train timesteps (global RNG): MSE of the predicted noise
        (epsilon prediction) or of the predicted clean chunk (sample prediction)."""
        cond = self.flat_obs(nobs)
        self.check_chunk(nactions, cond.shape[0], "nactions")
        noise = torch.randn_like(nactions)
        timesteps = torch.randint(0, self.cfg.num_train_timesteps, (cond.shape[0],), device=nactions.device)
        noisy = self.train_scheduler.add_noise(nactions, noise, timesteps)
        target = noise if self.cfg.prediction_type == "epsilon" else nactions
        return F.mse_loss(self.model(noisy, timesteps, cond), target)

    def denoise_step(self, model: nn.Module, x: Tensor, k: int, cond: Tensor, tables: DDIMTables,
                     eta: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """DDIM step k of `tables` from x (B, Tp, A) with denoiser `model`; eta > 0 adds eta * sigma_k * z,
        z drawn from `generator`."""
        t = tables.timesteps[k].to(x.device)
        sigma = eta * tables.sigma[k]
        if eta > 0:
            direction = (1 - tables.alpha_prev[k] - sigma**2).clamp(min=0).sqrt()
        else:
            direction = tables.sqrt_one_minus_alpha_prev[k]
        mean = ddim_update(
            x, model(x, t, cond), tables.sqrt_alpha[k], tables.sqrt_one_minus_alpha[k], tables.sqrt_alpha_prev[k],
            direction, self.cfg.prediction_type == "epsilon",
        )
        if eta > 0:
            mean = mean + sigma * randn(tuple(x.shape), generator, x.device).to(x.dtype)
        return mean

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

        Stochastic (default): the initial noise, and the DDIM noise when cfg.eta > 0, come from
        `generator`, so the same generator state and inputs give bit-identical chunks.
        `deterministic=True`: eta = 0 from the fixed initial noise `fixed_noise` (the generator is not
        used), so the chunk is a function of the observation (and `init`) alone. `init` (normalized,
        (B, Tp, A), e.g. from `warm_start_from_tail`) is noised to the warm-start grid point and only the
        remaining steps run (see `denoising_timesteps`). `num_inference_steps` overrides
        cfg.num_inference_steps.
        """
        cond = self.flat_obs(nobs)
        batch = cond.shape[0]
        tables = self.ddim_tables(num_inference_steps)
        shape = (batch, self.cfg.pred_horizon, self.cfg.action_dim)
        if deterministic:
            x = fixed_noise(self.cfg.pred_horizon, self.cfg.action_dim).to(cond).expand(shape)
        else:
            x = randn(shape, generator, cond.device).to(cond.dtype)
        start = 0
        if init is not None:
            self.check_chunk(init, batch, "init")
            start = tables.warm_start_index
            x = tables.noise_to(init.to(cond), x, start)
        eta = 0.0 if deterministic else self.cfg.eta
        for k in range(start, tables.num_steps):
            x = self.denoise_step(self.model, x, k, cond, tables, eta, generator)
        return x.clamp(-1.0, 1.0)
