"""A VecEnv that passes rsl-rl-lib's VecEnv contract through to another one."""

from __future__ import annotations

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.data.groups import POLICY_GROUP
from inril.data.layout import Layout, column_index


class VecEnvWrapper(VecEnv):
    """Forwards everything to `env`; subclasses override what they change (observations, actions, frames)."""

    def __init__(self, env: VecEnv):
        self.env = env
        self.num_envs, self.num_actions = env.num_envs, env.num_actions
        self.max_episode_length, self.device, self.cfg = env.max_episode_length, env.device, env.cfg

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return self.env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:  # rsl-rl's init_at_random_ep_len sets it
        self.env.episode_length_buf = value

    def get_observations(self) -> TensorDict:
        return self.env.get_observations()

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        return self.env.step(actions)

    def close(self) -> None:
        self.env.close()


class ReorderedObsEnv(VecEnvWrapper):
    """Presents the observation group `group` with its columns taken at `index`: the task's layout turned into
    the layout a policy reads (see inril.data.layout.column_index). Observations only; actions pass through."""

    def __init__(self, env: VecEnv, index: list[int], group: str = POLICY_GROUP):
        super().__init__(env)
        self.index, self.group = torch.as_tensor(index, dtype=torch.long, device=env.device), group

    def _reorder(self, obs: TensorDict) -> TensorDict:
        obs = obs.clone(recurse=False)
        obs[self.group] = obs[self.group][..., self.index]
        return obs

    def get_observations(self) -> TensorDict:
        return self._reorder(self.env.get_observations())

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        obs, rewards, dones, extras = self.env.step(actions)
        return self._reorder(obs), rewards, dones, extras


def in_layout(env: VecEnv, env_layout: Layout, layout: Layout, env_name: str, reader: str) -> VecEnv:
    """`env` as a reader of `layout` sees it: its policy observations (in `env_layout`) reordered by term name
    when the orders differ. Raises inril.data.layout.LayoutError when a term is missing or differs in size."""
    index = column_index(env_layout, layout, env_name, reader)
    return env if index is None else ReorderedObsEnv(env, index)
