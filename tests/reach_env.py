"""A tiny VecEnv for full-network RL tests: a point driven towards absolute 2-D position targets.

Each step the point moves half way to the commanded target; the reward is minus its distance to a
fixed goal, so the return measures how well a policy aims at the goal. Episodes last `length`
steps (truncation, with `time_outs`), and the env auto-resets like the MuJoCo envs. A BC base
trained on demos aiming at `goal + offset` is suboptimal by construction.
"""

from __future__ import annotations

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.data.demos import DemoSet
from inril.data.windows import WindowSampler
from inril.policies.normalizer import MinMaxNormalizer

GOAL = (0.5, -0.3)


class ReachEnv(VecEnv):
    def __init__(self, num_envs: int, length: int = 8, seed: int = 0):
        self.num_envs, self.num_actions, self.max_episode_length = num_envs, 2, length
        self.device, self.cfg = torch.device("cpu"), {}
        self.generator = torch.Generator().manual_seed(seed)
        self.goal = torch.tensor(GOAL)
        self.pos = torch.zeros(num_envs, 2)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self._reset(torch.arange(num_envs))

    def _reset(self, ids: torch.Tensor) -> None:
        self.pos[ids] = torch.rand(len(ids), 2, generator=self.generator) - 0.5
        self.episode_length_buf[ids] = 0

    def get_observations(self) -> TensorDict:
        obs = torch.cat([self.pos, self.goal.expand(self.num_envs, 2)], dim=1)
        return TensorDict({"policy": obs}, batch_size=[self.num_envs])

    def step(self, actions: torch.Tensor):
        self.pos += 0.5 * (actions.clamp(-1, 1) - self.pos)
        rewards = -(self.pos - self.goal).norm(dim=1)
        self.episode_length_buf += 1
        dones = self.episode_length_buf >= self.max_episode_length
        self._reset(dones.nonzero(as_tuple=True)[0])
        return self.get_observations(), rewards, dones.long(), {"time_outs": dones, "log": {}}


def biased_demos(offset: float, num: int = 16, length: int = 8, pred_horizon: int = 4) -> WindowSampler:
    """Demos that aim at goal + offset (with a little noise), from the env's start distribution."""
    env = ReachEnv(num, length, seed=123)
    generator = torch.Generator().manual_seed(7)
    obs, actions = [], []
    for _ in range(length):
        obs.append(env.get_observations()["policy"].clone())
        target = env.goal + offset + 0.05 * torch.randn(num, 2, generator=generator)
        actions.append(target)
        env.step(target)
    obs_eps = [torch.stack(obs)[:, i].numpy() for i in range(num)]
    act_eps = [torch.stack(actions)[:, i].numpy() for i in range(num)]
    demos = DemoSet(None, obs_eps, act_eps, [True] * num, [f"demo_{i}" for i in range(num)], ["state"], [4])
    return WindowSampler(demos, None, 1, pred_horizon)


def normalizers() -> tuple[MinMaxNormalizer, MinMaxNormalizer]:
    """Fixed ranges covering the whole workspace, so the goal is reachable in normalized actions."""
    return MinMaxNormalizer(-torch.ones(4), torch.ones(4), clip=3.0), MinMaxNormalizer(-torch.ones(2), torch.ones(2))


def mean_return(env_factory, policy, episodes_per_env: int = 2) -> float:
    """Mean episode return of the policy's deterministic chunks."""
    from inril.eval import evaluate_policy

    env = env_factory()
    return evaluate_policy(policy, env, episodes_per_env * env.num_envs, success_return=0.0).mean_return
