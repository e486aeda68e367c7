"""IN-RIL against RL-only residual PPO from the same BC base: success against env steps.

    python scripts/bench/sample_efficiency.py [--tasks PegInHole-Low OneLeg-Low] [--seeds 0 1 2]
        [--iterations 40] [--eval_interval 5] [--out logs/bench/sample_efficiency]

For each task one base is pre-trained (cached by the main job's pipeline); every seed then trains
IN-RIL (base: bc, interleaved IL updates) and residual PPO (base: frozen) for the same number of
env steps, evaluating the deterministic policy on the same held-out episodes (env seed: the seed
plus 10000, so both modes of a seed are paired). Writes every curve to DIR/curves.json, a plot to
DIR/success_vs_steps.png, and prints, per task, each seed's final success, the mean and standard
deviation per mode, and the paper's sample-efficiency measure: the env steps IN-RIL needs to first
reach RL-only's final mean success over the env steps RL-only needs (< 1: IN-RIL is more sample
efficient; "not reached" if it never gets there), with a 95% percentile bootstrap interval over the
seeds (seeds resampled with replacement, both modes of a seed together, `--bootstrap` resamples).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
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
    """Env steps IN-RIL needs to first reach RL-only's final success over the steps RL-only needs to first
    reach it (mean curves at the same `steps`), and a sentence."""
    if rl_only[-1] <= rl_only[0]:  # a ratio needs RL-only to have gained something to reach
        return None, "RL-only ended at or below the base, so there is no gain to reach (no ratio)"
    needed, rl_needed = steps_to_reach(steps, inril, rl_only[-1]), steps_to_reach(steps, rl_only, rl_only[-1])
    if needed is None:
        return None, "IN-RIL never reached RL-only's final success (no ratio)"
    ratio = needed / rl_needed
    return ratio, (f"IN-RIL reaches RL-only's final success after {needed:.0f} env steps, RL-only after "
                   f"{rl_needed:.0f}: ratio {ratio:.2f}")


def bootstrap_ratio(steps: np.ndarray, inril: np.ndarray, rl_only: np.ndarray, resamples: int = 2000,
                    seed: int = 0) -> dict[str, float | None]:
    """Percentile bootstrap of `compare`'s ratio over seeds: `inril` and `rl_only` are (seeds, evaluations)
    success rates, seed i of both modes paired (same episodes); each resample draws seeds with replacement
    and compares the two mean curves. Returns the 2.5% and 97.5% quantiles (inf where IN-RIL did not reach
    RL-only's final success; None when fewer than 95% of resamples have a ratio) and the shares of resamples
    where IN-RIL never got there and where RL-only gained nothing."""
    rng = np.random.default_rng(seed)
    ratios, no_gain = [], 0
    for _ in range(resamples):
        pick = rng.integers(0, len(inril), len(inril))
        rl_mean = rl_only[pick].mean(0)
        if rl_mean[-1] <= rl_mean[0]:
            no_gain += 1
            continue
        ratios.append(compare(steps, inril[pick].mean(0), rl_mean)[0] or np.inf)
    ratios = np.array(ratios)
    lo, hi = (np.quantile(ratios, [0.025, 0.975], method="inverted_cdf") if len(ratios) >= 0.95 * resamples
              else (None, None))
    return {"ci_low": None if lo is None else float(lo), "ci_high": None if hi is None else float(hi),
            "share_not_reached": float(np.isinf(ratios).sum() / resamples), "share_no_gain": no_gain / resamples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["PegInHole-Low", "OneLeg-Low"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--eval_interval", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the seeds")
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
                start = time.perf_counter()
                curve = run_curve(job, loaded.policy, demos, mode, seed, args.iterations, args.device)
                curves[task][mode].append(curve)
                print(f"[bench] {task} seed {seed} {mode}: success {curve[0][1]:.2f} -> {curve[-1][1]:.2f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
        (args.out / "curves.json").write_text(json.dumps(curves, indent=1))

    for task, by_mode in curves.items():
        steps = np.array([s for s, _ in by_mode["frozen"][0]])
        success = {mode: np.array([[v for _, v in run] for run in runs]) for mode, runs in by_mode.items()}
        mean = {mode: runs.mean(0) for mode, runs in success.items()}
        target = mean["frozen"][-1]
        ratio, verdict = compare(steps, mean["bc"], mean["frozen"])
        interval = bootstrap_ratio(steps, success["bc"], success["frozen"], args.bootstrap)
        for mode, runs in success.items():
            print(f"{task} {MODES[mode]}: final success per seed {', '.join(f'{v:.3f}' for v in runs[:, -1])}; "
                  f"mean {runs[:, -1].mean():.3f}, std {runs[:, -1].std(ddof=1) if len(runs) > 1 else 0:.3f}")
        bounds = ("none (under 95% of the resamples have a ratio)" if interval["ci_low"] is None
                  else f"[{interval['ci_low']:.2f}, {interval['ci_high']:.2f}]")
        print(f"{task}: base {mean['frozen'][0]:.2f}; final success IN-RIL {mean['bc'][-1]:.2f}, RL-only "
              f"{target:.2f} (mean of {len(args.seeds)} seeds); {verdict}; bootstrap over seeds: 95% interval "
              f"{bounds}, IN-RIL not reaching it in "
              f"{interval['share_not_reached']:.0%} and RL-only gaining nothing in {interval['share_no_gain']:.0%} "
              "of the resamples")
        write_row(args.out / "rows.jsonl", "sample_efficiency", {
            "task": task, "seeds": args.seeds, "iterations": args.iterations, "env_steps": float(steps[-1]),
            "base_success": float(mean["frozen"][0]), "inril_final": float(mean["bc"][-1]),
            "rl_only_final": float(target), "final_per_seed": {m: r[:, -1].tolist() for m, r in success.items()},
            "steps_ratio": ratio, "steps_ratio_bootstrap": interval})
    plot_success_curves({task: {MODES[mode]: runs for mode, runs in by_mode.items()} for task, by_mode in curves.items()},
                        args.out / "success_vs_steps.png")
    print(f"curves: {args.out / 'curves.json'}, plot: {args.out / 'success_vs_steps.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
