"""Train a residual policy with IN-RIL (PPO on the residual, interleaved BC on the base).

    python scripts/train_residual.py --task OneLeg-Low [--preset laptop] [--num_envs N] [--seed S]
        [--max_iterations N] [--device cpu] [--base_checkpoint policy.pt] [--resume [RUN_DIR]]
        [env.num_envs=64 agent.base=frozen agent.interleave.m=5 base.num_demos=100 ...]

On Isaac Lab, `env.*` / `agent.*` overrides go to Isaac Lab's env and rsl-rl agent configs (its
convention); IN-RIL's own options take an `inril.` prefix there (inril.agent.base=frozen,
inril.agent.interleave.m=5, inril.base.checkpoint=policy.pt).

With Isaac Lab importable this runs the Isaac Lab branch (GPU envs, see exts/inril_isaac); otherwise
the embedded MuJoCo backend. Without --base_checkpoint the embedded branch runs the whole pipeline
with cached artifacts: scripted demos, BC pre-training of the diffusion base, then residual PPO.
Logs and checkpoints go to logs/inril/<task>/<date>_<run>/ (config.yaml, model_<it>.pt, summary.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from inril.utils.cli import add_demo_selection_flags


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="OneLeg-Low", help="task name, e.g. OneLeg-Low, PegInHole-Med")
    parser.add_argument("--preset", default="laptop", help="laptop (2 CPU cores, < 1 h) or full (ResiP-sized)")
    parser.add_argument("--base_policy", default=None,
                        help="base policy to pre-train: gaussian_chunked (laptop default), diffusion (full default) "
                             "or gaussian (unchunked)")
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--device", default=None, help="torch device (embedded default: cpu; Isaac Lab: its own)")
    parser.add_argument("--headless", action="store_true", help="accepted for Isaac Lab parity (embedded is always headless)")
    parser.add_argument("--video", action="store_true", help="write an MP4 of the final evaluation")
    parser.add_argument("--base_checkpoint", default=None, help="pre-trained base policy.pt (skips demos and BC)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None,
                        help="continue a run: a run directory, or 'latest' for the newest run of this task")
    add_demo_selection_flags(parser)
    parser.add_argument("--log_root", default="logs", help="root of logs/inril/<task>/...")
    parser.add_argument("--run_name", default="", help="suffix of the run directory name")
    parser.add_argument("--distributed", action="store_true", help="multi-process training under torchrun")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    if importlib.util.find_spec("isaaclab") is not None:
        print("[inril] Isaac Lab found: running the Isaac Lab branch")
        from inril_isaac.train import main as isaaclab_main

        from inril.train import isaaclab_train_fn
        from inril.utils.cli import fail

        inril_overrides = [o.removeprefix("inril.") for o in overrides if o.startswith("inril.")]
        isaac_overrides = [o for o in overrides if not o.startswith("inril.")]
        try:  # the job's own checks (task, inril.* overrides, base checkpoint); config and checkpoint errors are ValueErrors
            train = isaaclab_train_fn(args, inril_overrides)
        except ValueError as exc:
            return fail(str(exc))
        return isaaclab_main(args, isaac_overrides, train)
    print("[inril] Isaac Lab not importable: running the embedded MuJoCo backend")
    from inril.train import run_embedded

    return run_embedded(args, overrides)


if __name__ == "__main__":
    sys.exit(main())
