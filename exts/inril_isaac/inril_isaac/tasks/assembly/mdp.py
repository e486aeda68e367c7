"""MDP terms of the assembly tasks for Isaac Lab 3 (observations, actions, events, reward, terminations).

Observation functions are named exactly as the task layout's terms (`ee_pos`, ..., `parts_vels`): the env
config looks them up by name, in layout order. The math behind them lives in `inril_isaac.frames` and
inril's `inril.tasks.terms` / `inril.tasks.assembly`, the definitions the embedded backend uses too (tested without
Isaac Lab); these functions only read Isaac Lab 3's data
(ProxyArray `.torch`, quaternions (x, y, z, w)) and write through its `_index` APIs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from isaaclab.assets import Articulation, RigidObject
from isaaclab.envs.mdp.actions.actions_cfg import BinaryJointPositionActionCfg, DifferentialInverseKinematicsActionCfg
from isaaclab.envs.mdp.actions.binary_joint_actions import BinaryJointPositionAction
from isaaclab.envs.mdp.actions.task_space_actions import DifferentialInverseKinematicsAction
from isaaclab.managers import ActionTerm, SceneEntityCfg
from isaaclab.utils import configclass

from inril.tasks import terms
from inril_isaac.frames import (
    parts_observation,
    pose_command,
    push_wrench,
    shifted_part_poses,
    tcp_observation,
    to_base_frame,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)
from inril_isaac.layout import MAX_POS_STEP, MAX_ROT_STEP, TCP_OFFSET

if TYPE_CHECKING:
    from isaaclab.envs import ManagerBasedEnv

    from inril_isaac.tasks.assembly.env import AssemblyRLEnv


# ---------------------------------------------------------------------------------------------- state reads


def robot_root(env: ManagerBasedEnv) -> tuple[torch.Tensor, torch.Tensor]:
    robot: Articulation = env.scene["robot"]
    return robot.data.root_link_pos_w.torch, robot.data.root_link_quat_w.torch


def part_link_states(env: ManagerBasedEnv, part_names: list[str]) -> tuple[torch.Tensor, ...]:
    """World position, (x, y, z, w) orientation, linear and angular velocity of the parts' body frames, (N, P, .)."""
    parts: list[RigidObject] = [env.scene[name] for name in part_names]
    attrs = ("root_link_pos_w", "root_link_quat_w", "root_link_lin_vel_w", "root_link_ang_vel_w")
    return tuple(torch.stack([getattr(p.data, attr).torch for p in parts], dim=1) for attr in attrs)


def _tcp(env: ManagerBasedEnv, robot_cfg: SceneEntityCfg) -> dict[str, torch.Tensor]:
    robot: Articulation = env.scene[robot_cfg.name]
    hand = robot_cfg.body_ids[0]
    data = robot.data
    return tcp_observation(
        data.body_link_pos_w.torch[:, hand], data.body_link_quat_w.torch[:, hand],
        data.body_link_lin_vel_w.torch[:, hand], data.body_link_ang_vel_w.torch[:, hand],
        *robot_root(env), TCP_OFFSET,
    )


# ------------------------------------------------------------------------------ observations (layout terms)


def ee_pos(env: ManagerBasedEnv, robot_cfg: SceneEntityCfg) -> torch.Tensor:
    return _tcp(env, robot_cfg)["ee_pos"]


def ee_quat(env: ManagerBasedEnv, robot_cfg: SceneEntityCfg) -> torch.Tensor:
    return _tcp(env, robot_cfg)["ee_quat"]


def ee_linvel(env: ManagerBasedEnv, robot_cfg: SceneEntityCfg) -> torch.Tensor:
    return _tcp(env, robot_cfg)["ee_linvel"]


def ee_angvel(env: ManagerBasedEnv, robot_cfg: SceneEntityCfg) -> torch.Tensor:
    return _tcp(env, robot_cfg)["ee_angvel"]


def gripper_width(env: ManagerBasedEnv, robot_cfg: SceneEntityCfg) -> torch.Tensor:
    robot: Articulation = env.scene[robot_cfg.name]
    return terms.gripper_width(robot.data.joint_pos.torch[:, robot_cfg.joint_ids])


def parts_poses(env: ManagerBasedEnv, part_names: list[str]) -> torch.Tensor:
    return parts_observation(*part_link_states(env, part_names), *robot_root(env))["parts_poses"]


def parts_vels(env: ManagerBasedEnv, part_names: list[str]) -> torch.Tensor:
    return parts_observation(*part_link_states(env, part_names), *robot_root(env))["parts_vels"]


# ------------------------------------------------------------------------------------------------ actions


