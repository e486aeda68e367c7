"""Shared pieces of scripts/bench/*: the cached base for a task, and result rows.

Benchmarks compare two configurations side by side in one process (interleaved, same seeds,
same base) and print their ratio, so machine load and speed cancel out of the number.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime
from pathlib import Path

import torch

from inril.data.demos import DemoSet
from inril.pipeline.compose import JobFlags, check_base_checkpoint, compose_job
from inril.pipeline.config import TrainJob
from inril.pipeline.stages import prepare_base
from inril.policies.checkpoint import LoadedPolicy


def bench_job(task: str, preset: str, overrides: list[str], base_policy: str | None = None) -> TrainJob:
    """Compose a train job as train_residual.py would, `base_policy` as its --base_policy (no other flags set).
    Raises ConfigError for a bad override."""
    return compose_job(JobFlags(task=task, preset=preset, base_policy=base_policy), overrides)


def job_and_base(task: str, preset: str, overrides: list[str], device: str = "cpu",
                 base_policy: str | None = None) -> tuple[TrainJob, LoadedPolicy, DemoSet | None]:
    """`bench_job`'s job and its (cached) demos and base."""
    job = bench_job(task, preset, overrides, base_policy)
    loaded, demos = prepare_base(job, check_base_checkpoint(job), device)
    return job, loaded, demos


def write_row(path: str | Path, name: str, row: dict) -> Path:
    """Append one JSON row (with machine and time) to a .jsonl file and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"bench": name, "time": datetime.now().isoformat(timespec="seconds"), "machine": platform.node(),
           "cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(), **row}
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return path


def plot_success_curves(panels: dict[str, dict[str, list]], path: str | Path) -> None:
    """One panel per title: for each label, the mean success (band: +-1 std over runs) against env steps.
    Each run is a list of (env_steps, success_rate) at the same steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (title, by_label) in zip(axes[0], panels.items()):
        for label, runs in by_label.items():
            steps = np.array([s for s, _ in runs[0]])
            success = np.array([[v for _, v in run] for run in runs])
            mean, std = success.mean(0), success.std(0)
            ax.plot(steps, mean, marker="o", label=f"{label} (n={len(runs)})")
            ax.fill_between(steps, mean - std, mean + std, alpha=0.15)
        ax.set(title=title, xlabel="env steps", ylabel="success rate", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
