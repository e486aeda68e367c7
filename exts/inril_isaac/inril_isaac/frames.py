"""Batched torch math between Isaac Lab 3's data and the task layout, without importing Isaac Lab.

Isaac Lab 3 stores quaternions as (x, y, z, w); the task layout and inril use (w, x, y, z), parts with w >= 0 and
the tool in the gripper-down hemisphere (inril.tasks.spec.EE_QUAT_REFERENCE).
Observations are expressed in the robot base frame (the embedded backend's world frame). Each function
here is what an Isaac Lab MDP term calls after reading its tensors, so the conversions are tested here; the
observation terms themselves (quaternion conventions, term layouts) are `inril.tasks.terms`', shared with the
embedded backend.
"""

from __future__ import annotations

import math

import torch

from inril.tasks import terms
from inril.utils.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_conjugate,
    quat_mul,
    quat_rotate,
    quat_to_matrix,
    rot6d_to_matrix,
)


def xyzw_to_wxyz(quat: torch.Tensor) -> torch.Tensor:
    return quat[..., [3, 0, 1, 2]]


def wxyz_to_xyzw(quat: torch.Tensor) -> torch.Tensor:
    return quat[..., [1, 2, 3, 0]]


def to_base_frame(
    pos_w: torch.Tensor, quat_w_xyzw: torch.Tensor, root_pos_w: torch.Tensor, root_quat_w_xyzw: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """World poses (..., 3), (..., 4) xyzw -> base-frame position and (w, x, y, z) orientation, unit with w >= 0
    (`inril.tasks.terms.part_orientation`). The root tensors broadcast against the pose tensors ((N, 3) roots with
    (N, 3) or (N, 1, 3) poses)."""
    root_inv = quat_conjugate(xyzw_to_wxyz(root_quat_w_xyzw))
    pos = quat_rotate(root_inv, pos_w - root_pos_w)
    quat = quat_mul(root_inv.expand_as(quat_w_xyzw), xyzw_to_wxyz(quat_w_xyzw))
    return pos, terms.part_orientation(quat)


def tcp_observation(
    hand_pos_w: torch.Tensor,
    hand_quat_w_xyzw: torch.Tensor,
    hand_linvel_w: torch.Tensor,
    hand_angvel_w: torch.Tensor,
    root_pos_w: torch.Tensor,
    root_quat_w_xyzw: torch.Tensor,
    tcp_offset: float,
) -> dict[str, torch.Tensor]:
    """The robot-state terms from the hand link's world state: tool centre point (tcp_offset along hand z)
    pose, and its linear and angular velocity, in the robot base frame. All inputs (N, 3) / (N, 4)."""
    offset_w = quat_rotate(xyzw_to_wxyz(hand_quat_w_xyzw), hand_pos_w.new_tensor([0.0, 0.0, tcp_offset]))
    pos, quat = to_base_frame(hand_pos_w + offset_w, hand_quat_w_xyzw, root_pos_w, root_quat_w_xyzw)
    root_inv = quat_conjugate(xyzw_to_wxyz(root_quat_w_xyzw))
    tcp_linvel_w = hand_linvel_w + torch.linalg.cross(hand_angvel_w, offset_w, dim=-1)
    return {
        "ee_pos": pos,
        "ee_quat": terms.ee_quat(quat),
        "ee_linvel": quat_rotate(root_inv, tcp_linvel_w),
        "ee_angvel": quat_rotate(root_inv, hand_angvel_w),
    }


def parts_observation(
    pos_w: torch.Tensor,
    quat_w_xyzw: torch.Tensor,
    linvel_w: torch.Tensor,
    angvel_w: torch.Tensor,
    root_pos_w: torch.Tensor,
    root_quat_w_xyzw: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """`parts_poses` (N, 7P) and `parts_vels` (N, 6P) from the parts' link states (N, P, 3) / (N, P, 4)."""
    pos, quat = to_base_frame(pos_w, quat_w_xyzw, root_pos_w[:, None], root_quat_w_xyzw[:, None])
    root_inv = quat_conjugate(xyzw_to_wxyz(root_quat_w_xyzw))[:, None].expand(quat.shape)
    return {
        "parts_poses": terms.parts_poses(pos, quat),
        "parts_vels": terms.parts_vels(quat_rotate(root_inv, linvel_w), quat_rotate(root_inv, angvel_w)),
    }


def _clip_norm(v: torch.Tensor, max_norm: float) -> torch.Tensor:
    return v * (max_norm / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)


def pose_command(
    action: torch.Tensor, ee_pos: torch.Tensor, ee_quat_xyzw: torch.Tensor, max_pos_step: float, max_rot_step: float
) -> torch.Tensor:
    """The absolute pose command (N, 7) = position, (x, y, z, w) for Isaac Lab's differential IK.

    `action` (N, 9) is the target tool position and 6-D rotation in the base frame. As the embedded
    controller does, the target may move at most max_pos_step / max_rot_step away from the current tool
    pose per control step, and a row with a non-finite action holds the current pose.
    """
    finite = torch.isfinite(action).all(-1, keepdim=True)
    action = torch.where(finite, action, torch.zeros_like(action))
    rot = quat_to_matrix(xyzw_to_wxyz(ee_quat_xyzw))
    goal_pos = ee_pos + _clip_norm(action[:, :3] - ee_pos, max_pos_step)
    turn = _clip_norm(matrix_to_axis_angle(rot6d_to_matrix(action[:, 3:9]) @ rot.transpose(-1, -2)), max_rot_step)
    goal_quat = wxyz_to_xyzw(matrix_to_quat(axis_angle_to_matrix(turn) @ rot))
    command = torch.cat((goal_pos, goal_quat), dim=-1)
    return torch.where(finite, command, torch.cat((ee_pos, ee_quat_xyzw), dim=-1))


def shifted_part_poses(
    nominal_pos: torch.Tensor, nominal_quat: torch.Tensor, u: torch.Tensor, xy_range: float, yaw_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reset poses (n, 3), (n, 4) (w, x, y, z) from nominal ones and uniform samples u (n, 3) in [0, 1): shifted
    by +-xy_range in x and y and turned by +-yaw_range about the world z axis, as the embedded backend does."""
    centered = 2.0 * u - 1.0
    pos = nominal_pos.clone()
    pos[:, :2] += xy_range * centered[:, :2]
    half = 0.5 * yaw_range * centered[:, 2]
    zeros = torch.zeros_like(half)
    turn = torch.stack((torch.cos(half), zeros, zeros, torch.sin(half)), dim=-1)
    return pos, quat_mul(turn, nominal_quat)


def push_wrench(u: torch.Tensor, max_force: float, max_torque: float) -> tuple[torch.Tensor, torch.Tensor]:
    """World-frame force and torque (n, 3) of the reset push from uniform samples u (n, 3) in [0, 1): a
    horizontal force of magnitude U(0, max_force) in a uniform direction and a torque U(-max, max) about z."""
    angle = 2.0 * math.pi * u[:, 0]
    magnitude = max_force * u[:, 1]
    zeros = torch.zeros_like(angle)
    force = torch.stack((magnitude * torch.cos(angle), magnitude * torch.sin(angle), zeros), dim=-1)
    torque = torch.stack((zeros, zeros, max_torque * (2.0 * u[:, 2] - 1.0)), dim=-1)
    return force, torque
