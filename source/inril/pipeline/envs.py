"""The embedded backend's envs of a job: training envs (reward shaping, seed + rank) and evaluation envs
(sparse reward, seeds disjoint from training and the same every time), in the base's observation layout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rsl_rl.env import VecEnv

from inril.backends.wrappers import in_layout
from inril.data.layout import Layout
from inril.pipeline.compose import task_layout
from inril.pipeline.config import TrainJob

EVAL_SEED_OFFSET = 10_000  # evaluation env seeds start here above the job's seed, away from every training rank's


def eval_env(job: TrainJob, device: str) -> VecEnv:
    """A fresh embedded env for evaluation, with seeds disjoint from training and the same every time,
    so that every evaluation of a job (and every mode a benchmark compares) sees the same episodes."""
    from inril.backends.mujoco import make_env

    return make_env(job.env.task, job.env.eval_num_envs, job.env.seed + EVAL_SEED_OFFSET, device)


def train_env(job: TrainJob, device: str, rank: int = 0) -> VecEnv:
    """The embedded training env of a job: the env seed plus the process rank, and the job's reward shaping
    (evaluation envs keep the sparse reward)."""
    from inril.backends.mujoco import make_env

    return make_env(job.env.task, job.env.num_envs, job.env.seed + rank, device, shaping_weight=job.env.shaping_weight)


def for_base(env: VecEnv, job: TrainJob, obs_layout: Layout) -> VecEnv:
    """A task env whose policy observations are in the base's layout `obs_layout` (reordered by term name
    where the base orders the task's terms differently; checked by check_base_checkpoint)."""
    return in_layout(env, task_layout(job), obs_layout, f"task {job.env.task}", "the base policy")


@contextmanager
def evaluation_env(job: TrainJob, device: str, obs_layout: Layout, video: Path | None = None) -> Iterator[VecEnv]:
    """A fresh evaluation env (`eval_env`) in the base's layout, closed on exit; with `video`, the first
    envs' first episode is recorded there, tiled."""
    env = eval_env(job, device)
    if video is not None:
        from inril.backends.mujoco.render import RecordingVecEnv, VideoRecorder

        recorder = VideoRecorder(env, video, env_ids=range(min(4, env.num_envs)))
        env = RecordingVecEnv(env, recorder, int(env.max_episode_length))
    try:
        yield for_base(env, job, obs_layout)
    finally:
        env.close()
