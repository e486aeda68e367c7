"""IN-RIL against RL-only residual PPO from the same BC base: success against env steps.

    python scripts/bench/sample_efficiency.py [--tasks PegInHole-Low OneLeg-Low] [--seeds 0 1 2]
        [--iterations 40] [--eval_interval 5] [--out logs/bench/sample_efficiency]

For each task one base is pre-trained (cached by the main job's pipeline); every seed then trains
IN-RIL (base: bc, interleaved IL updates) and residual PPO (base: frozen) for the same number of
env steps, evaluating the deterministic policy on the same held-out env seeds. Writes every
curve to DIR/curves.json, a plot to DIR/success_vs_steps.png, and prints, per task, the ratio of
env steps IN-RIL needs to reach RL-only's final mean success to the steps RL-only used
(< 1: IN-RIL is more sample efficient; "not reached" if it never gets there).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

from inril.apps.bench import job_and_base, plot_success_curves, write_row
from inril.apps.residual import build_runner

MODES = {"bc": "IN-RIL (interleaved BC)", "frozen": "RL only (frozen base)"}


def run_curve(job, base, demos, mode: str, seed: int, iterations: int, device: str) -> list[tuple[int, float]]:
    job = copy.deepcopy(job)
    job.agent.base, job.env.seed, job.agent.max_iterations = mode, seed, iterations
    runner = build_runner(job, copy.deepcopy(base), demos, None, device)
    start = runner.evaluate_fn(runner)
    runner.learn(iterations)
    return [(0, start.success_rate)] + [(row["env_steps"], row["success_rate"]) for row in runner.eval_history]


def steps_to_reach(steps: np.ndarray, success: np.ndarray, target: float) -> float | None:
    reached = np.flatnonzero(success >= target - 1e-9)
    return float(steps[reached[0]]) if len(reached) else None


def compare(steps: np.ndarray, inril: np.ndarray, rl_only: np.ndarray) -> tuple[float | None, str]:
    """Env steps IN-RIL needs to reach RL-only's final success, over RL-only's steps, and a sentence."""
    if rl_only[-1] <= rl_only[0]:  # a ratio needs RL-only to have gained something to reach
        return None, "RL-only ended at or below the base, so there is no gain to reach (no ratio)"
    needed = steps_to_reach(steps, inril, rl_only[-1])
    if needed is None:
        return None, "IN-RIL never reached RL-only's final success (no ratio)"
    ratio = needed / steps[-1]
    return ratio, f"IN-RIL reaches RL-only's final success after {needed:.0f} env steps, ratio {ratio:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["PegInHole-Low", "OneLeg-Low"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--eval_interval", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("logs/bench/sample_efficiency"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the train job (env.*, base.*, agent.*)")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, dict[str, list]] = {}
    for task in args.tasks:
        job, loaded, demos = job_and_base(task, args.preset, [f"agent.eval_interval={args.eval_interval}",
                                                              *args.overrides], args.device)
        curves[task] = {mode: [] for mode in MODES}
        for seed in args.seeds:
            for mode in MODES:
                curve = run_curve(job, loaded.policy, demos, mode, seed, args.iterations, args.device)
                curves[task][mode].append(curve)
                print(f"[bench] {task} seed {seed} {mode}: success {curve[0][1]:.2f} -> {curve[-1][1]:.2f}")
        (args.out / "curves.json").write_text(json.dumps(curves, indent=1))

    for task, by_mode in curves.items():
        steps = np.array([s for s, _ in by_mode["frozen"][0]])
        mean = {mode: np.array([[v for _, v in run] for run in runs]).mean(0) for mode, runs in by_mode.items()}
        target = mean["frozen"][-1]
        ratio, verdict = compare(steps, mean["bc"], mean["frozen"])
        print(f"{task}: base {mean['frozen'][0]:.2f}; final success IN-RIL {mean['bc'][-1]:.2f}, RL-only "
              f"{target:.2f} (mean of {len(args.seeds)} seeds); {verdict}")
        write_row(args.out / "rows.jsonl", "sample_efficiency", {
            "task": task, "seeds": args.seeds, "iterations": args.iterations, "env_steps": float(steps[-1]),
            "base_success": float(mean["frozen"][0]), "inril_final": float(mean["bc"][-1]),
            "rl_only_final": float(target), "steps_ratio": ratio})
    plot_success_curves({task: {MODES[mode]: runs for mode, runs in by_mode.items()} for task, by_mode in curves.items()},
                        args.out / "success_vs_steps.png")
    print(f"curves: {args.out / 'curves.json'}, plot: {args.out / 'success_vs_steps.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
