"""Collect scripted-expert demonstrations in the batched MuJoCo env and write them as robomimic-layout HDF5.

    python scripts/collect_demos.py --task PegInHole-Low --num-demos 50 --out demos/peg_low.hdf5

Each row of a demo holds the observation terms the action was taken from and the action in raw task units
(absolute tool pose + 6-D rotation + gripper). Only successful episodes are kept unless --keep-failures is given;
the expert's success rate over every finished episode is printed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from inril.backends.mujoco.collect import DEFAULT_NUM_ENVS, collect_demos
from inril.tasks import get_task, list_tasks
from inril.utils.cli import fail


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help=f"one of {', '.join(list_tasks())}")
    parser.add_argument("--num-demos", type=int, required=True, help="episodes to write")
    parser.add_argument("--out", type=Path, required=True, help="output .hdf5 file")
    parser.add_argument("--num-envs", type=int, default=DEFAULT_NUM_ENVS, help="envs stepped in parallel")
    parser.add_argument("--seed", type=int, default=0, help="seeds the env resets and the expert's noise")
    parser.add_argument("--keep-failures", action="store_true", help="also write failed episodes")
    parser.add_argument(
        "--max-episodes", type=int, default=None, help="give up after this many finished episodes (default 4x demos)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.out.parent.is_dir():
        return fail(f"output directory {args.out.parent} does not exist")
    began = time.perf_counter()
    try:
        get_task(args.task)
        result = collect_demos(
            args.task, args.num_demos, args.seed, args.out, args.num_envs, args.keep_failures, args.max_episodes
        )
    except ValueError as err:
        return fail(str(err))
    print(
        f"expert success rate on {args.task}: {result.successes}/{result.finished} episodes"
        f" = {100 * result.success_rate:.1f}%"
    )
    steps = sum(e.num_samples for e in result.episodes)
    print(f"wrote {len(result.episodes)} demos ({steps} steps) to {args.out} in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
