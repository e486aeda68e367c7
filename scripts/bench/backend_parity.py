"""The embedded scripted expert on both backends, side by side: success, stage completions and env-steps/s.

    ./inril.sh isaaclab -p scripts/bench/backend_parity.py [--tasks PegInHole-Low OneLeg-Low] [--episodes 4]
        [--device cpu]

Runs in the Isaac Lab environment (it holds both backends). For each task, the same expert (same seed) drives
`--episodes` envs of the embedded MuJoCo backend and then of the Isaac Lab env (kit-less Newton, MuJoCo Warp),
one first episode per env, and reads each finished episode's `/success` and `/stage_<name>` (fraction of the
task's pairs that reached the stage) from the env's `extras["log"]`, which both backends fill the same way.
Env-steps/s counts env steps while any episode runs, over the stepping time only (env construction and the
first Warp compile are reported apart). Prints one table and appends one JSON row per task and backend to --out.
The start states differ between the backends (each samples its own reset noise), so compare rates, not episodes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch

from inril.apps.bench import write_row
from inril.tasks import get_task
from inril.tasks.assembly import STAGES
from inril.tasks.expert import ExpertConfig, InsertionExpert
from inril.tasks.registry import get_expert_plan

StepFn = Callable[[torch.Tensor], tuple[dict, torch.Tensor, dict]]  # actions -> (obs terms, dones, log)


def run_expert(task: str, num_envs: int, reset: Callable[[], dict], step: StepFn, seed: int) -> dict:
    """Each env's first episode under the scripted expert; returns rates and the stepping speed."""
    expert = InsertionExpert(get_task(task), get_expert_plan(task), num_envs, ExpertConfig(seed=seed))
    terms = reset()
    finished = torch.zeros(num_envs, dtype=torch.bool)
    outcomes: dict[str, list[float]] = {"/success": [], **{f"/stage_{s}": [] for s in STAGES}}
    steps, started = 0, time.perf_counter()
    while not finished.all():
        terms, dones, log = step(expert.act({k: v.cpu() for k, v in terms.items()}))
        steps += 1
        done_ids = torch.nonzero(dones, as_tuple=True)[0]
        if len(done_ids):
            first = ~finished[done_ids]  # log entries come in the order of the done envs
            for key in outcomes:
                outcomes[key] += log[key].cpu()[first].tolist()
            finished[done_ids] = True
        expert.reset(dones)
    elapsed = time.perf_counter() - started
    row = {key.lstrip("/"): sum(v) / len(v) for key, v in outcomes.items()}
    return {**row, "episodes": num_envs, "steps": steps, "env_steps_per_s": steps * num_envs / elapsed}


def embedded(task: str, num_envs: int, seed: int, device: str) -> dict:
    from inril.backends.mujoco import make_env

    started = time.perf_counter()
    env = make_env(task, num_envs, seed=seed, device=device)
    build = time.perf_counter() - started

    def step(actions: torch.Tensor):
        _, _, dones, extras = env.step(actions.to(env.device))
        return env.obs_terms(), dones.bool().cpu(), extras["log"]

    try:
        return {**run_expert(task, num_envs, lambda: (env.reset(), env.obs_terms())[1], step, seed), "build_s": build}
    finally:
        env.close()


def isaaclab(task: str, num_envs: int, seed: int, device: str) -> dict:
    from inril_isaac.envs import make_env, obs_terms

    started = time.perf_counter()
    env = make_env(task, num_envs, device=device, seed=seed)
    build = time.perf_counter() - started

    def step(actions: torch.Tensor):
        obs, _, terminated, truncated, extras = env.step(actions.to(env.device))
        return obs_terms(task, obs), (terminated | truncated).cpu(), extras.get("log", {})

    try:
        return {**run_expert(task, num_envs, lambda: obs_terms(task, env.reset()[0]), step, seed), "build_s": build}
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["PegInHole-Low", "OneLeg-Low"])
    parser.add_argument("--episodes", type=int, default=4, help="envs, one first episode each, per backend")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="logs/bench/backend_parity.jsonl")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.episodes < 1:
        print("error: --episodes must be >= 1", file=sys.stderr)
        return 2
    header = f"{'task':<15}{'backend':<12}{'success':>9}" + "".join(f"{s:>11}" for s in STAGES) + \
        f"{'env-steps/s':>13}{'build s':>9}"
    lines = []
    for task in args.tasks:
        rows = {}
        for name, run in (("embedded", embedded), ("isaaclab", isaaclab)):
            rows[name] = run(task, args.episodes, args.seed, args.device)
            write_row(args.out, "backend_parity", {"task": task, "backend": name, "device": args.device,
                                                    **rows[name]})
            r = rows[name]
            lines.append(f"{task:<15}{name:<12}{r['success']:>9.2f}" + "".join(f"{r['stage_' + s]:>11.2f}"
                         for s in STAGES) + f"{r['env_steps_per_s']:>13.1f}{r['build_s']:>9.1f}")
        ratio = rows["isaaclab"]["env_steps_per_s"] / rows["embedded"]["env_steps_per_s"]
        lines.append(f"{task:<15}speed ratio Isaac-Lab-{args.device} / embedded: {ratio:.4f}")
    print(f"{args.episodes} episodes per task and backend (expert seed {args.seed})")
    print(header)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
