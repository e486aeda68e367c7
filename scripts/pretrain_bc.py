"""Pre-train a diffusion or Gaussian policy on demonstrations by behaviour cloning.

    python scripts/pretrain_bc.py --demos demos.hdf5 --policy diffusion --out runs/bc [--preset laptop|full] \
        [--steps N] [policy.mlp_dims=[512,512] train.bc.lr=3e-4 ...]

--preset picks the policy's size and BC budget as train_residual.py's presets do (`inril.pipeline.presets.base_preset`):
laptop (default) trains in minutes on 2 CPU cores (diffusion: an MLP denoiser), full is ResiP's size for a GPU.

Everything after the flags is a Hydra override of the job config (`policy.*`, `train.*`); the
resolved config is written next to the checkpoint. Writes DIR/policy.pt (EMA weights for the
diffusion policy), DIR/config.yaml and tensorboard logs in DIR/tb.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inril.algos.bc import NonFiniteLossError, PretrainJob, build_pretraining
from inril.data.demo_reader import load_demos
from inril.data.demos import DemoError
from inril.pipeline.presets import PRESETS, base_preset
from inril.policies import POLICY_NAMES
from inril.utils.cli import add_demo_selection_flags, check_output_dir, fail
from inril.utils.config import ConfigError, apply_overrides


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demos", required=True, type=Path, help="robomimic-layout HDF5 file")
    parser.add_argument("--policy", required=True, help=f"one of {', '.join(POLICY_NAMES)}")
    parser.add_argument("--out", required=True, type=Path, help="output directory (must be empty or absent)")
    parser.add_argument("--preset", default="laptop", help=f"policy size and BC budget: one of {', '.join(PRESETS)}")
    parser.add_argument("--steps", type=int, default=None, help="BC optimizer steps (default: the preset's)")
    parser.add_argument("--obs-keys", default=None, help="comma-separated obs keys (default: all, recorded order)")
    add_demo_selection_flags(parser)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    bad_flags = [o for o in overrides if o.startswith("-")]
    if bad_flags:
        return fail(f"unknown option(s) {bad_flags}; overrides look like key=value")
    if args.policy not in POLICY_NAMES:
        return fail(f"unknown policy {args.policy!r}; known policies: {', '.join(POLICY_NAMES)}")
    try:
        check_output_dir(args.out)
        demos = load_demos(args.demos, args.obs_keys.split(",") if args.obs_keys else None,
                           only_success=not args.keep_failures, filter_key=args.filter_key,
                           val_filter_key=args.val_filter_key)
        policy_cfg, pretrain = base_preset(args.preset, args.policy, demos.obs_dim, demos.action_dim)
        if args.steps is not None:
            pretrain.steps = args.steps
        job = apply_overrides(PretrainJob(policy_cfg, pretrain), overrides)
        run = build_pretraining(job, args.policy, demos, device=args.device)
    except (DemoError, ConfigError, ValueError) as exc:
        return fail(str(exc))
    if args.preset == "full" and args.policy == "diffusion" and args.device == "cpu":
        print("note: --preset full is ResiP's UNet [256, 512, 1024] and takes seconds per BC step on a CPU; "
              "--preset laptop trains in minutes", file=sys.stderr)
    try:
        result = run.fit(args.out, progress=not args.no_progress)
    except NonFiniteLossError as exc:
        return fail(f"{exc}; nothing written to {args.out}", code=1)
    val = "n/a" if result.val_loss is None else f"{result.val_loss:.4f}"
    print(f"done: {job.train.steps} steps, train loss {result.train_loss:.4f}, val loss {val}, "
          f"checkpoint {args.out / 'policy.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
