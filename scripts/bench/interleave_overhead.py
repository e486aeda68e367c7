"""Env-steps/s of IN-RIL (base: bc) against plain residual PPO (base: frozen), side by side.

    python scripts/bench/interleave_overhead.py [--task PegInHole-Low] [--num_envs 32] [--iterations 6]

Both runners share the task, env count, seeds and the same pre-trained base (cached by the main
job's pipeline); their iterations alternate, so machine load hits both alike. Throughput counts
a whole training iteration (rollout with base inference, PPO update, and for IN-RIL the IL
updates and the rho(t) probe). Prints the ratio (goal: >= 0.85 on CPU, >= 0.95 on a GPU with the
side stream) and appends a JSON row to --out.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from inril.apps.bench import job_and_base, write_row
from inril.apps.residual import build_runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="PegInHole-Low")
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--num_envs", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=6, help="timed iterations per mode (after 1 warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="logs/bench/interleave_overhead.jsonl")
    args = parser.parse_args(argv)

    overrides = [f"env.num_envs={args.num_envs}", "agent.eval_interval=0"]
    job, loaded, demos = job_and_base(args.task, args.preset, overrides, args.device)
    runners = {}
    for mode in ("frozen", "bc"):
        mode_job = copy.deepcopy(job)
        mode_job.agent.base = mode
        runners[mode] = build_runner(mode_job, copy.deepcopy(loaded.policy), demos, None, args.device)
    steps_per_iteration = job.agent.num_steps_per_env * job.env.num_envs
    seconds = {mode: 0.0 for mode in runners}
    for i in range(args.iterations + 1):
        for mode, runner in runners.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            runner.learn(1)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if i > 0:  # the first iteration warms up allocators and caches
                seconds[mode] += time.perf_counter() - start
    rate = {mode: args.iterations * steps_per_iteration / s for mode, s in seconds.items()}
    ratio = rate["bc"] / rate["frozen"]
    il_updates = runners["bc"].alg.interleaving.updater.num_updates
    print(f"{args.task} {args.num_envs} envs on {args.device}: IN-RIL {rate['bc']:.0f} env-steps/s, "
          f"residual PPO {rate['frozen']:.0f} env-steps/s, ratio {ratio:.3f} "
          f"(m={job.agent.interleave.m}, {il_updates} IL updates)")
    path = write_row(args.out, "interleave_overhead", {
        "task": args.task, "num_envs": args.num_envs, "device": args.device, "iterations": args.iterations,
        "m": job.agent.interleave.m, "inril_steps_per_s": rate["bc"], "residual_ppo_steps_per_s": rate["frozen"],
        "ratio": ratio})
    print(f"row appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
