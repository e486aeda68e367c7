"""Residual PPO with IN-RIL's network separation as a program (scripts/train_residual.py, embedded backend),
and the runner over any backend's env (the Isaac Lab branch uses `runner_on` too)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rsl_rl.env import VecEnv

from inril.algos.network_separation.config import AgentConfig
from inril.algos.network_separation.runner import InrilRunner
from inril.data.demos import DemoSet
from inril.data.layout import Layout
from inril.eval import EvalResult, evaluate_residual
from inril.pipeline.compose import JobFlags, compose_job, task_layout
from inril.pipeline.config import TrainJob
from inril.pipeline.envs import evaluation_env, for_base, train_env
from inril.pipeline.stages import split_demos
from inril.policies.base import Policy
from inril.policies.checkpoint import LoadedPolicy
from inril.residual.env import ResidualVecEnv
from inril.tasks.registry import get_task


def runner_on(env: VecEnv, job: TrainJob, agent: AgentConfig, base: Policy, demos: DemoSet | None,
              log_dir: str | None, device: str, seed: int, evaluate=None,
              obs_layout: Layout | None = None) -> InrilRunner:
    """rsl-rl-lib's runner with IN-RIL attached, over the residual wrapper of any backend's env. `obs_layout`
    is the base's observation layout (default: the task's); the env is reordered into it and `demos` are in it."""
    obs_layout = obs_layout or task_layout(job)
    train_demos, val_demos = split_demos(job, base, demos, device)
    return InrilRunner(ResidualVecEnv(for_base(env, job, obs_layout), base, agent.residual), agent, train_demos,
                       val_demos, log_dir, device, evaluate, seed, task=job.env.task, obs_layout=obs_layout)


def build_runner(job: TrainJob, base: Policy, demos: DemoSet | None, log_dir: str | None, device: str,
                 rank: int = 0, obs_layout: Layout | None = None) -> InrilRunner:
    """Stage 3 on the embedded backend, with the evaluation the runner runs (fresh envs with seeds
    disjoint from training, the same every time). `obs_layout`: as for runner_on."""
    num_pairs = len(get_task(job.env.task).pairs)
    obs_layout = obs_layout or task_layout(job)

    def evaluate(runner: InrilRunner, video: Path | None = None, num_episodes: int | None = None) -> EvalResult:
        """The runner's periodic and final evaluation: base + mean residual, deterministic, in fresh evaluation
        envs (`num_episodes`, default agent.eval_episodes; `video`: an MP4 of the first envs' first episode)."""
        with evaluation_env(job, device, obs_layout, video) as env:
            residual_env = ResidualVecEnv(env, runner.env.base, job.agent.residual)
            return evaluate_residual(runner.alg.get_policy(), residual_env, num_episodes or job.agent.eval_episodes,
                                     num_pairs)

    # Each process of a multi-process run steps its own envs: seed + rank.
    return runner_on(train_env(job, device, rank), job, job.agent, base, demos, log_dir, device, job.env.seed + rank,
                     evaluate, obs_layout)


class ResidualMode:
    """Network separation: PPO on a residual over the base, IL updates on the base (agent.base=bc) or none
    (agent.base=frozen: the RL-only baseline)."""

    kind = "residual"
    run_suffix = ""
    distributed = True

    def compose(self, flags: JobFlags, overrides: list[str]) -> tuple[TrainJob, None]:
        return compose_job(flags, overrides), None

    def job_dict(self, job: TrainJob, extra: None) -> dict:
        return asdict(job)

    def needs_demos(self, job: TrainJob, extra: None) -> bool:
        return job.agent.base == "bc"

    def build(self, job: TrainJob, extra: None, base: LoadedPolicy, demos: DemoSet | None, run_dir: Path,
              device: str, rank: int) -> InrilRunner:
        return build_runner(job, base.policy, demos, str(run_dir), device, rank, base.obs_layout)

    def summary(self, job: TrainJob, extra: None) -> dict:
        return {"base_mode": job.agent.base}

    def describe(self, job: TrainJob, extra: None, trainer: InrilRunner) -> tuple[str, str]:
        return "residual PPO", f"base: {job.agent.base}"


RESIDUAL = ResidualMode()
