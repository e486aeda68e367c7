"""The paper's Table 1 on our tasks: closed-loop success of BC-pre-trained bases, one cell per task and base.

    python scripts/bench/pretraining_table.py [--tasks PegInHole-Low ...] [--bases gaussian gaussian_chunked diffusion]
        [--episodes 512] [--out docs/results/pretraining_table.json] [--markdown] [overrides ...]

Each base is the laptop preset's (`--preset`; `inril.pipeline.base_preset`): `gaussian` is the Gaussian MLP
without chunking (one action per query), `gaussian_chunked` the same MLP predicting 8-action chunks of which 4
are executed, `diffusion` the MLP-denoiser diffusion policy (8-action chunks, 4 executed, 8 DDIM steps). All are
pre-trained by BC on the same 50 scripted demos of the task (`base.num_demos`; the pipeline holds a tenth of
them out for its validation loss) through the pipeline's cache (`~/.cache/inril`, as train_residual.py would:
a base already there is reused, not re-trained), then evaluated deterministically on `--episodes` held-out
episodes of env seed `--seed`: the same episodes for every base of a task, so the cells of a row are paired.

The JSON (`--out`) holds one record per cell (task, base, demos, episodes, successes, rate, 95% Wilson interval,
BC wall time, seeds, every episode's outcome, the command). It is rewritten after each cell and read first:
cells already in it are skipped, so a later run completes the table (their episode count is kept, whatever
`--episodes` says now). The Markdown table (tasks as rows, bases as columns, "rate [lo, hi] (episodes)") is
printed from the JSON at the end, after each base's paired comparison with the chunked Gaussian (episodes
gained and lost, exact McNemar p); `--markdown` only prints the table. Trailing Hydra overrides (`base.*`) adjust
every base's train job (they are recorded with the cell; the test uses them to make tiny bases).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from inril.apps.bench import bench_job, job_and_base
from inril.backends.mujoco import make_env
from inril.eval import EvalResult, compare, evaluate_policy
from inril.pipeline.cache import base_dir, demos_path
from inril.pipeline.compose import base_reads
from inril.pipeline.presets import BASE_POLICIES
from inril.pipeline.stages import ensure_demos
from inril.tasks.registry import get_task, list_tasks
from inril.utils.cli import fail
from inril.utils.config import ConfigError
from inril.utils.cpu import limit_cpu_threads
from inril.utils.io import atomic_write

BASES = {"gaussian": "Gaussian", "gaussian_chunked": "Gaussian, chunked", "diffusion": "diffusion"}
FAMILIES = ("PegInHole", "OneLeg", "Lamp", "RoundTable", "MugRack")  # the table's row order within a level


def default_tasks() -> list[str]:
    """Every registered task, Low before Med, families in FAMILIES order (unknown families last)."""
    def key(task: str) -> tuple[str, int, str]:
        family, level = task.rsplit("-", 1)
        return level, FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), family
    return sorted(list_tasks(), key=key)


def load_cells(path: Path) -> list[dict]:
    """The records of `path` ([] when absent); raises ValueError on a file that is not this script's JSON."""
    if not path.exists():
        return []
    try:
        cells = json.loads(path.read_text())["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a pretraining_table JSON ({exc})") from None
    if not isinstance(cells, list) or not all(isinstance(c, dict) and {"task", "base"} <= c.keys() for c in cells):
        raise ValueError(f"{path}: 'cells' must be a list of records with a task and a base")
    return cells


def save_cells(path: Path, cells: list[dict]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps({"cells": cells}, indent=1) + "\n"))


def markdown_table(cells: list[dict], tasks: list[str] | None = None, bases: list[str] | None = None) -> str:
    """Tasks as rows, bases as columns, each cell "rate [lo, hi] (episodes)" in percent; "-" where not measured.
    Rows and columns default to those in `cells` (tasks in `default_tasks` order, bases in BASES order)."""
    by_key = {(c["task"], c["base"]): c for c in cells}
    order = {t: i for i, t in enumerate(default_tasks())}
    tasks = tasks or sorted({c["task"] for c in cells}, key=lambda t: (order.get(t, len(order)), t))
    bases = bases or [b for b in BASES if any(c["base"] == b for c in cells)]
    lines = ["| task | " + " | ".join(BASES.get(b, b) for b in bases) + " |", "|---" * (len(bases) + 1) + "|"]
    for task in tasks:
        row = []
        for base in bases:
            c = by_key.get((task, base))
            row.append("-" if c is None else f"{100 * c['rate']:.1f}% [{100 * c['ci_low']:.1f}, "
                                             f"{100 * c['ci_high']:.1f}] ({c['episodes']})")
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def paired_lines(cells: list[dict], reference: str = "gaussian_chunked") -> list[str]:
    """Per task, every other base against `reference` (the laptop preset's default base) on the same episodes:
    episodes gained and lost and the exact McNemar p-value (`inril.eval.compare`)."""
    by_key = {(c["task"], c["base"]): EvalResult(tuple(bool(o) for o in c["outcomes"]), 0.0, 0.0) for c in cells}
    lines = []
    for task in dict.fromkeys(c["task"] for c in cells):
        if (task, reference) in by_key:
            lines += [f"{task} {base} vs {reference}: {compare(by_key[task, reference], result).summary()}"
                      for (t, base), result in by_key.items() if t == task and base != reference]
    return lines


