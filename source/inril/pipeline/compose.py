"""A job from a command line: the preset, the flags and the Hydra overrides, checked against the task,
the base checkpoint and the demos before any stage starts, so that a bad command fails in a second with
one line and writes nothing."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

from inril.data.demo_reader import load_demos
from inril.data.demos import DemoError, DemoSet
from inril.data.layout import Layout, LayoutError, column_index
from inril.pipeline.config import ACTION_DIM, TrainJob
from inril.pipeline.presets import make_job
from inril.policies import make_policy_config
from inril.policies.checkpoint import CheckpointError, LoadedPolicy, load_policy
from inril.tasks.registry import get_task
from inril.utils.config import ConfigError, apply_overrides, set_fields


@dataclass
class JobFlags:
    """The command-line flags of scripts/train_*.py that shape the job (None: the preset's value)."""

    task: str = "OneLeg-Low"
    preset: str = "laptop"
    base_policy: str | None = None
    num_envs: int | None = None
    seed: int | None = None
    max_iterations: int | None = None
    base_checkpoint: str | None = None
    filter_key: str | None = None
    val_filter_key: str | None = None
    keep_failures: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JobFlags:
        """The flags from parsed command-line arguments (one attribute per field)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def compose_job(flags: JobFlags, overrides: list[str]) -> TrainJob:
    """The preset's job for the task, then the overrides (`env.num_envs=64`), then the flags, which win and
    never go through the override grammar (any path works as --base_checkpoint). Raises ConfigError."""
    bad = [o for o in overrides if o.startswith("-")]
    if bad:
        raise ConfigError(f"unknown option(s) {bad}; overrides look like env.num_envs=64")
    job = make_job(flags.preset, flags.task, get_task(flags.task).obs_dim, ACTION_DIM, flags.base_policy)
    values = {"env.num_envs": flags.num_envs, "env.seed": flags.seed, "agent.max_iterations": flags.max_iterations,
              "base.checkpoint": flags.base_checkpoint, "base.filter_key": flags.filter_key,
              "base.val_filter_key": flags.val_filter_key, "base.keep_failed_demos": flags.keep_failures or None}
    job = apply_overrides(job, overrides, name="inril_train_residual")
    job = set_fields(job, {key: value for key, value in values.items() if value is not None})
    if job.env.task != flags.task:
        raise ConfigError("set the task with --task, not env.task")
    if not isinstance(job.base.policy, type(make_policy_config(job.base.policy_name, 1, 1))):
        raise ConfigError("set the base policy with --base_policy, not base.policy_name")
    return job


def task_layout(job: TrainJob) -> Layout:
    """The (term, size) order of the task's policy observations."""
    return list(get_task(job.env.task).observation_layout)


def check_base_checkpoint(job: TrainJob) -> LoadedPolicy | None:
    """The job's base checkpoint, loaded and checked against the task (name, dims, observation terms by name),
    or None when the job pre-trains its base. Raises CheckpointError."""
    if job.base.checkpoint is None:
        return None
    loaded = load_policy(job.base.checkpoint)
    if loaded.task is not None and loaded.task != job.env.task:
        raise CheckpointError(f"base checkpoint {job.base.checkpoint} was trained on {loaded.task}, not {job.env.task}")
    cfg, obs_dim = loaded.policy.cfg, get_task(job.env.task).obs_dim
    if (cfg.obs_dim, cfg.action_dim) != (obs_dim, ACTION_DIM):
        raise CheckpointError(f"base checkpoint {job.base.checkpoint} expects obs {cfg.obs_dim} / action "
                              f"{cfg.action_dim} dims; {job.env.task} has {obs_dim} / {ACTION_DIM}")
    try:  # the same terms in another order are fine: the envs are reordered into the base's layout
        column_index(task_layout(job), loaded.obs_layout, f"task {job.env.task}",
                     f"base checkpoint {job.base.checkpoint}")
    except LayoutError as exc:
        raise CheckpointError(str(exc)) from None
    return loaded


def base_reads(job: TrainJob, loaded: LoadedPolicy | None) -> tuple[Layout, str]:
    """The observation layout the base reads, and how to name it: the base checkpoint's, or the task's for a
    base pre-trained here (its demos are put in the task's layout first)."""
    if loaded is None:
        return task_layout(job), f"task {job.env.task}"
    return loaded.obs_layout, f"base checkpoint {job.base.checkpoint}"


def check_demos(path: Path, job: TrainJob, layout: Layout, reader: str) -> DemoSet:
    """The demos at `path` with their observation terms in `layout` (what `reader`, the base, reads),
    reordered by name. Raises DemoError naming both layouts when a term is missing or differs in size."""
    demos = load_demos(path, only_success=not job.base.keep_failed_demos, filter_key=job.base.filter_key,
                       val_filter_key=job.base.val_filter_key).in_layout(layout, reader)
    if demos.action_dim != ACTION_DIM:
        raise DemoError(f"{path}: demos have {demos.action_dim}-D actions but {job.env.task} has {ACTION_DIM}")
    return demos
