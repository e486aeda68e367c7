"""DPPO (Ren et al. 2024): PPO on the last K denoising steps of a diffusion policy, as IN-RIL's
full-network RL algorithm. It runs on `FullNetworkPPO` (inril.algos.gradient_surgery.full_network_ppo), so IL updates and
gradient surgery plug in exactly as for the Gaussian baseline.

The denoising chain as an MDP. Sampling a chunk runs N DDIM steps from Gaussian noise x_N. The
last K of them (`ft_denoising_steps`) use a fine-tuned copy of the denoiser and are each a Gaussian
policy step:

    x0_hat   = clip((x_t - sqrt(1 - a_t) eps(x_t, t, obs)) / sqrt(a_t), -x0_clip, x0_clip)   (or the
               denoiser's clean-chunk output, clipped, for a sample-prediction base; eps then follows from it)
    mean_t   = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma_t^2) eps
    x_prev   = mean_t + max(sigma_t, min_sampling_std) * clip(z, -noise_clip, noise_clip)
    log p    = log N(x_prev; mean_t, max(sigma_t, min_logprob_std)^2), clamped per element to [-5, 2]

with a_t the cumulative alpha products of the base's (trailing) DDIM grid (`DDIMTables`, the same
update `ddim_update` as the base's sampler) and sigma_t = eta * DDIM's sigma. The
first N - K steps use the frozen pre-trained denoiser (DPPO's `actor` vs `actor_ft`). The std floors
give exploration (the last DDIM step has sigma = 0) and keep likelihood ratios bounded. PPO's
advantage of a decision is shared by its K steps with the denoising discount gamma_denoising^(K-1-k)
(k = K - 1 is the step that outputs the chunk), and the clip coefficient grows exponentially from
`clip_base` on the noisiest step to `clip` on the last, as in DPPO. DPPO clips far tighter than PPO's 0.2
(0.001 on every step in its furniture configs, 0.01 for state-based gym tasks) because a ratio here is a
geometric mean over the chunk's elements (`chunk_log_prob`): with 0.2, one laptop-preset iteration at lr 1e-5
moved PegInHole-Low's deterministic chunk by 0.033 (normalized) and success fell from 44% to 17% of 64
episodes; with 0.001 it moved by 0.005 and success stayed (47%).

With eta = 0 (our default) the deterministic chain (from the base's `fixed_noise`) is exactly the
base's deterministic DDIM sampler, so before
fine-tuning the evaluated DPPO policy is the BC base; exploration then comes from the std floor.
DPPO's furniture configs use eta = 1 with N = K = 5 DDIM steps and a sampling floor of 0.04.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Normal

from inril.algos.gradient_surgery.actors import ChunkActor, chunk_log_prob
from inril.policies.base import randn
from inril.policies.diffusion import DiffusionPolicy, ddim_update, fixed_noise

CLIP_GROWTH_RATE = 3.0  # DPPO's exponential rate of the clip coefficient over the denoising steps


@dataclass
class DPPOConfig:
    """DPPO's chain (module docstring): N DDIM steps of which the last K are fine-tuned, DDIM's `eta`, the
    std floors of sampling and of the log-probability (normalized action units), the denoising discount,
    the PPO ratio clip on the last step (`clip`, DPPO's clip_ploss_coef) and on the noisiest (`clip_base`,
    clip_ploss_coef_base; it grows in between), and the clips of the sampling noise and of x0_hat. The clips
    are DPPO's furniture values (cfg/furniture/finetune/*/ft_ppo_diffusion_mlp.yaml); they replace the
    full-network PPO clip (`full_network.clip_param`, the Gaussian actor's). DPPO's furniture configs use eta 1
    and a sampling floor 0.04; the defaults here (eta 0, floors 0.1) keep the deterministic policy equal to the
    base before fine-tuning. Raises ValueError on an inconsistent config."""
    num_inference_steps: int = 5  # DDIM steps per chunk (N)
    ft_denoising_steps: int = 5  # the last K steps are fine-tuned and form the MDP
    eta: float = 0.0
    min_sampling_std: float = 0.1
    min_logprob_std: float = 0.1
    gamma_denoising: float = 0.9
    clip: float = 0.001  # PPO ratio clip of the last denoising step (DPPO's clip_ploss_coef)
    clip_base: float = 0.001  # ... of the noisiest fine-tuned step (clip_ploss_coef_base)
    noise_clip: float = 3.0  # DPPO's randn_clip_value
    x0_clip: float = 1.0

    def __post_init__(self):
        if not 1 <= self.ft_denoising_steps <= self.num_inference_steps:
            raise ValueError(f"dppo needs 1 <= ft_denoising_steps <= num_inference_steps, got "
                             f"{self.ft_denoising_steps} and {self.num_inference_steps}")
        if self.eta < 0 or self.min_sampling_std <= 0 or self.min_logprob_std <= 0:
            raise ValueError("dppo eta must be >= 0 and the std floors > 0 (a zero std has no log-probability)")
        if not 0 < self.gamma_denoising <= 1:
            raise ValueError(f"dppo gamma_denoising must be in (0, 1], got {self.gamma_denoising}")
        if not 0 < self.clip_base <= self.clip:
            raise ValueError(f"dppo needs 0 < clip_base <= clip, got {self.clip_base} and {self.clip}")
        if self.noise_clip <= 0 or self.x0_clip <= 0:
            raise ValueError("dppo noise_clip and x0_clip must be > 0")


class DPPOPolicy(DiffusionPolicy):
    """A diffusion policy whose sampler is DPPO's chain: `model` is the fine-tuned denoiser (the only
    trainable part; BC losses train it too), `frozen_model` the pre-trained one for the first N - K
    steps. Its deterministic `sample` (no noise) is the policy that gets evaluated."""

    supports_warm_start = False  # DPPO's chain always starts from noise

    def __init__(self, base: DiffusionPolicy, cfg: DPPOConfig):
        super().__init__(base.cfg, copy.deepcopy(base.obs_normalizer), copy.deepcopy(base.action_normalizer))
        self.load_state_dict(base.state_dict())
        self.to(base.obs_normalizer.low.device)
        self.frozen_model = copy.deepcopy(base.model).requires_grad_(False)
        self.dppo = cfg
        tables = self.ddim_tables(cfg.num_inference_steps)
        sigma = cfg.eta * tables.sigma
        device = self.obs_normalizer.low.device
        for name, value in (("timesteps", tables.timesteps), ("sqrt_alpha", tables.sqrt_alpha),
                            ("sqrt_one_minus_alpha", tables.sqrt_one_minus_alpha),
                            ("sqrt_alpha_prev", tables.sqrt_alpha_prev),
                            ("direction", (1 - tables.alpha_prev - sigma.square()).clamp(min=0).sqrt()),
                            ("sigma", sigma)):
            self.register_buffer(f"ddim_{name}", value.to(device), persistent=False)

    @property
    def first_ft_step(self) -> int:
        """Index (0-based, in 0..N-1) of the first fine-tuned DDIM step: N - K."""
        return self.dppo.num_inference_steps - self.dppo.ft_denoising_steps

    def _mean(self, model: torch.nn.Module, x: Tensor, k: Tensor, cond: Tensor) -> Tensor:
        """DDIM's mean for step indices k (B,) of the grid, from states x (B, Tp, A)."""
        out = model(x, self.ddim_timesteps[k], cond)
        coef = [v[k].view(-1, 1, 1) for v in (self.ddim_sqrt_alpha, self.ddim_sqrt_one_minus_alpha,
                                              self.ddim_sqrt_alpha_prev, self.ddim_direction)]
        return ddim_update(x, out, *coef, self.cfg.prediction_type == "epsilon", self.dppo.x0_clip)

    def _logprob_std(self, k: Tensor) -> Tensor:
        return self.ddim_sigma[k].clamp(min=self.dppo.min_logprob_std)

    def chain(self, nobs: Tensor, generator: torch.Generator | None = None,
              deterministic: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """The chunk (B, Tp, A) in [-1, 1], the fine-tuned chain's states (B, K + 1, Tp, A) and each
        fine-tuned step's log-probability (B, K); deterministic runs the means without noise from the
        base's fixed initial noise."""
        cond = self.flat_obs(nobs)
        batch = cond.shape[0]
        shape = (batch, self.cfg.pred_horizon, self.cfg.action_dim)
        if deterministic:
            x = fixed_noise(self.cfg.pred_horizon, self.cfg.action_dim).to(cond).expand(shape)
        else:
            x = randn(shape, generator, cond.device).to(cond.dtype)
        states, log_probs = [], []
        for k in range(self.dppo.num_inference_steps):
            fine_tuned = k >= self.first_ft_step
            index = torch.full((batch,), k, dtype=torch.long, device=cond.device)
            mean = self._mean(self.model if fine_tuned else self.frozen_model, x, index, cond)
            if k == self.first_ft_step:
                states.append(x)
            if deterministic:
                x = mean
            else:
                noise = randn(tuple(x.shape), generator, cond.device).to(cond.dtype)
                std = self.ddim_sigma[k].clamp(min=self.dppo.min_sampling_std)
                x = mean + std * noise.clamp(-self.dppo.noise_clip, self.dppo.noise_clip)
            if fine_tuned:
                states.append(x)
                log_probs.append(chunk_log_prob(Normal(mean, self._logprob_std(index).view(-1, 1, 1)), x))
        return x.clamp(-1.0, 1.0), torch.stack(states, 1), torch.stack(log_probs, 1)

    def chain_log_prob(self, nobs: Tensor, chain: Tensor) -> Tensor:
        """Log-probabilities (B, K) of a chain from `chain` under the current fine-tuned weights, all K
        steps in one batched denoiser call."""
        batch, k_steps = chain.shape[0], chain.shape[1] - 1
        steps = torch.arange(self.first_ft_step, self.dppo.num_inference_steps, device=chain.device).repeat(batch)
        cond = self.flat_obs(nobs).repeat_interleave(k_steps, 0)
        mean = self._mean(self.model, chain[:, :-1].flatten(0, 1), steps, cond).view_as(chain[:, 1:])
        std = self._logprob_std(steps).view(batch, k_steps, 1, 1)
        return chunk_log_prob(Normal(mean, std), chain[:, 1:])

    @torch.no_grad()
    def sample(self, nobs: Tensor, *, generator: torch.Generator | None = None, deterministic: bool = False,
               init: Tensor | None = None, num_inference_steps: int | None = None) -> Tensor:
        """The chunk (B, Tp, A) in [-1, 1] for normalized nobs (B, To, O), by DPPO's chain. Raises ValueError for a
        warm start (`init`) or for another number of DDIM steps than the one fine-tuned."""
        if init is not None:
            raise ValueError("DPPOPolicy samples from noise; it does not warm-start")
        if num_inference_steps not in (None, self.dppo.num_inference_steps):
            raise ValueError(f"DPPOPolicy is fine-tuned for {self.dppo.num_inference_steps} DDIM steps, "
                             f"got num_inference_steps={num_inference_steps}")
        return self.chain(nobs, generator, deterministic)[0]


class DPPOActor(ChunkActor):
    """DPPO as a `ChunkActor`: the chain is the last K = `ft_denoising_steps` denoising steps of a
    `DPPOPolicy`; advantages are weighted by gamma_denoising^(K-1-k) and the clip grows from `clip_base`
    to `clip` over the steps (DPPO's exponential schedule, rate `CLIP_GROWTH_RATE`)."""
    @classmethod
    def from_base(cls, base: DiffusionPolicy, cfg: DPPOConfig) -> DPPOActor:
        """DPPO on a copy of the diffusion base `base` (DPPOPolicy copies its weights)."""
        return cls(DPPOPolicy(base, cfg))

    def __init__(self, policy: DPPOPolicy):
        self.policy = policy
        self.num_steps = policy.dppo.ft_denoising_steps

    @torch.no_grad()
    def act(self, nobs: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """`DPPOPolicy.chain` with noise: chunk (B, Tp, A), chain states (B, K + 1, Tp, A), log-probs (B, K)."""
        return self.policy.chain(nobs, generator)

    def log_prob(self, nobs: Tensor, chain: Tensor) -> Tensor:
        """`DPPOPolicy.chain_log_prob`: (B, K), differentiable in the fine-tuned denoiser."""
        return self.policy.chain_log_prob(nobs, chain)

    def step_weights(self) -> Tensor:
        """DPPO's denoising discount gamma_denoising^(K-1-k) for k = 0..K-1 (K,); the last step gets 1."""
        k = torch.arange(self.num_steps, dtype=torch.float32)
        return self.policy.dppo.gamma_denoising ** (self.num_steps - 1 - k)

    def clip_coefs(self, clip: float) -> Tensor:
        """Clip per step (K,) from DPPOConfig, not the PPO `clip` (module docstring): clip_base + (clip - clip_base)
        (exp(3 t) - 1) / (e^3 - 1), t = k / (K - 1) (DPPO's exponential growth); DPPOConfig.clip when K = 1."""
        base, clip = self.policy.dppo.clip_base, self.policy.dppo.clip
        if self.num_steps == 1:
            return super().clip_coefs(clip)
        t = torch.arange(self.num_steps, dtype=torch.float32) / (self.num_steps - 1)
        return base + (clip - base) * (torch.exp(CLIP_GROWTH_RATE * t) - 1) / (math.exp(CLIP_GROWTH_RATE) - 1)

    def exploration_std(self) -> Tensor:
        """The sampling std floor (normalized action units)."""
        return torch.tensor(self.policy.dppo.min_sampling_std)
