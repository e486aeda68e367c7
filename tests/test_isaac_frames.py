"""The torch math of the Isaac Lab terms (quaternion order, frames, action command, resets, assembly
progress), checked against the embedded backend's kinematics and task specs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exts" / "inril_isaac"))

from inril.backends.mujoco.franka import HOME_JOINTS, TCP_OFFSET  # noqa: E402
from inril.backends.mujoco.kinematics import tcp_pose_and_jacobian  # noqa: E402
from inril.tasks import get_task  # noqa: E402
from inril.tasks.assembly import AssemblyProgress  # noqa: E402
from inril.tasks.spec import EE_QUAT_REFERENCE  # noqa: E402
from inril.utils.rotations import (  # noqa: E402
    matrix_to_quat,
    matrix_to_rot6d,
    quat_canonical,
    quat_from_axis_angle,
    quat_hemisphere,
    quat_mul,
    quat_rotate,
    quat_to_matrix,
)
from inril_isaac.frames import (  # noqa: E402
    parts_observation,
    pose_command,
    push_wrench,
    shifted_part_poses,
    tcp_observation,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)

N = 16


def _random_quat(gen: torch.Generator, n: int) -> torch.Tensor:
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    return q / q.norm(dim=-1, keepdim=True)


def _roots(gen: torch.Generator, moved: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Robot root poses in the world: at the origin, or at an env origin turned about z (as a cloned env)."""
    if not moved:
        return torch.zeros(N, 3, dtype=torch.float64), torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64).expand(N, 4)
    pos = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    yaw = torch.rand(N, 1, generator=gen, dtype=torch.float64) * 2 * math.pi
    return pos, wxyz_to_xyzw(quat_from_axis_angle(yaw * torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)))


@pytest.mark.parametrize("moved_root", [False, True])
def test_tcp_observation_reproduces_the_embedded_kinematics(moved_root):
    gen = torch.Generator().manual_seed(0)
    q = torch.tensor(HOME_JOINTS) + 0.3 * torch.randn(N, 7, generator=gen, dtype=torch.float64)
    qd = torch.randn(N, 7, generator=gen, dtype=torch.float64)
    tcp_pos, rot, jac = tcp_pose_and_jacobian(q)  # base frame, the embedded backend's observation source
    twist = (jac @ qd[..., None])[..., 0]
    offset = rot[:, :, 2] * TCP_OFFSET
    hand_pos_b, hand_linvel_b = tcp_pos - offset, twist[:, :3] - torch.linalg.cross(twist[:, 3:], offset, dim=-1)

    root_pos, root_quat = _roots(gen, moved_root)  # what Isaac Lab reports: world frame, (x, y, z, w)
    root_wxyz = xyzw_to_wxyz(root_quat)
    hand_quat_w = wxyz_to_xyzw(quat_mul(root_wxyz, matrix_to_quat(rot)))
    obs = tcp_observation(
        root_pos + quat_rotate(root_wxyz, hand_pos_b), hand_quat_w, quat_rotate(root_wxyz, hand_linvel_b),
        quat_rotate(root_wxyz, twist[:, 3:]), root_pos, root_quat, TCP_OFFSET,
    )
    torch.testing.assert_close(obs["ee_pos"], tcp_pos)
    # (w, x, y, z) in the gripper-down hemisphere, as the embedded obs
    torch.testing.assert_close(obs["ee_quat"], quat_hemisphere(matrix_to_quat(rot), EE_QUAT_REFERENCE))
    torch.testing.assert_close(obs["ee_linvel"], twist[:, :3])
    torch.testing.assert_close(obs["ee_angvel"], twist[:, 3:])


