"""Run directories: where a run is written, which run a resume continues (and whether its config allows
it), and the summary written at the end."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from inril.algos.common.checkpoints import latest_checkpoint
from inril.eval import EvalResult, compare
from inril.utils.config import ConfigError
from inril.utils.io import atomic_write, reserve_dir


def check_log_root(log_root: Path) -> None:
    """Fail before any stage (demos and pre-training can take long) if runs cannot be written under log_root.
    Raises ValueError."""
    anchor = next(p for p in (log_root.absolute(), *log_root.absolute().parents) if p.exists())
    if not anchor.is_dir() or not os.access(anchor, os.W_OK):
        raise ValueError(f"cannot write runs under {log_root}: {anchor} is not a writable directory")


def new_run_dir(log_root: str | Path, task: str, kind: str = "", run_name: str = "") -> Path:
    """Create and return <log_root>/inril/<task>/<date>[_<kind>][_<run_name>], with a _<n> suffix when a run
    started in the same second holds that name (`reserve_dir`)."""
    name = "_".join(part for part in (datetime.now().strftime("%Y-%m-%d_%H-%M-%S"), kind, run_name) if part)
    return reserve_dir(Path(log_root) / "inril" / task, name)


def find_resume_dir(resume: str | None, log_root: str | Path, task: str, kind: str = "residual") -> Path | None:
    """The run a `--resume` continues: the given run directory, or for 'latest' the newest run of `task` of this
    `kind` ("residual" or "full_network", as `run_kind` reads it) holding a checkpoint. Raises ValueError."""
    if resume is None:
        return None
    if resume != "latest":
        run = Path(resume)
        if latest_checkpoint(str(run)) is None:
            raise ValueError(f"cannot resume: {run} holds no model_<it>.pt checkpoint")
        return run
    task_dir = Path(log_root) / "inril" / task
    runs = sorted(p for p in task_dir.glob("*") if latest_checkpoint(str(p)) is not None and run_kind(p) == kind) \
        if task_dir.is_dir() else []
    if not runs:
        raise ValueError(f"cannot resume: no {kind.replace('_', '-')} run with a checkpoint under {task_dir}")
    return runs[-1]


def run_kind(run: Path) -> str | None:
    """"full_network" when the run's job.json holds a `full_network` section, "residual" otherwise; None
    without a readable job.json."""
    try:
        return "full_network" if "full_network" in json.loads((run / "job.json").read_text()) else "residual"
    except (OSError, json.JSONDecodeError):
        return None


def write_job(run_dir: Path, job_yaml: str, job_dict: dict) -> None:
    """config.yaml (to read) and job.json (what a resume checks against), atomically: a run killed while
    rewriting them on resume must stay resumable."""
    atomic_write(run_dir / "config.yaml", lambda tmp: tmp.write_text(job_yaml))
    atomic_write(run_dir / "job.json", lambda tmp: tmp.write_text(json.dumps(job_dict, indent=1)))


def check_resume_matches(run: Path, job_dict: dict, defaults: dict, may_change: tuple[str, ...] = ()) -> None:
    """Refuse to resume `run` with a config other than its job.json's. `job_dict`: the current job as a JSON
    dict; `defaults`: the default job's, standing in for options added after the run was made; `may_change`:
    dotted keys a resume may change (the iteration count, say). Raises ValueError / ConfigError."""
    try:
        saved = _flatten(json.loads((run / "job.json").read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot resume {run}: its job.json is missing or unreadable ({exc})") from None
    current, defaults = _flatten(json.loads(json.dumps(job_dict))), _flatten(json.loads(json.dumps(defaults)))
    diff = sorted(k for k in {*saved, *current} if k not in may_change
                  and saved.get(k, defaults.get(k)) != current.get(k))
    if diff:
        raise ConfigError(f"cannot resume {run}: the config differs from the run's in {diff}")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def paired_with_base(base: EvalResult | None, final: EvalResult) -> dict | None:
    """Print and return how the final policy fares against the base on the same episodes (None after a
    resume, whose base evaluation belongs to the first process)."""
    if base is None:
        return None
    paired = compare(base, final)
    print(f"[inril] against the base on the same {final.episodes} episodes: {paired.summary()}")
    return paired.as_dict()


def write_summary(run_dir: Path, summary: dict) -> None:
    """Write `summary` atomically as `run_dir`/summary.json and print where it is."""
    atomic_write(run_dir / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    print(f"[inril] done in {summary['wall_time_s'] / 60:.1f} min; summary: {run_dir / 'summary.json'}")
