"""The scripted experts' success per task and level: the rate behind the demos every base is cloned from.

    python scripts/bench/expert_success.py [--tasks Lamp-Low Lamp-Med ...] [--episodes 100] [--num_envs 50]

Runs each task's expert (noisy as when it writes demos) on fresh seeded episodes through the project's one
evaluation path and prints a Markdown table: successes / episodes, the 95% Wilson interval and the mean episode
length (all episodes; a failure runs to the time limit). Appends one JSON row per task to --out.
"""

from __future__ import annotations

import argparse
import sys
import time

from inril.apps.bench import write_row
from inril.backends.mujoco import make_env
from inril.backends.mujoco.collect import evaluate_expert
from inril.tasks import list_tasks
from inril.utils.cli import fail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list_tasks(), help="task names (default: every registered one)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--num_envs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="seeds the env resets and the expert's noise")
    parser.add_argument("--out", default="logs/bench/expert_success.jsonl")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    unknown = sorted(set(args.tasks) - set(list_tasks()))
    if unknown:
        return fail(f"unknown task(s) {unknown}; known tasks: {', '.join(list_tasks())}")
    if args.episodes < 1 or args.num_envs < 1:
        return fail(f"--episodes and --num_envs must be >= 1, got {args.episodes} and {args.num_envs}")

    print("| task | successes / episodes | 95% Wilson interval | mean episode length | episode limit |")
    print("|---|---|---|---|---|")
    for task in args.tasks:
        began = time.perf_counter()
        env = make_env(task, min(args.num_envs, args.episodes), args.seed)
        try:
            result = evaluate_expert(env, args.episodes, args.seed)
        finally:
            env.close()
        low, high = result.confidence_interval()
        print(f"| {task} | {result.successes}/{result.episodes} | [{low:.1%}, {high:.1%}] | {result.mean_length:.0f} "
              f"| {env.max_episode_length} |", flush=True)
        write_row(args.out, "expert_success", {"task": task, "seed": args.seed, "num_envs": env.num_envs,
                                               "seconds": time.perf_counter() - began, **result.as_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
