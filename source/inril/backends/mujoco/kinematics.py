"""Batched forward kinematics and Jacobian of the Franka tool centre point.

Computed from the same DH table that `franka.py` builds the MuJoCo bodies from, so the results equal
MuJoCo's `mj_kinematics` / `mj_jacSite` (tested) while running over all envs at once without touching
MjData. The world frame is the robot base frame. The env calls the float64 numpy version every control step
(see `rotations_np.py` for why numpy); `tcp_pose_and_jacobian` is its torch front end.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from inril.backends.mujoco.franka import FLANGE_OFFSET, FRANKA_DH, HAND_YAW, TCP_OFFSET
from inril.backends.mujoco.rotations_np import cross

# (cos, sin) of each joint's fixed RotX(alpha), None where alpha = 0.
_ALPHA = [None if row.alpha == 0 else (math.cos(row.alpha), math.sin(row.alpha)) for row in FRANKA_DH]
_HAND_COS, _HAND_SIN = math.cos(HAND_YAW), math.sin(HAND_YAW)


def tcp_pose_and_jacobian_np(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q: (N, 7) float64 joint angles -> tcp position (N, 3), rotation (N, 3, 3), geometric Jacobian (N, 6, 7).

    Jacobian rows: linear velocity of the tcp point, then angular velocity, both in the world frame.
    """
    n = q.shape[0]
    cos, sin = np.cos(q).T[:, :, None], np.sin(q).T[:, :, None]  # (7, N, 1)
    # The frame's axes (columns of its rotation) as separate (N, 3) arrays: a rotation about x or z mixes two of
    # them, which costs a few small ops instead of a batched 3x3 matmul.
    x, y, z = (np.broadcast_to(axis, (n, 3)) for axis in np.eye(3))
    pos = np.zeros((n, 3))
    axes, origins = np.empty((n, 3, 7)), np.empty((n, 3, 7))
    # Each joint frame: RotX(alpha) TransX(a) RotZ(q) TransZ(d); terms that are zero in the table are skipped.
    for i, (row, alpha) in enumerate(zip(FRANKA_DH, _ALPHA)):
        if row.a:
            pos = pos + x * row.a  # RotX leaves the x axis unchanged
        if alpha is not None:
            y, z = alpha[0] * y + alpha[1] * z, alpha[0] * z - alpha[1] * y
        x, y = cos[i] * x + sin[i] * y, cos[i] * y - sin[i] * x
        if row.d:
            pos = pos + z * row.d
        axes[:, :, i], origins[:, :, i] = z, pos
    x, y = _HAND_COS * x + _HAND_SIN * y, _HAND_COS * y - _HAND_SIN * x
    tcp = pos + z * (FLANGE_OFFSET + TCP_OFFSET)
    linear = cross(axes.swapaxes(1, 2), tcp[:, None, :] - origins.swapaxes(1, 2)).swapaxes(1, 2)
    return tcp, np.stack((x, y, z), axis=-1), np.concatenate((linear, axes), axis=1)


def tcp_pose_and_jacobian(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Torch front end of `tcp_pose_and_jacobian_np`: results in q's dtype and device."""
    results = tcp_pose_and_jacobian_np(q.detach().to("cpu", torch.float64).numpy())
    return tuple(torch.from_numpy(r).to(q) for r in results)  # type: ignore[return-value]
