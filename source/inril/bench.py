"""Shared pieces of scripts/bench/*: the cached base for a task, and result rows.

Benchmarks compare two configurations side by side in one process (interleaved, same seeds,
same base) and print their ratio, so machine load and speed cancel out of the number.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import datetime
from pathlib import Path

import torch

from inril.data.demos import DemoSet
from inril.pipeline import TrainJob
from inril.policies.checkpoint import LoadedPolicy
from inril.tasks.registry import get_task
from inril.train import check_base_checkpoint, compose_job, prepare_base


def job_and_base(task: str, preset: str, overrides: list[str], device: str = "cpu") -> tuple[TrainJob, LoadedPolicy, DemoSet | None]:
    """Compose a train job as train_residual.py would and get its (cached) demos and base."""
    args = argparse.Namespace(task=task, preset=preset, base_policy=None, num_envs=None, seed=None, max_iterations=None,
                              base_checkpoint=None)
    job = compose_job(args, overrides)
    obs_dim = get_task(task).obs_dim
    loaded, demos = prepare_base(job, check_base_checkpoint(job, obs_dim), device)
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
