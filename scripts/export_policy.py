"""Export a trained policy for deployment: TorchScript, ONNX and metadata.json.

    python scripts/export_policy.py --checkpoint logs/inril/<task>/<run>/model_<it>.pt --out exported/
        [--num_inference_steps K]

The checkpoint is a residual-PPO runner checkpoint (base + residual) or a pretrain_bc.py policy.pt
(base alone). Writes OUT/policy.pt (load it with torch.jit.load, no inril needed: `policy(obs)` ->
action in env units, `policy.reset(env_ids)` when episodes end), OUT/denoiser_step.onnx,
OUT/residual.onnx and OUT/metadata.json (the ONNX loop is spelled out in it; `observation.layout` is
the (term, size) order the policy reads, which may order the task's terms differently). OUT must be absent or
empty; it appears complete or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inril.export import export_policy
from inril.policies.checkpoint import CheckpointError
from inril.utils.cli import check_output_dir, fail


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="model_<it>.pt or a BC policy.pt")
    parser.add_argument("--out", required=True, type=Path, help="output directory (must be empty or absent)")
    parser.add_argument("--num_inference_steps", type=int, default=None,
                        help="DDIM steps baked into the export (default: what the policy was trained/run with)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        check_output_dir(args.out)
        out = export_policy(args.checkpoint, args.out, args.num_inference_steps)
    except (CheckpointError, ValueError) as exc:
        return fail(str(exc))
    print(f"exported {args.checkpoint} -> {out}: policy.pt, ONNX files, metadata.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
