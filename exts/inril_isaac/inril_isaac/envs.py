"""Build an inril task as an Isaac Lab env outside the train script, and read it as the embedded backend does.

Used by the integration tests (tests_isaaclab/) and `scripts/bench/backend_parity.py`:

- `make_env(task, num_envs, ...)`: the registered task's env config resolved as the train script resolves it
  (`resolve_task_config` with a `physics=` preset), then `gym.make`; returns the unwrapped `AssemblyRLEnv`.
- `obs_terms(obs)`: the `critic` group split into the layout's terms, the dict the embedded env's
  `obs_terms()` returns and the scripted expert reads.
- `embedded_state(env)`: the Isaac Lab env's robot and part state written as the embedded backend's MuJoCo
  state rows (arm and finger joints, part free joints), for comparing observations of the same state.

Imports Isaac Lab: use it in the Isaac Lab environment only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from inril.tasks import get_task
from inril_isaac.frames import xyzw_to_wxyz

if TYPE_CHECKING:
    from inril_isaac.tasks.assembly.env import AssemblyRLEnv

DEFAULT_PHYSICS = "newton_mjwarp"


def make_env(task: str, num_envs: int = 2, device: str = "cpu", physics: str = DEFAULT_PHYSICS, seed: int = 0,
             overrides: Sequence[str] = ()) -> AssemblyRLEnv:
    """The Isaac Lab env of `task` with `num_envs` envs on `device`; `overrides` are Hydra `env.*` overrides."""
    import gymnasium as gym
    from isaaclab_tasks.utils import resolve_task_config

    import inril_isaac.tasks  # noqa: F401  registers the task ids

    env_cfg, _ = resolve_task_config(task, None, overrides=[f"physics={physics}", *overrides])
    env_cfg.scene.num_envs = num_envs
    env_cfg.sim.device = device
    env_cfg.seed = seed
    return gym.make(task, cfg=env_cfg).unwrapped


def obs_terms(task: str, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The critic observation group split by term (name -> (num_envs, dim)), in the task layout's order."""
    critic, terms, start = obs["critic"], {}, 0
    for name, dim in get_task(task).critic_layout:
        terms[name], start = critic[:, start : start + dim], start + dim
    return terms


def embedded_state(env: AssemblyRLEnv) -> dict[str, torch.Tensor]:
    """The env's state in the embedded backend's coordinates (robot base frame = env frame, float64 on the CPU):
    `arm_q`, `arm_qd` (N, 7), `fingers` (N, 2), `part_qpos` (N, P, 7: position, (w, x, y, z)) and `part_qvel`
    (N, P, 6: world linear velocity, body-frame angular velocity, MuJoCo's free-joint convention)."""
    from isaaclab.utils.math import quat_apply_inverse

    robot = env.scene["robot"]
    names = robot.data.joint_names
    arm = [names.index(f"panda_joint{i}") for i in range(1, 8)]
    fingers = [names.index(f"panda_finger_joint{i}") for i in (1, 2)]
    q, qd = robot.data.joint_pos.torch, robot.data.joint_vel.torch
    pos, quat, lin, ang = [], [], [], []
    for name in env.part_names:
        data = env.scene[name].data
        pos.append(data.root_link_pos_w.torch - env.scene.env_origins)
        quat.append(data.root_link_quat_w.torch)
        lin.append(data.root_link_lin_vel_w.torch)
        ang.append(quat_apply_inverse(data.root_link_quat_w.torch, data.root_link_ang_vel_w.torch))
    part_qpos = torch.cat((torch.stack(pos, 1), xyzw_to_wxyz(torch.stack(quat, 1))), -1)
    part_qvel = torch.cat((torch.stack(lin, 1), torch.stack(ang, 1)), -1)
    return {k: v.detach().to("cpu", torch.float64) for k, v in {
        "arm_q": q[:, arm], "arm_qd": qd[:, arm], "fingers": q[:, fingers], "part_qpos": part_qpos,
        "part_qvel": part_qvel}.items()}
