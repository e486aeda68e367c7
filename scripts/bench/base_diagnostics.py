"""Base policies side by side: open-loop chunk error on held-out demo windows and closed-loop success.

    python scripts/bench/base_diagnostics.py --task PegInHole-Low --episodes 128 \
        --variant mlp gaussian_chunked \
        --variant diffusion diffusion \
        --variant diffusion_unet diffusion base.policy.denoiser=unet base.policy.down_dims=[32,64,128]

Each `--variant LABEL POLICY [OVERRIDE ...]` is a laptop-preset (`--preset`) train job with that base
policy (`--base_policy`) and train-job overrides (`base.policy.*`, `base.pretrain.*`); its base is
pre-trained through the pipeline's cache (`~/.cache/inril/bases`, as train_residual.py would) and timed.
For each base this prints and appends to --out:

- open-loop error: the deterministic chunk (`predict_action(deterministic=True)`) on every window of the
  demos held out from its pre-training, against the demo chunk: mean position error (mm) and rotation
  error (degrees, between the 6-D rotations' matrices) over the first `--open_loop_steps` actions, and
  for a stochastic base the mean position distance between two noise seeds' chunks;
- closed-loop success of the deterministic base on `--episodes` evaluation episodes (env seed --seed,
  `--num_envs` envs), with its 95% Wilson interval, and the episodes gained and lost against the
  first row with the exact McNemar p-value (same episodes for every row).

A diffusion base is measured once per DDIM step count of `--inference_steps` (default: its own), as rows
`LABEL@K`: the same weights sampled with K steps.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from inril.algos.bc import split_samplers
from inril.apps.bench import job_and_base, write_row
from inril.backends.mujoco import make_env
from inril.eval import EvalResult, compare, evaluate_policy
from inril.pipeline.cache import base_dir
from inril.policies.base import Policy
from inril.tasks.registry import get_task
from inril.utils.cpu import limit_cpu_threads
from inril.utils.rotations import rot6d_to_matrix


@torch.no_grad()
def open_loop_error(policy: Policy, obs: torch.Tensor, actions: torch.Tensor, steps: int,
                    batch_size: int = 2048) -> dict[str, float]:
    """Position (mm) and rotation (deg) error of the first `steps` actions of the deterministic chunk on demo
    windows obs (N, To, O) / actions (N, Tp, 10); `seed_spread_mm`: mean position distance between two
    stochastic draws (0 for a one-shot sampler's mean)."""
    pos, rot, spread = [], [], []
    for begin in range(0, len(obs), batch_size):
        o, a = obs[begin:begin + batch_size], actions[begin:begin + batch_size, :steps]
        chunk = policy.predict_action(o, deterministic=True)[:, :steps]
        pos.append((chunk[..., :3] - a[..., :3]).norm(dim=-1).flatten() * 1000)
        relative = rot6d_to_matrix(chunk[..., 3:9]).transpose(-1, -2) @ rot6d_to_matrix(a[..., 3:9])
        cos = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
        rot.append(torch.rad2deg(torch.acos(cos)).flatten())
        draws = [policy.predict_action(o, generator=torch.Generator().manual_seed(s))[:, :steps] for s in (1, 2)]
        spread.append((draws[0][..., :3] - draws[1][..., :3]).norm(dim=-1).flatten() * 1000)
    return {"pos_mm": torch.cat(pos).mean().item(), "rot_deg": torch.cat(rot).mean().item(),
            "seed_spread_mm": torch.cat(spread).mean().item()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="PegInHole-Low")
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--variant", nargs="+", action="append", required=True,
                        metavar="LABEL POLICY [OVERRIDE]", help="a base to measure (repeat for each)")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--num_envs", type=int, default=128)
    parser.add_argument("--seed", type=int, default=20_000, help="env seed of the evaluation episodes")
    parser.add_argument("--open_loop_steps", type=int, default=4, help="chunk actions compared with the demo's")
    parser.add_argument("--inference_steps", type=int, nargs="+", default=None,
                        help="DDIM step counts to sample diffusion bases with (default: each base's own)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="logs/bench/base_diagnostics.jsonl")
    args = parser.parse_args(argv)
    if any(len(v) < 2 for v in args.variant):
        parser.error("each --variant needs a LABEL and a POLICY")
    if args.episodes < 1 or args.num_envs < 1 or args.open_loop_steps < 1 or min(args.inference_steps or [1]) < 1:
        parser.error("--episodes, --num_envs, --open_loop_steps and --inference_steps must be >= 1")
    limit_cpu_threads(args.device)
    num_pairs = len(get_task(args.task).pairs)

    reference: EvalResult | None = None
    for label, policy_name, *overrides in args.variant:
        start = time.perf_counter()
        job, loaded, demos = job_and_base(args.task, args.preset, overrides, args.device, base_policy=policy_name)
        pretrain_s = time.perf_counter() - start
        policy = loaded.policy.eval()
        pretrain = job.base.pretrain
        _, held_out = split_samplers(demos, policy.cfg.obs_horizon, policy.cfg.pred_horizon, pretrain.val_fraction,
                                     pretrain.seed, args.device)
        if held_out is None:
            parser.error("the base's pre-training held out no demos (base.pretrain.val_fraction=0)")
        windows = held_out.windows(torch.arange(len(held_out)))
        steps = min(args.open_loop_steps, policy.cfg.pred_horizon)
        ddim = hasattr(policy.cfg, "num_inference_steps")
        for k in (args.inference_steps or [None]) if ddim else [None]:
            if k is not None:
                policy.cfg.num_inference_steps = k
            name = f"{label}@{policy.cfg.num_inference_steps}" if ddim else label
            errors = open_loop_error(policy, *windows, steps)
            start = time.perf_counter()
            env = make_env(args.task, args.num_envs, args.seed, args.device)
            try:
                result = evaluate_policy(policy, env, args.episodes, num_pairs)
            finally:
                env.close()
            eval_s = time.perf_counter() - start
            paired = None if reference is None else compare(reference, result)
            reference = reference or result
            print(f"{name}: open loop (first {steps} actions of {len(held_out)} held-out windows) "
                  f"{errors['pos_mm']:.1f} mm, {errors['rot_deg']:.2f} deg, {errors['seed_spread_mm']:.1f} mm "
                  f"between seeds; closed loop {result.summary()}"
                  + ("" if paired is None else f"; vs first: {paired.summary()}")
                  + f" [pre-training or cache {pretrain_s:.0f} s, evaluation {eval_s:.0f} s]", flush=True)
            write_row(args.out, "base_diagnostics", {
                "task": args.task, "label": name, "policy": policy_name, "overrides": overrides,
                "inference_steps": policy.cfg.num_inference_steps if ddim else None,
                "checkpoint": str(base_dir(job, Path(demos.path)) / "policy.pt"), "open_loop": errors,
                "open_loop_steps": steps, "held_out_windows": len(held_out), "eval_seed": args.seed,
                "num_envs": args.num_envs, **result.as_dict(), "outcomes": [int(o) for o in result.outcomes],
                "vs_first": None if paired is None else paired.as_dict(), "pretrain_or_cache_s": pretrain_s,
                "eval_s": eval_s})
    return 0


if __name__ == "__main__":
    sys.exit(main())
