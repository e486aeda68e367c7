"""The main job over seeds: each seed's base and final success on its 512 paired held-out episodes, and the mean and
spread over seeds (one run is not a result: outcomes diverge with the seed and with the machine's floating point).

    python scripts/bench/main_job_seeds.py [--seeds 0 1 2] [--out logs/bench/main_job_seeds] [train_residual args ...]
    python scripts/bench/main_job_seeds.py --runs RUN_DIR [RUN_DIR ...] [--out DIR]   # finished runs

The first form runs `./inril.sh main --seed S` (scripts/train_residual.py --task OneLeg-Low --preset laptop, plus any
further train_residual.py arguments, e.g. `--base_policy diffusion`) for each seed in turn, each in a fresh process
as a user runs it, with its runs under DIR/seed<S>. `--seed` seeds the RL stage (env, residual, IL batches) and the
held-out episodes (env seed S + 10000); the cached base is the same for every seed. The second form reads runs that
have finished. Both print a table (per seed: base, final, episodes gained and lost with the exact McNemar p-value,
wall time) and the mean and sample standard deviation over seeds, and write DIR/seeds.json and DIR/seeds.png (the
periodic evaluations, mean and spread over seeds).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from inril.apps.bench import plot_success_curves
from inril.utils.cli import fail

SCRIPT = Path(__file__).resolve().parents[1] / "train_residual.py"
MAIN_JOB = ["--task", "OneLeg-Low", "--preset", "laptop"]  # ./inril.sh main


def run_seed(seed: int, log_root: Path, extra: list[str]) -> Path:
    """Run the main job with `--seed seed` under `log_root`; return its run directory. Raises RuntimeError when the
    run fails."""
    done = subprocess.run([sys.executable, str(SCRIPT), *MAIN_JOB, "--seed", str(seed), "--log_root", str(log_root),
                           *extra], check=False)
    runs = sorted(log_root.glob("inril/*/*/summary.json"))
    if done.returncode != 0 or not runs:
        raise RuntimeError(f"the main job with seed {seed} failed (exit {done.returncode}); its log is above")
    return runs[-1].parent


def read_run(run: Path) -> dict:
    """One seed's row from a finished run: its seed, base and final success, the paired comparison, wall time and
    the periodic evaluations (`curve`: [env steps, success]).
    Raises ValueError for a run without a summary or without the base evaluation (a resumed run)."""
    try:
        summary = json.loads((run / "summary.json").read_text())
        job = json.loads((run / "job.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{run} is not a finished run: {exc}") from None
    if summary.get("base") is None or summary.get("vs_base") is None:
        raise ValueError(f"{run} has no base evaluation to pair with (a resumed run): use a run that started fresh")
    return {"run": str(run), "seed": job["env"]["seed"], "task": summary["task"], "base_policy": job["base"]["policy_name"],
            "base": summary["base"]["success_rate"], "final": summary["final"]["success_rate"],
            "episodes": int(summary["final"]["episodes"]), **summary["vs_base"],
            "wall_time_min": summary["wall_time_s"] / 60,
            "curve": [[row["env_steps"], row["success_rate"]] for row in summary["eval_history"]]}


def aggregate(rows: list[dict]) -> dict:
    """Mean and sample standard deviation (ddof 1; 0 for one seed) over seeds of base, final and final - base."""
    values = {"base": [r["base"] for r in rows], "final": [r["final"] for r in rows],
              "gain": [r["final"] - r["base"] for r in rows], "wall_time_min": [r["wall_time_min"] for r in rows]}
    return {name: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                   "min": float(np.min(v)), "max": float(np.max(v))} for name, v in values.items()}


def report(rows: list[dict], stats: dict) -> str:
    lines = ["| seed | base | final | gained / lost | McNemar p | wall |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['seed']} | {r['base']:.1%} | {r['final']:.1%} | {r['gained']} / {r['lost']} | {r['p_value']:.2g} | "
              f"{r['wall_time_min']:.1f} min |" for r in rows]
    pct = lambda s: f"{s['mean']:.1%} +- {s['std']:.1%} (range {s['min']:.1%} to {s['max']:.1%})"  # noqa: E731
    lines += ["", f"over {len(rows)} seeds (mean +- sample std): base {pct(stats['base'])}; final {pct(stats['final'])}; "
              f"final - base {stats['gain']['mean']:+.1%} +- {stats['gain']['std']:.1%}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", type=Path, help="aggregate these finished runs instead of training")
    parser.add_argument("--out", type=Path, default=Path("logs/bench/main_job_seeds"))
    args, extra = parser.parse_known_args(argv)
    if args.runs and extra:
        return fail(f"--runs reads finished runs; train_residual arguments {extra} would not apply")
    if len(set(args.seeds)) != len(args.seeds):
        return fail(f"--seeds must differ, got {args.seeds}")
    try:
        runs = args.runs or [run_seed(seed, args.out / f"seed{seed}", extra) for seed in args.seeds]
        rows = [read_run(run) for run in runs]
    except RuntimeError as exc:  # a seed's training failed
        return fail(str(exc), code=1)
    except ValueError as exc:  # a run given with --runs is not usable
        return fail(str(exc))
    if len({(r["task"], r["base_policy"]) for r in rows}) > 1:
        return fail("the runs differ in task or base policy: " + ", ".join(f"{r['task']}/{r['base_policy']}" for r in rows))
    stats = aggregate(rows)
    print(report(rows, stats))
    args.out.mkdir(parents=True, exist_ok=True)
    written = [args.out / "seeds.json"]
    written[0].write_text(json.dumps({"runs": rows, "over_seeds": stats}, indent=1))
    if len({tuple(step for step, _ in r["curve"]) for r in rows}) == 1:  # runs of one evaluation schedule: one band
        written.append(args.out / "seeds.png")
        plot_success_curves({f"{rows[0]['task']}, {rows[0]['base_policy']} base: the main job over seeds":
                             {"periodic evaluations": [r["curve"] for r in rows]}}, written[1])
    print("wrote " + " and ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
