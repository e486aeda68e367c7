"""End-effector controller: the 10-D absolute task action -> joint servo targets, batched over envs.

The action is (tool position 3, 6-D rotation 6, gripper 1) in the robot base frame; gripper > 0 closes. Once per
control step a damped-least-squares differential IK, iterated a few times on the batched analytic kinematics,
finds joint angles that put the tool at the (step-limited) target; the joint position servos then track them
during the physics substeps. A null-space pull toward the ready pose keeps the redundant 7th degree of freedom
from drifting over long episodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from inril.envs.mujoco.franka import FINGER_TRAVEL, HOME_JOINTS, JOINT_LIMITS
from inril.envs.mujoco.kinematics import tcp_pose_and_jacobian
from inril.utils.rotations import axis_angle_to_matrix, clip_norm, matrix_to_axis_angle, rot6d_to_matrix

ACTION_DIM = 10


@dataclass
class DiffIKConfig:
    damping: float = 0.05  # lambda of the damped least squares
    iterations: int = 2
    max_pos_step: float = 0.05  # m of target motion accepted per control step (0.5 m/s at 10 Hz)
    max_rot_step: float = 0.4  # rad per control step
    nullspace_gain: float = 0.1
    joint_limit_margin: float = 0.02  # rad kept from each joint limit

    def __post_init__(self) -> None:
        for name in ("damping", "max_pos_step", "max_rot_step"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"DiffIKConfig.{name} must be finite and > 0, got {value}")
        if self.iterations < 1:
            raise ValueError(f"DiffIKConfig.iterations must be >= 1, got {self.iterations}")
        if not 0 <= self.nullspace_gain <= 1:
            raise ValueError(f"DiffIKConfig.nullspace_gain must be in [0, 1], got {self.nullspace_gain}")
        if not 0 <= self.joint_limit_margin < 0.1:
            raise ValueError(f"DiffIKConfig.joint_limit_margin must be in [0, 0.1) rad, got {self.joint_limit_margin}")


def _small_rotation_error(rot: torch.Tensor) -> torch.Tensor:
    """sin(angle) * axis of a rotation, from its skew part: equal to the rotation vector to second order, and far
    cheaper than the exact logarithm. The refinement iterations only see residuals of a few milliradians."""
    skew = 0.5 * (rot - rot.transpose(1, 2))
    return torch.stack((skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]), dim=-1)


def split_action(action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, 10) -> target position (N, 3), rotation (N, 3, 3), close flag (N,) bool."""
    return action[:, :3], rot6d_to_matrix(action[:, 3:9]), action[:, 9] > 0


class DiffIKController:
    def __init__(self, cfg: DiffIKConfig) -> None:
        self.cfg = cfg
        margin = cfg.joint_limit_margin
        self.lower = torch.tensor(JOINT_LIMITS[:, 0] + margin, dtype=torch.float64)
        self.upper = torch.tensor(JOINT_LIMITS[:, 1] - margin, dtype=torch.float64)
        self.home = torch.tensor(HOME_JOINTS, dtype=torch.float64)

    def joint_targets(
        self,
        q: torch.Tensor,
        target_pos: torch.Tensor,
        target_rot: torch.Tensor,
        kinematics: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """q (N, 7) current joints; target tool pose -> (N, 7) joint servo targets. float64 CPU tensors.

        `kinematics` may pass `tcp_pose_and_jacobian(q)` when the caller already has it.
        """
        pos, rot, jac = kinematics if kinematics is not None else tcp_pose_and_jacobian(q)
        # Limit how far one control step may move the target, so a far-off action cannot fling the arm.
        pos_err = clip_norm(target_pos - pos, self.cfg.max_pos_step)
        rot_err = clip_norm(matrix_to_axis_angle(target_rot @ rot.transpose(1, 2)), self.cfg.max_rot_step)
        goal_pos, goal_rot = pos + pos_err, axis_angle_to_matrix(rot_err) @ rot
        err = torch.cat((pos_err, rot_err), dim=-1)

        damping = torch.eye(6, dtype=q.dtype) * self.cfg.damping**2
        q_target = q
        for i in range(self.cfg.iterations):
            if i > 0:
                pos, rot, jac = tcp_pose_and_jacobian(q_target)
                err = torch.cat((goal_pos - pos, _small_rotation_error(goal_rot @ rot.transpose(1, 2))), dim=-1)
            jt = jac.transpose(1, 2)
            pinv = jt @ torch.linalg.inv(jac @ jt + damping)  # (N, 7, 6)
            dq = (pinv @ err[..., None])[..., 0]
            if i == 0:
                # The damped projector leaks a little into the task; later iterations remove that leak.
                null = torch.eye(7, dtype=q.dtype) - pinv @ jac
                dq = dq + self.cfg.nullspace_gain * (null @ (self.home - q)[..., None])[..., 0]
            q_target = torch.minimum(torch.maximum(q_target + dq, self.lower), self.upper)
        return q_target

    @staticmethod
    def finger_targets(close: torch.Tensor) -> torch.Tensor:
        """(N,) bool -> (N, 2) finger servo targets: fully closed (force-limited) or fully open."""
        opening = torch.where(close, 0.0, FINGER_TRAVEL).to(torch.float64)
        return opening[:, None].expand(-1, 2)
