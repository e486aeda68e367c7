"""How much exploration noise the base tolerates: its success under the first rollout's residual noise.

    python scripts/bench/exploration_noise.py [--task OneLeg-Low] [--stds 0.05 0.1 0.2 0.37] [--episodes 128]
        [overrides ...]

Residual PPO's first rollout executes clip(base + scale * std * noise): its actor starts at zero, so
the noise of its Gaussian (`agent.init_std`) is all that moves it off the base. This runs the job's
cached base on the evaluation episodes, deterministic and then under that noise for each std, side by
side on the same episodes, and prints for each std the success ratio noisy / deterministic, and how
many episodes the noise turned from failure into success (the successes exploration can find for
PPO to reinforce) and from success into failure. Pick `agent.init_std` where the ratio is still
high; ResiP's 0.37 assumes a base that tolerates it. Appends a JSON row to --out.
"""

from __future__ import annotations

import argparse
import sys

import torch

from inril.apps.bench import job_and_base, write_row
from inril.eval import EvalResult, compare, evaluate
from inril.pipeline.envs import eval_env
from inril.residual.env import ResidualVecEnv
from inril.tasks.registry import get_task
from inril.utils.cpu import limit_cpu_threads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="OneLeg-Low")
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--stds", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.37],
                        help="residual exploration stds (agent.init_std values) to try")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="seed of the exploration noise")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="logs/bench/exploration_noise.jsonl")
    parser.add_argument("overrides", nargs="*", help="train-job overrides (env.*, base.*, agent.*)")
    args = parser.parse_args(argv)
    if any(std < 0 for std in args.stds):
        parser.error(f"--stds must be >= 0, got {args.stds}")
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")

    job, loaded, _ = job_and_base(args.task, args.preset, args.overrides, args.device)
    num_pairs = len(get_task(job.env.task).pairs)
    limit_cpu_threads(args.device)

    def run(std: float) -> EvalResult:
        env = ResidualVecEnv(eval_env(job, args.device), loaded.policy, job.agent.residual)
        generator = torch.Generator(device=args.device).manual_seed(args.seed)
        shape = (env.num_envs, env.num_actions)
        try:
            return evaluate(env, lambda _: std * torch.randn(shape, generator=generator, device=args.device),
                            args.episodes, num_pairs)
        finally:
            env.close()

    reference = run(0.0)
    print(f"{args.task}, residual scale {job.agent.residual.scale}, {args.episodes} episodes: "
          f"deterministic base {reference.summary()}")
    rows = []
    for std in args.stds:
        result = run(std)
        changed = compare(reference, result)
        ratio = result.success_rate / max(reference.success_rate, 1e-9)
        print(f"  std {std:<5g} success {result.success_rate:6.1%}  ratio {ratio:.2f}  "
              f"failures turned into successes {changed.gained}/{reference.episodes - reference.successes}, "
              f"successes lost {changed.lost}/{reference.successes}")
        rows.append({"std": std, "success_rate": result.success_rate, "ratio": ratio, **changed.as_dict()})
    path = write_row(args.out, "exploration_noise", {
        "task": args.task, "preset": args.preset, "episodes": args.episodes, "residual_scale": job.agent.residual.scale,
        "deterministic_success": reference.success_rate, "noisy": rows,
    })
    print(f"row appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
