"""Batched forward kinematics and Jacobian of the Franka tool centre point, in torch.

Computed from the same DH table that `franka.py` builds the MuJoCo bodies from, so the results equal
MuJoCo's `mj_kinematics` / `mj_jacSite` (tested) while running over all envs at once without touching
MjData. The world frame is the robot base frame.
"""

from __future__ import annotations

import math

import torch

from inril.envs.mujoco.franka import FLANGE_OFFSET, FRANKA_DH, HAND_YAW, TCP_OFFSET


def _rot_x(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)


_FIXED = [None if row.alpha == 0 else _rot_x(row.alpha) for row in FRANKA_DH]
_HAND = torch.tensor(
    [[math.cos(HAND_YAW), -math.sin(HAND_YAW), 0.0], [math.sin(HAND_YAW), math.cos(HAND_YAW), 0.0], [0.0, 0.0, 1.0]],
    dtype=torch.float64,
)


def tcp_pose_and_jacobian(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q: (N, 7) float64 joint angles -> tcp position (N, 3), rotation (N, 3, 3), geometric Jacobian (N, 6, 7).

    Jacobian rows: linear velocity of the tcp point, then angular velocity, both in the world frame.
    """
    n = q.shape[0]
    cos, sin = torch.cos(q), torch.sin(q)
    rot = torch.eye(3, dtype=q.dtype, device=q.device).expand(n, 3, 3)
    pos = q.new_zeros(n, 3)
    axes, origins = [], []
    # Each joint frame: RotX(alpha) TransX(a) RotZ(q) TransZ(d); terms that are zero in the table are skipped.
    for i, (row, fixed) in enumerate(zip(FRANKA_DH, _FIXED)):
        if row.a:
            pos = pos + rot[:, :, 0] * row.a  # RotX leaves the x axis unchanged
        if fixed is not None:
            rot = rot @ fixed.to(q)
        x, y = rot[:, :, 0], rot[:, :, 1]
        c, s = cos[:, i : i + 1], sin[:, i : i + 1]
        rot = torch.stack((c * x + s * y, c * y - s * x, rot[:, :, 2]), dim=-1)
        if row.d:
            pos = pos + rot[:, :, 2] * row.d
        axes.append(rot[:, :, 2])
        origins.append(pos)
    rot = rot @ _HAND.to(q)
    tcp = pos + rot[:, :, 2] * (FLANGE_OFFSET + TCP_OFFSET)
    z = torch.stack(axes, dim=-1)  # (N, 3, 7)
    p = torch.stack(origins, dim=-1)
    linear = torch.linalg.cross(z, tcp[:, :, None] - p, dim=1)
    return tcp, rot, torch.cat((linear, z), dim=1)