class Rot6dPoseAction(DifferentialInverseKinematicsAction):
    """Absolute tool pose (position 3 + 6-D rotation, base frame) through Isaac Lab's differential IK.

    The 6-D rotation becomes the (x, y, z, w) quaternion the IK controller takes; the target is
    step-limited from the current tool pose as in the embedded controller (`inril_isaac.frames.pose_command`).
    """

    cfg: Rot6dPoseActionCfg

    def __init__(self, cfg: Rot6dPoseActionCfg, env: ManagerBasedEnv) -> None:
        super().__init__(cfg, env)
        self._command = torch.zeros(self.num_envs, 7, device=self.device)

    @property
    def action_dim(self) -> int:
        return 9

    def process_actions(self, actions: torch.Tensor) -> None:
        self._raw_actions[:] = actions
        self._processed_actions[:] = actions
        ee_pos_b, ee_quat_b = self._compute_frame_pose()
        self._command[:] = pose_command(actions, ee_pos_b, ee_quat_b, self.cfg.max_pos_step, self.cfg.max_rot_step)
        self._ik_controller.set_command(self._command, ee_pos_b, ee_quat_b)


@configclass
class Rot6dPoseActionCfg(DifferentialInverseKinematicsActionCfg):
    class_type: type[ActionTerm] = Rot6dPoseAction
    max_pos_step: float = MAX_POS_STEP
    max_rot_step: float = MAX_ROT_STEP


class CloseOnPositiveGripperAction(BinaryJointPositionAction):
    """The task's gripper convention: action > 0 closes (Isaac Lab's binary action closes on < 0)."""

    def process_actions(self, actions: torch.Tensor) -> None:
        self._raw_actions[:] = actions
        self._processed_actions = torch.where(actions > 0, self._close_command, self._open_command)


@configclass
class CloseOnPositiveGripperActionCfg(BinaryJointPositionActionCfg):
    class_type: type[ActionTerm] = CloseOnPositiveGripperAction


# ------------------------------------------------------------------------------------------------- events


def reset_part_pose(
    env: ManagerBasedEnv, env_ids: torch.Tensor, asset_cfg: SceneEntityCfg, xy_range: float, yaw_range: float
) -> None:
    """Place a part at its nominal pose shifted by +-xy_range and turned by +-yaw_range about world z, at rest."""
    part: RigidObject = env.scene[asset_cfg.name]
    nominal = part.data.default_root_pose.torch[env_ids]
    u = torch.rand((nominal.shape[0], 3), device=part.device)
    pos, quat = shifted_part_poses(nominal[:, :3], xyzw_to_wxyz(nominal[:, 3:]), u, xy_range, yaw_range)
    pose = torch.cat((pos + env.scene.env_origins[env_ids], wxyz_to_xyzw(quat)), dim=-1)
    part.write_root_pose_to_sim_index(root_pose=pose, env_ids=env_ids)
    part.write_root_velocity_to_sim_index(root_velocity=torch.zeros_like(pose[:, :6]), env_ids=env_ids)


def push_parts(
    env: ManagerBasedEnv, env_ids: torch.Tensor, part_names: list[str], max_force: float, max_torque: float
) -> None:
    """One-physics-step random horizontal push and yaw torque on each part (Isaac Lab's instantaneous wrench
    composer clears the wrench after the next physics step)."""
    count = env.scene.env_origins[env_ids].shape[0]  # env_ids may be a tensor or a slice
    for name in part_names:
        part: RigidObject = env.scene[name]
        u = torch.rand((count, 3), device=part.device)
        force, torque = push_wrench(u, max_force, max_torque)
        part.instantaneous_wrench_composer.set_forces_and_torques_index(
            forces=force[:, None], torques=torque[:, None], env_ids=env_ids, is_global=True
        )


# ------------------------------------------------------------------------------ reward and terminations


def part_poses_in_base(env: AssemblyRLEnv) -> tuple[torch.Tensor, torch.Tensor]:
    pos_w, quat_w, _, _ = part_link_states(env, env.part_names)
    root_pos, root_quat = robot_root(env)
    return to_base_frame(pos_w, quat_w, root_pos[:, None], root_quat[:, None])


def newly_assembled(env: AssemblyRLEnv) -> torch.Tensor:
    """Pairs that became assembled this step (`inril.tasks.terms.sparse_reward`, weighted to +1 each)."""
    return terms.sparse_reward(env.assembly_progress().newly)


def assembly_shaping(env: AssemblyRLEnv) -> torch.Tensor:
    """The dense keypoint shaping (`AssemblyProgress.shaping`, off unless its weight is set), divided by the step dt
    that the reward manager multiplies in: weight w adds w x the closeness change per step, exactly as the embedded
    env's `shaping_weight` does."""
    return env.assembly_progress().shaping.to(torch.float32) / env.step_dt


def assembly_success(env: AssemblyRLEnv) -> torch.Tensor:
    """Every pair assembled: the episode ends as a success (terminal, not a time-out)."""
    return env.assembly_progress().success
