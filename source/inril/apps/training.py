"""The one program behind scripts/train_residual.py (embedded backend) and scripts/train_full_network.py:
check every input, run the cached stages, train (or resume), evaluate and write the summary.

What differs between the two separation modes is a `Mode` (inril.apps.residual.RESIDUAL,
inril.apps.full_network.FULL_NETWORK): its own overrides, which demos it needs, and the trainer it builds.
Both trainers offer the same face: `learn(n)`, `iterations_done`, `load(path, map_location)`,
`evaluate_fn(trainer, video=None, num_episodes=None)`, `eval_history`, and write checkpoints in one format
(inril.algos.common.checkpoints), so both runs resume the same way after a crash.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Protocol

import torch

from inril.algos.bc import NonFiniteLossError
from inril.algos.common.checkpoints import newest_valid_checkpoint, remove_partial_checkpoints, set_aside_newer
from inril.algos.common.step_guard import NonFiniteTrainingError
from inril.data.demos import DemoError, DemoSet
from inril.pipeline.compose import JobFlags, base_reads, check_base_checkpoint, check_demos
from inril.pipeline.config import TrainJob
from inril.pipeline.runs import (
    check_log_root,
    check_resume_matches,
    find_resume_dir,
    new_run_dir,
    paired_with_base,
    write_job,
    write_summary,
)
from inril.pipeline.stages import prepare_base
from inril.policies.checkpoint import CheckpointError, LoadedPolicy
from inril.utils.cli import fail
from inril.utils.config import ConfigError, to_yaml
from inril.utils.cpu import limit_cpu_threads
from inril.utils.distributed import from_rank0, init_distributed, rank0_first

INPUT_ERRORS = (ValueError, ConfigError, DemoError, CheckpointError)


class Mode(Protocol):
    """One separation mode as a program: `kind` names its runs ("residual", "full_network")."""

    kind: str
    run_suffix: str  # of its run directories' names: <date>[_<run_suffix>][_<run_name>]
    distributed: bool  # whether --distributed (torchrun) is supported

    def compose(self, flags: JobFlags, overrides: list[str]) -> tuple[TrainJob, Any]:
        """The job and the mode's own config (None where it has none). Raises ConfigError."""

    def job_dict(self, job: TrainJob, extra: Any) -> dict:
        """What job.json holds (and a resume must match)."""

    def needs_demos(self, job: TrainJob, extra: Any) -> bool:
        """Whether training needs the demos (IL updates)."""

    def build(self, job: TrainJob, extra: Any, base: LoadedPolicy, demos: DemoSet | None, run_dir: Path,
              device: str, rank: int) -> Any:
        """The trainer, writing into run_dir."""

    def summary(self, job: TrainJob, extra: Any) -> dict:
        """The mode's own entries of summary.json."""

    def describe(self, job: TrainJob, extra: Any, trainer: Any) -> tuple[str, str]:
        """What is trained and how, e.g. ("residual PPO", "base: bc"); printed and stored in the summary."""


# A resume may extend the run and move the IL updates on or off the side stream (the same updates).
RESUME_MAY_CHANGE = ("agent.max_iterations", "agent.il_side_stream")


def check_resume(run: Path, mode: Mode, job: TrainJob, extra: Any) -> None:
    """Refuse to resume `run` with another config than its job.json's (options added since stand at their
    defaults). Raises ValueError / ConfigError."""
    defaults = mode.job_dict(TrainJob(), None if extra is None else type(extra)())
    check_resume_matches(run, mode.job_dict(job, extra), defaults, RESUME_MAY_CHANGE)


def run_training(mode: Mode, args: argparse.Namespace, overrides: list[str]) -> int:
    """The program; returns its exit code (2: a bad input, one `error:` line, nothing written; 1: training
    diverged)."""
    started = time.perf_counter()
    args.device = args.device or "cpu"
    try:
        job, extra = mode.compose(JobFlags.from_args(args), overrides)
        loaded = check_base_checkpoint(job)
        if job.base.demos is not None:
            check_demos(Path(job.base.demos), job, *base_reads(job, loaded))
        check_log_root(Path(args.log_root))
        resume = find_resume_dir(args.resume, args.log_root, job.env.task, mode.kind)
        resume_checkpoint = None
        if resume is not None:
            check_resume(resume, mode, job, extra)
            # On the job's device: a run written on a GPU resumes on a CPU. Skips corrupt newer ones with a warning.
            resume_checkpoint = newest_valid_checkpoint(str(resume), map_location=args.device)
        if args.distributed and not mode.distributed:
            raise ValueError(f"--distributed is not supported by {mode.kind.replace('_', '-')} training")
    except INPUT_ERRORS as exc:
        return fail(str(exc))

    rank = 0
    if args.distributed:
        try:
            rank, world, args.device = init_distributed(args.device)
        except ValueError as exc:
            return fail(str(exc))
        print(f"[inril] rank {rank} of {world} on {args.device}")
    limit_cpu_threads(args.device)
    torch.manual_seed(job.env.seed)
    try:  # rank 0 fills the cache
        loaded, demos = rank0_first(lambda: prepare_base(job, loaded, args.device, mode.needs_demos(job, extra)))
    except NonFiniteLossError as exc:
        return fail(str(exc), code=1)
    # Rank 0 reserves the run directory; the other ranks write into the same one.
    run_dir = from_rank0(resume or (new_run_dir(args.log_root, job.env.task, mode.run_suffix, args.run_name)
                                    if rank == 0 else None))
    if rank == 0:
        write_job(run_dir, to_yaml(job) + ("" if extra is None else "---\n" + to_yaml(extra)), mode.job_dict(job, extra))
    trainer = mode.build(job, extra, loaded, demos, run_dir, args.device, rank)
    what, how = mode.describe(job, extra, trainer)
    print(f"[inril] stage 3/3: {what} ({how}) with {job.env.num_envs} envs -> {run_dir}")
    base_result = None
    if resume is not None:
        for partial in remove_partial_checkpoints(str(resume)):
            print(f"[inril] removed {partial}, a checkpoint the interrupted run did not finish writing")
        for aside in set_aside_newer(str(resume), resume_checkpoint):
            print(f"[inril] moved a checkpoint that does not verify to {aside}; the resumed run writes new files")
        trainer.load(resume_checkpoint, map_location=args.device)
        print(f"[inril] resumed {resume_checkpoint} at iteration {trainer.iterations_done}")
    elif rank == 0:
        base_result = trainer.evaluate_fn(trainer, num_episodes=job.agent.final_eval_episodes)
        print(f"[inril] base policy alone: {base_result.summary()}")
    remaining = job.agent.max_iterations - trainer.iterations_done
    if remaining > 0:
        try:
            trainer.learn(remaining)
        except NonFiniteTrainingError as exc:
            return fail(str(exc), code=1)
    if rank != 0:
        return 0
    video = run_dir / "videos" / "final_eval.mp4" if args.video else None
    final = trainer.evaluate_fn(trainer, video, num_episodes=job.agent.final_eval_episodes)
    print(f"[inril] after {what}: {final.summary()}" + (f"; video {video}" if video else ""))
    summary = {"task": job.env.task, "preset": args.preset, "mode": mode.kind, "training": f"{what} ({how})",
               **mode.summary(job, extra),
               "base": None if base_result is None else base_result.as_dict(), "final": final.as_dict(),
               "vs_base": paired_with_base(base_result, final), "eval_history": trainer.eval_history,
               "iterations": trainer.iterations_done, "wall_time_s": time.perf_counter() - started}
    write_summary(run_dir, summary)
    return 0
