"""A VecEnv that passes rsl-rl-lib's VecEnv contract through to another one."""

from __future__ import annotations

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict


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
