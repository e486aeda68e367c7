"""Scripted-expert demonstrations from the batched MuJoCo env, in the project's HDF5 demo format, and the expert's
success rate through the project's one evaluation path.

Each demo row holds the observation terms an action was taken from and that action in raw task units (absolute
tool pose, 6-D rotation, gripper). Only successful episodes are kept unless asked otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from inril.backends.mujoco.vec_env import MujocoVecEnv, make_env
from inril.backends.wrappers import VecEnvWrapper
from inril.data.demos import Episode, write_demos
from inril.eval import EvalResult, evaluate
from inril.tasks.expert import ExpertConfig, InsertionExpert
from inril.tasks.registry import get_expert_plan, get_task

DEFAULT_NUM_ENVS = 16


@dataclass
class Collection:
    """What `collect_episodes` gathered: the kept demos, and the successes among all finished episodes
    (kept or not)."""
    episodes: list[Episode]  # the kept demos, in the order they finished
    successes: int  # successful episodes among all that finished
    finished: int

    @property
    def success_rate(self) -> float:
        """successes / finished (0 when none finished)."""
        return self.successes / max(self.finished, 1)


def collect_episodes(
    task: str,
    num_demos: int,
    seed: int,
    num_envs: int = DEFAULT_NUM_ENVS,
    keep_failures: bool = False,
    max_episodes: int | None = None,
    progress: bool = True,
) -> Collection:
    """Run the expert until `num_demos` episodes are kept or `max_episodes` (default 4x) have finished."""
    if num_demos < 1:
        raise ValueError(f"num_demos must be >= 1, got {num_demos}")
    max_episodes = 4 * num_demos if max_episodes is None else max_episodes
    if max_episodes < num_demos:
        raise ValueError(f"max_episodes ({max_episodes}) must be >= num_demos ({num_demos})")
    spec = get_task(task)
    env = make_env(task, num_envs, seed)
    expert = InsertionExpert(spec, get_expert_plan(task), num_envs, ExpertConfig(seed=seed))
    obs_keys = [name for name, _ in spec.observation_layout]
    rows: list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]] = []  # (obs, actions, rewards) per step
    start = np.zeros(num_envs, dtype=int)  # index into `rows` where each env's current episode began
    result = Collection([], 0, 0)
    bar = tqdm(total=num_demos, desc=f"{task} demos", unit="demo", disable=not progress)
    try:
        while len(result.episodes) < num_demos and result.finished < max_episodes:
            terms = env.obs_terms()
            actions = expert.act(terms)
            _, rewards, dones, _ = env.step(actions)
            rows.append(({k: terms[k].cpu().numpy() for k in obs_keys}, actions.cpu().numpy(), rewards.cpu().numpy()))
            done = dones.cpu().numpy().astype(bool)
            expert.reset(torch.from_numpy(done))
            for i in np.flatnonzero(done):
                steps = rows[start[i] :]
                episode_rewards = np.array([r[i] for _, _, r in steps], dtype=np.float32)
                success = bool(episode_rewards.sum() >= len(spec.pairs))
                result.finished += 1
                result.successes += success
                if (success or keep_failures) and len(result.episodes) < num_demos:
                    obs = {k: np.stack([o[k][i] for o, _, _ in steps]) for k in obs_keys}
                    actions_i = np.stack([a[i] for _, a, _ in steps])
                    result.episodes.append(Episode(obs, actions_i, success, rewards=episode_rewards))
                    bar.update(1)
                start[i] = len(rows)
            first = int(start.min())  # steps no running episode needs any more
            if first:
                rows, start = rows[first:], start - first
    finally:
        bar.close()
        env.close()
    return result


def collect_demos(
    task: str,
    num_demos: int,
    seed: int,
    path: str | os.PathLike,
    num_envs: int = DEFAULT_NUM_ENVS,
    keep_failures: bool = False,
    max_episodes: int | None = None,
    progress: bool = True,
) -> Collection:
    """Collect `num_demos` expert demos and write them to `path`; raises ValueError if too few succeed."""
    result = collect_episodes(task, num_demos, seed, num_envs, keep_failures, max_episodes, progress)
    if len(result.episodes) < num_demos:
        raise ValueError(
            f"only {len(result.episodes)} of {num_demos} demos after {result.finished} episodes "
            f"(expert success rate {100 * result.success_rate:.1f}%); allow more episodes"
        )
    env_meta = {"env_name": task, "env_kwargs": {"backend": "mujoco", "num_envs": num_envs, "seed": seed}}
    write_demos(path, result.episodes, env_meta, obs_keys=[name for name, _ in get_task(task).observation_layout])
    return result


def evaluate_expert(env: MujocoVecEnv | VecEnvWrapper, num_episodes: int, seed: int) -> EvalResult:
    """The task's scripted expert (noise seeded by `seed`, as `collect_episodes`) on `env`, a fresh MujocoVecEnv or
    a wrapper of one (a video recorder), through `inril.eval.evaluate`."""
    sim = env.env if isinstance(env, VecEnvWrapper) else env
    num_envs = sim.num_envs
    expert = InsertionExpert(sim.task, get_expert_plan(sim.cfg.task), num_envs, ExpertConfig(seed=seed))

    def reset(ids: torch.Tensor) -> None:
        """Restart the expert in the envs `ids` whose episode just ended."""
        done = torch.zeros(num_envs, dtype=torch.bool)
        done[ids.cpu()] = True
        expert.reset(done)

    return evaluate(env, lambda obs: expert.act(sim.obs_terms()), num_episodes, len(sim.task.pairs), on_reset=reset)