def measure_cell(task: str, base: str, args: argparse.Namespace, overrides: list[str]) -> dict:
    """Pre-train (or take from the cache) one base and evaluate it; the cell's record."""
    job = bench_job(task, args.preset, overrides, base)
    if job.base.checkpoint is not None:
        raise ValueError("the table pre-trains its bases; base.checkpoint cannot be set")
    demos = Path(job.base.demos) if job.base.demos is not None else demos_path(job)
    if not demos.exists():
        ensure_demos(job, *base_reads(job, None))  # collected apart, so that bc_wall_s is BC alone
    checkpoint = base_dir(job, demos) / "policy.pt"
    base_cached = checkpoint.exists()
    start = time.perf_counter()
    job, loaded, _ = job_and_base(task, args.preset, overrides, args.device, base_policy=base)
    bc_s = time.perf_counter() - start
    num_envs = min(args.num_envs, args.episodes)
    start = time.perf_counter()
    env = make_env(task, num_envs, args.seed, args.device, num_threads=args.env_threads)
    try:
        result = evaluate_policy(loaded.policy.eval(), env, args.episodes, len(get_task(task).pairs))
    finally:
        env.close()
    eval_s = time.perf_counter() - start
    low, high = result.confidence_interval()
    return {
        "task": task, "base": base, "n_demos": job.base.num_demos, "val_fraction": job.base.pretrain.val_fraction,
        "episodes": result.episodes, "successes": result.successes, "rate": result.success_rate,
        "ci_low": low, "ci_high": high, "mean_length": result.mean_length,
        "bc_wall_s": None if base_cached else bc_s, "base_cached": base_cached, "eval_wall_s": eval_s,
        "eval_seed": args.seed, "num_envs": num_envs, "bc_seed": job.base.pretrain.seed,
        "demo_seed": job.base.demo_seed, "bc_steps": job.base.pretrain.steps, "preset": args.preset,
        "overrides": overrides, "checkpoint": str(checkpoint), "outcomes": [int(o) for o in result.outcomes],
        "command": shlex.join(["scripts/bench/pretraining_table.py", *args.argv]),
        "time": datetime.now().isoformat(timespec="seconds"), "machine": platform.node(),
        "cpu_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=None, help="task ids (default: all, Low then Med)")
    parser.add_argument("--bases", nargs="+", default=list(BASES), help=f"any of {', '.join(BASES)}")
    parser.add_argument("--episodes", type=int, default=512, help="held-out evaluation episodes per cell")
    parser.add_argument("--num_envs", type=int, default=128, help="evaluation envs (at most --episodes)")
    parser.add_argument("--env_threads", type=int, default=0, help="MuJoCo stepping threads (0: one per core)")
    parser.add_argument("--seed", type=int, default=20_000, help="env seed of the evaluation episodes")
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("docs/results/pretraining_table.json"))
    parser.add_argument("--markdown", action="store_true", help="only print the table of --out")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of every base's train job (base.*)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    tasks = args.tasks or default_tasks()
    known = set(list_tasks())
    if bad := [t for t in tasks if t not in known]:
        return fail(f"unknown task(s) {bad}; known tasks: {', '.join(list_tasks())}")
    if bad := [b for b in args.bases if b not in BASES or b not in BASE_POLICIES]:
        return fail(f"unknown base(s) {bad}; known bases: {', '.join(BASES)}")
    if args.episodes < 1 or args.num_envs < 1 or args.env_threads < 0:
        return fail("--episodes and --num_envs must be >= 1, --env_threads >= 0")
    try:
        cells = load_cells(args.out)
    except ValueError as exc:
        return fail(str(exc))
    if args.markdown:
        print(markdown_table(cells))
        return 0
    limit_cpu_threads(args.device)

    todo = [(t, b) for t in tasks for b in args.bases]
    for i, (task, base) in enumerate(todo, 1):
        done = next((c for c in cells if (c["task"], c["base"]) == (task, base)), None)
        if done is not None:
            print(f"[table {i}/{len(todo)}] {task} {base}: in {args.out} ({done['successes']}/{done['episodes']}), "
                  "skipped", flush=True)
            continue
        print(f"[table {i}/{len(todo)}] {task} {base}: pre-training (or cache) and {args.episodes} episodes ...",
              flush=True)
        try:
            cell = measure_cell(task, base, args, args.overrides)
        except (ConfigError, ValueError) as exc:
            return fail(str(exc))
        cells.append(cell)
        save_cells(args.out, cells)
        bc = "cached base" if cell["base_cached"] else f"BC {cell['bc_wall_s']:.0f} s"
        print(f"[table {i}/{len(todo)}] {task} {base}: {cell['successes']}/{cell['episodes']} = {cell['rate']:.1%} "
              f"[{cell['ci_low']:.1%}, {cell['ci_high']:.1%}] ({bc}, evaluation {cell['eval_wall_s']:.0f} s)",
              flush=True)
    print("\n".join(paired_lines(cells)))
    print(markdown_table(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
