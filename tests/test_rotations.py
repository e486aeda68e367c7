"""Rotation helpers: conventions (wxyz, rot6d = first two columns) and round trips, checked against MuJoCo."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inril.utils.rotations import (
    axis_angle_to_matrix,
    clip_norm,
    matrix_to_axis_angle,
    matrix_to_quat,
    matrix_to_rot6d,
    quat_canonical,
    quat_conjugate,
    quat_from_axis_angle,
    quat_mul,
    quat_rotate,
    quat_to_matrix,
    quat_to_rot6d,
    rot6d_to_matrix,
    rot6d_to_quat,
)

quats = st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.1)


def _unit(q: list[float]) -> torch.Tensor:
    t = torch.tensor(q, dtype=torch.float64)
    return t / t.norm()


def _mujoco_matrix(q: torch.Tensor) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, q.numpy())
    return out.reshape(3, 3)


@settings(max_examples=50, deadline=None)
@given(quats)
def test_quat_to_matrix_matches_mujoco_wxyz(q):
    quat = _unit(q)
    np.testing.assert_allclose(quat_to_matrix(quat).numpy(), _mujoco_matrix(quat), atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(quats)
def test_matrix_quat_round_trip_is_canonical(q):
    quat = _unit(q)
    back = matrix_to_quat(quat_to_matrix(quat))
    assert back[0] >= 0
    assert quat_canonical(quat)[0] >= 0
    # q and -q are the same rotation; with w = 0 both are canonical.
    assert min((back - quat).abs().max(), (back + quat).abs().max()) < 1e-9


def test_matrix_to_quat_near_half_turns():
    # Rotations by ~180 degrees are where trace-based conversions lose precision.
    for axis in torch.eye(3, dtype=torch.float64):
        for angle in (math.pi, math.pi - 1e-7):
            rot = axis_angle_to_matrix(axis * angle)
            torch.testing.assert_close(quat_to_matrix(matrix_to_quat(rot)), rot, atol=1e-9, rtol=0)


def test_rot6d_is_the_first_two_columns():
    quarter_turn_z = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(
        matrix_to_rot6d(quarter_turn_z), torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    )
    quat = torch.tensor([math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)], dtype=torch.float64)
    torch.testing.assert_close(quat_to_rot6d(quat), matrix_to_rot6d(quarter_turn_z), atol=1e-12, rtol=0)


@settings(max_examples=50, deadline=None)
@given(quats, st.lists(st.floats(-0.2, 0.2), min_size=6, max_size=6))
def test_rot6d_gram_schmidt_returns_a_rotation_and_round_trips(q, noise):
    rot = quat_to_matrix(_unit(q))
    torch.testing.assert_close(rot6d_to_matrix(matrix_to_rot6d(rot)), rot, atol=1e-12, rtol=0)
    noisy = rot6d_to_matrix(matrix_to_rot6d(rot) + torch.tensor(noise, dtype=torch.float64))
    torch.testing.assert_close(noisy.T @ noisy, torch.eye(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert torch.det(noisy) == pytest.approx(1.0, abs=1e-12)
    # The first column only gets normalized: it keeps its direction.
    first = matrix_to_rot6d(rot)[:3] + torch.tensor(noise[:3], dtype=torch.float64)
    torch.testing.assert_close(noisy[:, 0], first / first.norm(), atol=1e-12, rtol=0)
    torch.testing.assert_close(quat_to_matrix(rot6d_to_quat(matrix_to_rot6d(rot))), rot, atol=1e-9, rtol=0)


@settings(max_examples=50, deadline=None)
@given(quats, quats)
def test_quat_mul_composes_like_matrices(a, b):
    qa, qb = _unit(a), _unit(b)
    product = quat_to_matrix(qa) @ quat_to_matrix(qb)
    torch.testing.assert_close(quat_to_matrix(quat_mul(qa, qb)), product, atol=1e-12, rtol=0)
    torch.testing.assert_close(quat_to_matrix(quat_conjugate(qa)), quat_to_matrix(qa).T, atol=1e-12, rtol=0)
    vec = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(quat_rotate(qa, vec), quat_to_matrix(qa) @ vec, atol=1e-12, rtol=0)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 0.3, 2.0, math.pi - 1e-6])
def test_axis_angle_round_trip(angle):
    axis = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    rotvec = axis / axis.norm() * angle
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(rotvec)), rotvec, atol=1e-9, rtol=0)
    half = angle / 2
    expected = torch.cat((torch.tensor([math.cos(half)], dtype=torch.float64), axis / axis.norm() * math.sin(half)))
    torch.testing.assert_close(quat_from_axis_angle(rotvec), expected, atol=1e-12, rtol=0)


def test_batched_shapes():
    q = _unit([0.1, 0.2, 0.3, 0.4]).expand(5, 2, 4)
    assert quat_to_matrix(q).shape == (5, 2, 3, 3)
    assert quat_to_rot6d(q).shape == (5, 2, 6)
    assert rot6d_to_quat(quat_to_rot6d(q)).shape == (5, 2, 4)
    assert matrix_to_axis_angle(quat_to_matrix(q)).shape == (5, 2, 3)


def test_clip_norm_scales_only_long_vectors():
    v = torch.tensor([[3.0, 4.0, 0.0], [0.1, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(clip_norm(v, 1.0), torch.tensor([[0.6, 0.8, 0.0], [0.1, 0.0, 0.0]], dtype=torch.float64))
    per_row = clip_norm(v, torch.tensor([10.0, 0.05], dtype=torch.float64))
    torch.testing.assert_close(per_row, torch.tensor([[3.0, 4.0, 0.0], [0.05, 0.0, 0.0]], dtype=torch.float64))
