"""Batched rotation conversions in torch.

Conventions shared by every backend:
- quaternions are (w, x, y, z), as in Isaac Lab and MuJoCo;
- the 6-D rotation is the first two COLUMNS of the rotation matrix, (R[:, 0], R[:, 1]) flattened
  column after column. (pytorch3d and ResiP use the first two rows: a transposed convention.)
All functions accept any leading batch shape.
"""

from __future__ import annotations

import torch


def _normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt, so any 6-vector with independent halves maps to a rotation."""
    a1, a2 = rot6d[..., :3], rot6d[..., 3:6]
    b1 = _normalize(a1)
    b2 = _normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first column then second column."""
    return torch.cat((matrix[..., :, 0], matrix[..., :, 1]), dim=-1)


def quat_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz (normalized here) -> (..., 3, 3)."""
    w, x, y, z = _normalize(quat).unbind(-1)
    return torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ),
        dim=-1,
    ).reshape(quat.shape[:-1] + (3, 3))


def matrix_to_quat(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) wxyz with w >= 0.

    Shepperd's method: take the largest of the four candidate denominators, so the result stays accurate
    for rotations near 180 degrees where the trace-based formula loses precision.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s10, s02, s21 = m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2]
    candidates = torch.stack(
        (
            1 + m00 + m11 + m22,
            1 + m00 - m11 - m22,
            1 - m00 + m11 - m22,
            1 - m00 - m11 + m22,
        ),
        dim=-1,
    )
    # Each row: the quaternion scaled by 4*q_k, where q_k is the component picked by that row.
    rows = torch.stack(
        (
            torch.stack((candidates[..., 0], d21, d02, d10), -1),
            torch.stack((d21, candidates[..., 1], s10, s02), -1),
            torch.stack((d02, s10, candidates[..., 2], s21), -1),
            torch.stack((d10, s02, s21, candidates[..., 3]), -1),
        ),
        dim=-2,
    )
    best = candidates.argmax(dim=-1)
    quat = torch.gather(rows, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    return quat_canonical(_normalize(quat))


def quat_canonical(quat: torch.Tensor) -> torch.Tensor:
    """Pick the representative with w >= 0 (q and -q are the same rotation)."""
    return torch.where(quat[..., :1] < 0, -quat, quat)


def quat_hemisphere(quat: torch.Tensor, reference: tuple[float, float, float, float]) -> torch.Tensor:
    """Pick the representative with a non-negative dot product with `reference` (see spec.EE_QUAT_REFERENCE)."""
    dot = (quat * quat.new_tensor(reference)).sum(-1, keepdim=True)
    return torch.where(dot < 0, -quat, quat)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of wxyz quaternions."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        dim=-1,
    )


def quat_conjugate(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz -> (..., 4) conjugate (w, -x, -y, -z): the inverse rotation of a unit quaternion."""
    return quat * quat.new_tensor([1.0, -1.0, -1.0, -1.0])


def quat_from_axis_angle(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector -> (..., 4) wxyz."""
    angle = axis_angle.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(half)/angle -> 1/2 as angle -> 0; the series keeps gradients and values finite at zero.
    scale = torch.where(angle > 1e-8, torch.sin(half) / angle.clamp_min(1e-8), 0.5 - angle * angle / 48.0)
    return torch.cat((torch.cos(half), axis_angle * scale), dim=-1)


def quat_to_axis_angle(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz -> (..., 3) rotation vector with angle in [0, pi]."""
    q = quat_canonical(_normalize(quat))
    vec = q[..., 1:]
    sin_half = vec.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-8), 2.0 + sin_half * sin_half / 3.0)
    return vec * scale


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrix -> (..., 3) rotation vector (axis * angle in rad, angle in [0, pi])."""
    return quat_to_axis_angle(matrix_to_quat(matrix))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector (axis * angle in rad) -> (..., 3, 3) rotation matrix."""
    return quat_to_matrix(quat_from_axis_angle(axis_angle))


def quat_to_rot6d(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) wxyz -> (..., 6): the first two columns of its rotation matrix."""
    return matrix_to_rot6d(quat_to_matrix(quat))


def rot6d_to_quat(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) (first two matrix columns, Gram-Schmidt-orthonormalized) -> (..., 4) wxyz with w >= 0."""
    return matrix_to_quat(rot6d_to_matrix(rot6d))


def quat_rotate(quat: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    """Rotate (..., 3) vectors by (..., 4) wxyz quaternions."""
    return (quat_to_matrix(quat) @ vec[..., None])[..., 0]


def clip_norm(v: torch.Tensor, max_norm: torch.Tensor | float) -> torch.Tensor:
    """Scale the last-axis vectors of v down to norm <= max_norm (a float, or one bound per vector): how position
    steps and rotation vectors are limited."""
    bound = torch.as_tensor(max_norm, dtype=v.dtype, device=v.device)
    if bound.dim():
        bound = bound[..., None]
    return v * (bound / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
