"""One DDIM step (eta = 0) as a module with the schedule as buffers, so TorchScript and ONNX can run it.

diffusers' schedulers are Python objects that cannot be scripted or exported; the policy's own sampler
does not use them for inference either. `DenoiserStep` holds the policy's `DDIMTables` for one step
count and runs the policy's `ddim_update` (the same function, so the same ops) after one denoiser call:
for grid index k, with a_t = alpha_bar[t_k] and a_prev = alpha_bar[t_{k+1}] (1 after the last step),

    x0     = clamp((x - sqrt(1 - a_t) eps) / sqrt(a_t), -1, 1)   (epsilon prediction)
             clamp(denoiser output, -1, 1)                       (sample prediction; eps then follows from x0)
    x_prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps

`export_tables` lists the grid and coefficients for metadata.json; a warm start noises the initial
chunk to grid point `warm_start_index` (`DDIMTables.noise_to`) and runs the remaining steps only.
"""

from __future__ import annotations

from torch import Tensor, nn

from inril.policies.diffusion import DDIMTables, DiffusionPolicy, ddim_update


def export_tables(policy: DiffusionPolicy, num_inference_steps: int) -> dict:
    """The DDIM grid and eta = 0 coefficients of a step count, as plain lists (metadata.json)."""
    tables = policy.ddim_tables(num_inference_steps)
    k = tables.warm_start_index
    return {
        "timesteps": tables.timesteps.tolist(),
        "prediction_type": policy.cfg.prediction_type,
        "sqrt_alpha": tables.sqrt_alpha.tolist(),
        "sqrt_one_minus_alpha": tables.sqrt_one_minus_alpha.tolist(),
        "sqrt_alpha_prev": tables.sqrt_alpha_prev.tolist(),
        "sqrt_one_minus_alpha_prev": tables.sqrt_one_minus_alpha_prev.tolist(),
        "warm_start_index": k,
        "warm_sqrt_alpha": tables.sqrt_alpha[k].item(),
        "warm_sqrt_one_minus_alpha": tables.sqrt_one_minus_alpha[k].item(),
    }


class DenoiserStep(nn.Module):
    """One DDIM step: (x_t (B, Tp, A), obs_cond (B, To * O), grid index k (0-d long)) -> x_prev.

    `denoiser` is the policy's UNet(x, t (B,), obs_cond), eager (for ONNX) or traced (for TorchScript)."""

    def __init__(self, denoiser: nn.Module, tables: DDIMTables, prediction_type: str):
        super().__init__()
        self.denoiser = denoiser
        self.predicts_epsilon = prediction_type == "epsilon"
        self.register_buffer("timesteps", tables.timesteps.clone())
        self.register_buffer("sqrt_alpha", tables.sqrt_alpha.clone())
        self.register_buffer("sqrt_one_minus_alpha", tables.sqrt_one_minus_alpha.clone())
        self.register_buffer("sqrt_alpha_prev", tables.sqrt_alpha_prev.clone())
        self.register_buffer("sqrt_one_minus_alpha_prev", tables.sqrt_one_minus_alpha_prev.clone())

    def forward(self, sample: Tensor, obs_cond: Tensor, step: Tensor) -> Tensor:
        """x_prev (B, Tp, A), the mean of DDIM step `step` (eta = 0) from `sample` (B, Tp, A) and obs_cond
        (B, To * O)."""
        t = self.timesteps[step].expand(sample.shape[0])
        return ddim_update(sample, self.denoiser(sample, t, obs_cond), self.sqrt_alpha[step],
                           self.sqrt_one_minus_alpha[step], self.sqrt_alpha_prev[step],
                           self.sqrt_one_minus_alpha_prev[step], self.predicts_epsilon)
