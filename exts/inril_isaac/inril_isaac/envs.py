"""Build an inril task as an Isaac Lab env outside the train script, and read it as the embedded backend does.

Used by the integration tests (tests_isaaclab/) and `scripts/bench/backend_parity.py`:

- `make_env(task, num_envs, ...)`: the registered task's env config resolved as the train script resolves it
  (`resolve_task_config` with a `physics=` preset), then `gym.make`; returns the unwrapped `AssemblyRLEnv`.
- `obs_terms(obs)`: the `critic` group split into the layout's terms, the dict the embedded env's
  `obs_terms()` returns and the scripted expert reads.
- `embedded_state(env)`: the Isaac Lab env's robot and part state written as the embedded backend's MuJoCo
  state rows (arm and finger joints, part free joints), for comparing observations of the same state;
  `write_embedded_state(env, state)` is its inverse, for stepping both backends from the same state.

Imports Isaac Lab: use it in the Isaac Lab environment only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from inril.tasks import get_task
from inril.tasks.terms import split_group
from inril_isaac.frames import wxyz_to_xyzw, xyzw_to_wxyz

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
    return split_group(obs["critic"], get_task(task).critic_layout)


def _joint_ids(env: AssemblyRLEnv) -> tuple[list[int], list[int]]:
    names = env.scene["robot"].data.joint_names
    return ([names.index(f"panda_joint{i}") for i in range(1, 8)],
            [names.index(f"panda_finger_joint{i}") for i in (1, 2)])


def embedded_state(env: AssemblyRLEnv) -> dict[str, torch.Tensor]:
    """The env's state in the embedded backend's coordinates (robot base frame = env frame, float64 on the CPU):
    `arm_q`, `arm_qd` (N, 7), `fingers` (N, 2), `part_qpos` (N, P, 7: position, (w, x, y, z)) and `part_qvel`
    (N, P, 6: world linear velocity, body-frame angular velocity, MuJoCo's free-joint convention)."""
    from isaaclab.utils.math import quat_apply_inverse

    robot = env.scene["robot"]
    arm, fingers = _joint_ids(env)
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


def write_embedded_state(env: AssemblyRLEnv, state: dict[str, torch.Tensor]) -> None:
    """Write a state in `embedded_state`'s coordinates (keys and shapes as it returns them, one row per env) into
    the simulation of every env: arm and finger joint positions and velocities (finger velocities zero) and the parts'
    body-frame poses and velocities. The drives' targets are left to the next `env.step`'s action."""
    from isaaclab.utils.math import quat_apply

    robot, device = env.scene["robot"], env.device
    arm, fingers = _joint_ids(env)
    ids = arm + fingers
    q = torch.cat((state["arm_q"], state["fingers"]), -1).to(device, torch.float32)
    qd = torch.cat((state["arm_qd"], torch.zeros_like(state["fingers"])), -1).to(device, torch.float32)
    robot.write_joint_state_to_sim_index(position=q, velocity=qd, joint_ids=ids)
    for p, name in enumerate(env.part_names):
        qpos = state["part_qpos"][:, p].to(device, torch.float32)
        qvel = state["part_qvel"][:, p].to(device, torch.float32)
        quat = wxyz_to_xyzw(qpos[:, 3:])
        pose = torch.cat((qpos[:, :3] + env.scene.env_origins, quat), -1)
        velocity = torch.cat((qvel[:, :3], quat_apply(quat, qvel[:, 3:])), -1)  # body-frame -> world angular
        env.scene[name].write_root_pose_to_sim_index(root_pose=pose)
        env.scene[name].write_root_link_velocity_to_sim_index(root_velocity=velocity)
