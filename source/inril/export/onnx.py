"""ONNX files of the deployable policy's two networks; the loop around them is the caller's.

`denoiser_step.onnx`: (sample (B, Tp, A), obs_cond (B, To * O), step () int64) -> prev_sample, one
DDIM step at grid index `step` (see inril.export.ddim). `residual.onnx`: (nobs (B, O), base_action
(B, A)) -> residual (B, A), the residual actor's mean. Everything else (normalizers, horizons, the
DDIM warm-start coefficients and initial noise, the residual scale) is in metadata.json, and `ONNX_LOOP`
(also in metadata.json as `onnx_loop`) is the control loop around the two files. policy.pt (TorchScript)
runs exactly this loop.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from inril.data.groups import BASE_ACTION_GROUP
from inril.export.ddim import DenoiserStep
from inril.policies.diffusion import DiffusionPolicy

# Per control step, for each env (values named as in metadata.json).
ONNX_LOOP = """\
nobs = clamp((obs - observation.normalizer.center) / half_span, -clip, clip)   (clip null: no clamp)
history: drop the oldest of its obs_horizon entries and append nobs; a fresh env (first step, or after its
    episode ended) fills the whole history with nobs
if the env's chunk queue is empty:
    x = diffusion.initial_noise, shape (pred_horizon, action_dim) (the policy's fixed noise: same obs, same chunk)
    cold start (no previous chunk, or diffusion.warm_start false): k0 = 0
    warm start: init = previous chunk[action_horizon:] padded to pred_horizon by repeating its last action;
        x = warm_sqrt_alpha * init + warm_sqrt_one_minus_alpha * x; k0 = warm_start_index
    for k in k0 .. num_inference_steps - 1: x = denoiser_step(sample=x, obs_cond=flatten(history), step=k)
    chunk = clamp(x, -1, 1), kept whole (a warm start reads its tail); the queue is its first action_horizon actions
base = pop the queue
action = clamp(base + residual.scale * residual_onnx(nobs, base), -1, 1)   (no residual: action = base)
env action = action * action.normalizer.half_span + action.normalizer.center"""


class ResidualMean(nn.Module):
    """The residual actor's deterministic output from its two observation groups."""

    def __init__(self, actor: nn.Module):
        super().__init__()
        self.mean = actor.as_onnx(verbose=False)

    def forward(self, nobs: Tensor, base_action: Tensor) -> Tensor:
        """The residual (B, A) from nobs (B, O) and base_action (B, A), both normalized."""
        return self.mean(torch.cat([nobs, base_action], dim=-1))


def _export(module: nn.Module, args: tuple[Tensor, ...], path: Path, input_names: list[str], output_name: str,
            batched: list[bool]) -> None:
    batch = torch.export.Dim("batch", min=1)
    dynamic_shapes = tuple({0: batch} if b else None for b in batched)
    registry_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)  # "torchvision is not installed" lines: we use no torchvision ops
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation and version chatter
            program = torch.onnx.export(module.eval(), args, dynamo=True, input_names=input_names,
                                        output_names=[output_name], dynamic_shapes=dynamic_shapes, verbose=False)
    finally:
        registry_log.setLevel(level)
    program.save(str(path))


def export_denoiser_step(base: DiffusionPolicy, num_inference_steps: int, path: Path) -> None:
    """Write one DDIM step of `base` at `num_inference_steps` steps as ONNX (inputs sample, obs_cond, step)."""
    cfg = base.cfg
    step = DenoiserStep(copy.deepcopy(base.model), base.ddim_tables(num_inference_steps), cfg.prediction_type)
    args = (torch.zeros(2, cfg.pred_horizon, cfg.action_dim), torch.zeros(2, cfg.obs_horizon * cfg.obs_dim),
            torch.tensor(0))
    _export(step, args, path, ["sample", "obs_cond", "step"], "prev_sample", [True, True, False])


def export_residual(actor: nn.Module, obs_dim: int, action_dim: int, path: Path) -> None:
    """Write the residual actor's mean as ONNX (inputs nobs (B, obs_dim) and base_action (B, action_dim))."""
    args = (torch.zeros(2, obs_dim), torch.zeros(2, action_dim))
    _export(ResidualMean(actor), args, path, ["nobs", BASE_ACTION_GROUP], "residual", [True, True])
