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

import numpy as np
import torch

from inril.backends.mujoco.franka import FINGER_TRAVEL, HOME_JOINTS, JOINT_LIMITS
from inril.backends.mujoco.kinematics import tcp_pose_and_jacobian_np
from inril.backends.mujoco.rotations_np import axis_angle_to_matrix, clip_norm, matrix_to_axis_angle, rot6d_to_matrix

ACTION_DIM = 10


@dataclass
class DiffIKConfig:
    """The differential IK of `DiffIKController`: damping lambda (dimensionless, of J J^T + lambda^2 I), refinement
    iterations per control step, the target step limits (m and rad per control step), the null-space gain
    toward the ready pose and the margin (rad) kept from each joint limit. Raises ValueError."""
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


def _small_rotation_error(rot: np.ndarray) -> np.ndarray:
    """sin(angle) * axis of a rotation, from its skew part: equal to the rotation vector to second order, and far
    cheaper than the exact logarithm. The refinement iterations only see residuals of a few milliradians."""
    return 0.5 * np.stack((rot[:, 2, 1] - rot[:, 1, 2], rot[:, 0, 2] - rot[:, 2, 0], rot[:, 1, 0] - rot[:, 0, 1]), -1)


def split_action(action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 10) float64 -> target position (N, 3), rotation (N, 3, 3), close flag (N,) bool."""
    return action[:, :3], rot6d_to_matrix(action[:, 3:9]), action[:, 9] > 0


class DiffIKController:
    """Batched damped-least-squares differential IK (module docstring): `solve` maps the current joints and
    an absolute tool target (pos m, rotation matrix, robot base frame) to joint servo targets (N, 7) in rad,
    clamped to the joint limits minus the margin."""
    def __init__(self, cfg: DiffIKConfig) -> None:
        self.cfg = cfg
        margin = cfg.joint_limit_margin
        self.lower = JOINT_LIMITS[:, 0] + margin
        self.upper = JOINT_LIMITS[:, 1] - margin
        self._damping = np.eye(6) * cfg.damping**2

    def solve(
        self,
        q: np.ndarray,
        target_pos: np.ndarray,
        target_rot: np.ndarray,
        kinematics: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """q (N, 7) current joints; target tool pose -> (N, 7) joint servo targets, all float64 numpy.

        `kinematics` may pass `tcp_pose_and_jacobian_np(q)` when the caller already has it.
        """
        pos, rot, jac = kinematics if kinematics is not None else tcp_pose_and_jacobian_np(q)
        # Limit how far one control step may move the target, so a far-off action cannot fling the arm.
        pos_err = clip_norm(target_pos - pos, self.cfg.max_pos_step)
        rot_err = clip_norm(matrix_to_axis_angle(target_rot @ rot.swapaxes(1, 2)), self.cfg.max_rot_step)
        goal_pos, goal_rot = pos + pos_err, axis_angle_to_matrix(rot_err) @ rot
        err = np.concatenate((pos_err, rot_err), axis=-1)

        q_target = q
        for i in range(self.cfg.iterations):
            if i > 0:
                pos, rot, jac = tcp_pose_and_jacobian_np(q_target)
                err = np.concatenate((goal_pos - pos, _small_rotation_error(goal_rot @ rot.swapaxes(1, 2))), axis=-1)
            jt = jac.swapaxes(1, 2)
            pinv = jt @ np.linalg.inv(jac @ jt + self._damping)  # (N, 7, 6)
            dq = (pinv @ err[..., None])[..., 0]
            if i == 0:
                # The damped projector leaks a little into the task; later iterations remove that leak. The
                # null-space pull is (I - pinv J)(home - q), expanded to skip forming the 7x7 projector.
                pull = HOME_JOINTS - q
                dq = dq + self.cfg.nullspace_gain * (pull - (pinv @ (jac @ pull[..., None]))[..., 0])
            q_target = np.minimum(np.maximum(q_target + dq, self.lower), self.upper)
        return q_target

    def joint_targets(
        self,
        q: torch.Tensor,
        target_pos: torch.Tensor,
        target_rot: torch.Tensor,
        kinematics: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Torch front end of `solve` (float64 CPU tensors in and out)."""
        arrays = [t.detach().to("cpu", torch.float64).numpy() for t in (q, target_pos, target_rot)]
        kin = tuple(t.detach().to("cpu", torch.float64).numpy() for t in kinematics) if kinematics else None
        return torch.from_numpy(self.solve(*arrays, kinematics=kin))  # type: ignore[arg-type]

    @staticmethod
    def finger_targets(close: np.ndarray) -> np.ndarray:
        """(N,) bool -> (N, 2) finger servo targets: fully closed (force-limited) or fully open."""
        return np.repeat(np.where(close, 0.0, FINGER_TRAVEL)[:, None], 2, axis=1)