def test_parts_observation_is_in_the_base_frame_with_canonical_wxyz_quaternions():
    gen = torch.Generator().manual_seed(1)
    parts = 3
    pos_b = torch.randn(N, parts, 3, generator=gen, dtype=torch.float64)
    quat_b = _random_quat(gen, N * parts).reshape(N, parts, 4)
    linvel_b, angvel_b = (torch.randn(N, parts, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    root_pos, root_quat = _roots(gen, moved=True)
    root = xyzw_to_wxyz(root_quat)[:, None].expand(N, parts, 4)
    obs = parts_observation(
        root_pos[:, None] + quat_rotate(root, pos_b), wxyz_to_xyzw(quat_mul(root, quat_b)),
        quat_rotate(root, linvel_b), quat_rotate(root, angvel_b), root_pos, root_quat,
    )
    poses = obs["parts_poses"].reshape(N, parts, 7)
    torch.testing.assert_close(poses[..., :3], pos_b)
    torch.testing.assert_close(poses[..., 3:], quat_canonical(quat_b))
    torch.testing.assert_close(obs["parts_vels"].reshape(N, parts, 6), torch.cat((linvel_b, angvel_b), dim=-1))


def _current_tool(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(N, 3, generator=gen, dtype=torch.float64) * 0.3, wxyz_to_xyzw(_random_quat(gen, N))


def test_pose_command_reaches_a_target_within_one_step():
    gen = torch.Generator().manual_seed(2)
    ee_pos, ee_quat = _current_tool(gen)
    turn = torch.randn(N, 3, generator=gen, dtype=torch.float64)
    turn = 0.3 * turn / turn.norm(dim=-1, keepdim=True)
    target_rot = quat_to_matrix(quat_mul(quat_from_axis_angle(turn), xyzw_to_wxyz(ee_quat)))
    target_pos = ee_pos + 0.04 * torch.nn.functional.normalize(torch.randn(N, 3, generator=gen, dtype=torch.float64), dim=-1)
    command = pose_command(torch.cat((target_pos, matrix_to_rot6d(target_rot)), -1), ee_pos, ee_quat, 0.05, 0.4)
    torch.testing.assert_close(command[:, :3], target_pos)
    torch.testing.assert_close(quat_to_matrix(xyzw_to_wxyz(command[:, 3:])), target_rot)


def test_pose_command_limits_far_targets_and_holds_on_non_finite_actions():
    gen = torch.Generator().manual_seed(3)
    ee_pos, ee_quat = _current_tool(gen)
    far = torch.cat((ee_pos + 1.0, matrix_to_rot6d(quat_to_matrix(_random_quat(gen, N)))), dim=-1)
    far[0, 3:] = matrix_to_rot6d(quat_to_matrix(xyzw_to_wxyz(ee_quat[:1])) @ torch.diag(torch.tensor(
        [1.0, -1.0, -1.0], dtype=torch.float64)))  # a half turn away
    far[1, 2] = float("nan")
    command = pose_command(far, ee_pos, ee_quat, 0.05, 0.4)
    moved = (command[2:, :3] - ee_pos[2:]).norm(dim=-1)
    torch.testing.assert_close(moved, torch.full_like(moved, 0.05))
    relative = quat_mul(xyzw_to_wxyz(command[:, 3:]), xyzw_to_wxyz(ee_quat) * torch.tensor([1.0, -1, -1, -1]))
    angle = 2 * torch.atan2(relative[:, 1:].norm(dim=-1), relative[:, 0].abs())
    assert (angle[2:] <= 0.4 + 1e-9).all() and angle[0] == pytest.approx(0.4)
    torch.testing.assert_close(command[1], torch.cat((ee_pos[1], ee_quat[1])))
    torch.testing.assert_close(command[:, 3:].norm(dim=-1), torch.ones(N, dtype=torch.float64))


def test_shifted_part_poses_span_the_ranges_with_a_world_yaw():
    nominal_pos = torch.tensor([[0.5, -0.1, 0.04]]).expand(3, 3)
    tilted = torch.tensor([[math.cos(0.5), math.sin(0.5), 0.0, 0.0]]).expand(3, 4)  # not a pure yaw: order matters
    u = torch.tensor([[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    pos, quat = shifted_part_poses(nominal_pos, tilted, u, xy_range=0.02, yaw_range=0.3)
    torch.testing.assert_close(pos[0], nominal_pos[0])
    torch.testing.assert_close(pos[1:, :2] - nominal_pos[1:, :2], torch.tensor([[-0.02, -0.02], [0.02, 0.02]]))
    torch.testing.assert_close(pos[:, 2], nominal_pos[:, 2])
    torch.testing.assert_close(quat[0], tilted[0])
    yaw = quat_from_axis_angle(torch.tensor([0.0, 0.0, 0.3]))
    torch.testing.assert_close(quat[2], quat_mul(yaw, tilted[2]))  # world z: turn * nominal


def test_push_wrench_is_horizontal_and_bounded():
    u = torch.rand(1000, 3, generator=torch.Generator().manual_seed(4))
    force, torque = push_wrench(u, max_force=0.5, max_torque=0.01)
    assert (force[:, 2] == 0).all() and (force.norm(dim=-1) <= 0.5 + 1e-6).all() and force.norm(dim=-1).max() > 0.45
    assert (torque[:, :2] == 0).all() and torque[:, 2].abs().max() <= 0.01 and torque[:, 2].min() < -0.009


def test_assembly_progress_rewards_each_pair_once_per_episode():
    spec = get_task("PegInHole-Low")  # one pair: seating it is success
    progress = AssemblyProgress(spec, num_envs=2, device="cpu")
    pair = spec.pairs[0]
    base, part = spec.part_index(pair.base), spec.part_index(pair.part)
    pos = torch.stack([torch.tensor([p.init_pose.pos for p in spec.parts])] * 2)
    quat = torch.tensor([p.init_pose.quat for p in spec.parts]).expand(2, -1, -1).clone()
    progress.update(pos, quat, step=1)
    assert not progress.newly.any() and not progress.success.any()
    seated = pos.clone()
    seated[0, part] = pos[0, base] + torch.tensor(pair.rel_poses[0].pos)
    quat[0, part] = torch.tensor(pair.rel_poses[0].quat)
    progress.update(seated, quat, step=2)
    assert progress.newly[:, 0].tolist() == [True, False] and progress.success.tolist() == [True, False]
    progress.update(seated, quat, step=2)  # the second term asking in the same step changes nothing
    assert progress.newly[:, 0].tolist() == [True, False]
    progress.update(seated, quat, step=3)  # still seated: counted once
    assert not progress.newly.any() and progress.success.tolist() == [True, False]
    progress.update(pos, quat, step=4)
    assert progress.success.tolist() == [True, False]  # success holds for the rest of the episode
    progress.reset(torch.tensor([0]))
    assert not progress.assembled.any()
