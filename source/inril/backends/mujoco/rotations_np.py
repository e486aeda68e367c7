"""float64 numpy twins of the `inril.utils.rotations` functions the env needs every control step.

The env's per-step math works on (N, ...) arrays of a few hundred numbers. Each torch op costs microseconds of
dispatch and, with intra-op threads on a busy machine, sometimes milliseconds; numpy ops on arrays this small
are several times cheaper and always single-threaded. Same conventions and formulas as the torch module
(quaternions w, x, y, z; 6-D rotation = first two columns); `tests/test_mujoco_throughput.py` checks they agree.
"""

from __future__ import annotations

import numpy as np


def normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Divide the last-axis vectors by their norm (at least `eps`)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (np.cross is several times slower on small arrays)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), axis=-1)


def rot6d_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """(..., 6) first two columns -> (..., 3, 3) by Gram-Schmidt, as `inril.utils.rotations.rot6d_to_matrix`."""
    a1, a2 = rot6d[..., :3], rot6d[..., 3:6]
    b1 = normalize(a1)
    b2 = normalize(a2 - (b1 * a2).sum(-1, keepdims=True) * b1)
    return np.stack((b1, b2, cross(b1, b2)), axis=-1)


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz (normalized here) -> (..., 3, 3)."""
    w, x, y, z = np.moveaxis(normalize(quat), -1, 0)
    return np.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ),
        axis=-1,
    ).reshape(quat.shape[:-1] + (3, 3))


def quat_canonical(quat: np.ndarray) -> np.ndarray:
    """The representative with w >= 0 of each (..., 4) wxyz quaternion."""
    return np.where(quat[..., :1] < 0, -quat, quat)


def quat_hemisphere(quat: np.ndarray, reference: tuple[float, float, float, float]) -> np.ndarray:
    """The representative with a non-negative dot product with `reference` (wxyz; see spec.EE_QUAT_REFERENCE)."""
    return np.where((quat * np.asarray(reference)).sum(-1, keepdims=True) < 0, -quat, quat)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Shepperd's method, w >= 0 (see the torch version)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s10, s02, s21 = m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2]
    c0, c1 = 1 + m00 + m11 + m22, 1 + m00 - m11 - m22
    c2, c3 = 1 - m00 + m11 - m22, 1 - m00 - m11 + m22
    rows = np.stack(
        (
            np.stack((c0, d21, d02, d10), -1),
            np.stack((d21, c1, s10, s02), -1),
            np.stack((d02, s10, c2, s21), -1),
            np.stack((d10, s02, s21, c3), -1),
        ),
        axis=-2,
    )
    best = np.stack((c0, c1, c2, c3), -1).argmax(-1)
    quat = np.take_along_axis(rows, best[..., None, None], axis=-2)[..., 0, :]
    return quat_canonical(normalize(quat))


def quat_from_axis_angle(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vector (rad) -> (..., 4) wxyz."""
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    half = 0.5 * angle
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-8), 0.5 - angle * angle / 48.0)
    return np.concatenate((np.cos(half), axis_angle * scale), axis=-1)


def quat_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz -> (..., 3) rotation vector with angle in [0, pi]."""
    q = quat_canonical(normalize(quat))
    vec = q[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    scale = np.where(sin_half > 1e-8, angle / np.maximum(sin_half, 1e-8), 2.0 + sin_half * sin_half / 3.0)
    return vec * scale


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) rotation vector with angle in [0, pi]."""
    return quat_to_axis_angle(matrix_to_quat(matrix))


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vector (rad) -> (..., 3, 3)."""
    return quat_to_matrix(quat_from_axis_angle(axis_angle))


def clip_norm(v: np.ndarray, max_norm: float) -> np.ndarray:
    """Scale the last-axis vectors of v down to norm <= max_norm (one float bound for all vectors)."""
    return v * np.minimum(max_norm / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12), 1.0)
