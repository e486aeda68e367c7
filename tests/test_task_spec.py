"""Task specs, the registry and the assembly check (FurnitureBench's 5 mm per axis and 0.94 axis alignment)."""

from __future__ import annotations

import math

import pytest
import torch

from inril.tasks import get_expert_plan, get_task, list_tasks
from inril.tasks.assembly import AssemblyChecker
from inril.tasks.spec import LOW, MED, PairSpec, PartSpec, Pose, RandomnessSpec, Shape, TaskSpec, yaw_quat
from inril.utils.rotations import quat_mul


def test_registry_lists_and_rejects_names():
    assert {"PegInHole-Low", "PegInHole-Med"} <= set(list_tasks())
    with pytest.raises(ValueError) as err:
        get_task("PegInHole-Hard")
    for name in list_tasks():
        assert name in str(err.value)
    assert [step.part for step in get_expert_plan("PegInHole-Low")] == ["peg"]


def test_peg_in_hole_levels_follow_furniturebench():
    low, med = get_task("PegInHole-Low"), get_task("PegInHole-Med")
    assert (low.randomness.max_force, low.randomness.max_torque, low.randomness.obstacle_offset) == (0.2, 0.007, 0.02)
    assert (med.randomness.max_force, med.randomness.max_torque, med.randomness.obstacle_offset) == (0.5, 0.01, 0.04)
    assert (low.randomness.joint_noise_deg, med.randomness.joint_noise_deg) == (5.0, 10.0)
    assert med.randomness.part_pos_range > low.randomness.part_pos_range
    assert low.parts == med.parts and low.episode_length == 200


def test_observation_layout_counts_every_part_including_obstacles():
    spec = get_task("PegInHole-Low")
    assert [p.name for p in spec.parts] == ["peg", "hole", "obstacle"]
    layout = dict(spec.observation_layout)
    assert list(layout) == ["ee_pos", "ee_quat", "ee_linvel", "ee_angvel", "gripper_width", "parts_poses"]
    assert layout["parts_poses"] == 7 * 3 and sum(layout.values()) == 14 + 21
    assert dict(spec.critic_layout)["parts_vels"] == 6 * 3


def _part(name: str, obstacle: bool = False) -> PartSpec:
    return PartSpec(name, (Shape("box", (0.01, 0.01, 0.01)),), 0.1, Pose((0.5, 0.0, 0.01)), obstacle=obstacle)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Pose(quat=(1.0, 1.0, 0.0, 0.0)), "unit quaternion"),
        (lambda: Pose(pos=(0.0, 0.0)), "3 finite numbers"),
        (lambda: Shape("cone", (0.1,)), "Shape.kind"),
        (lambda: Shape("box", (0.1, 0.1)), "3 finite numbers"),
        (lambda: Shape("sphere", (-0.1,)), "positive"),
        (lambda: PartSpec("a b", (Shape("sphere", (0.1,)),), 1.0, Pose()), "identifier"),
        (lambda: PairSpec("a", "a", (Pose(),)), "two different parts"),
        (lambda: RandomnessSpec("X", -1.0, 0.0, 0.0, 0.0, 0.0, 0.0), "part_pos_range"),
        (lambda: TaskSpec("T", LOW, (_part("a"), _part("a")), (PairSpec("a", "b", (Pose(),)),), 10), "unique"),
        (lambda: TaskSpec("T", LOW, (_part("a"), _part("b")), (PairSpec("a", "c", (Pose(),)),), 10), "unknown part"),
        (lambda: TaskSpec("T", LOW, (_part("a"), _part("b", True)), (PairSpec("a", "b", (Pose(),)),), 10), "obstacle"),
        (lambda: TaskSpec("T", MED, (_part("a"), _part("b")), (PairSpec("a", "b", (Pose(),)),), 0), "episode_length"),
    ],
)
def test_spec_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _poses(peg_offset, peg_quat, hole_yaw=0.3):
    """Part poses (N=1, P=3) with the hole turned by hole_yaw and the peg at offset/quat in the hole frame."""
    spec = get_task("PegInHole-Low")
    hole_q = torch.tensor(yaw_quat(hole_yaw), dtype=torch.float64)
    hole_p = torch.tensor([0.55, 0.1, 0.0], dtype=torch.float64)
    seat = spec.pairs[0].rel_poses[0]
    c, s = math.cos(hole_yaw), math.sin(hole_yaw)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    peg_p = hole_p + rot @ (torch.tensor(seat.pos, dtype=torch.float64) + torch.tensor(peg_offset, dtype=torch.float64))
    peg_q = quat_mul(hole_q, torch.tensor(peg_quat, dtype=torch.float64))
    far = torch.tensor([0.8, 0.0, 0.0], dtype=torch.float64)
    pos = torch.stack((peg_p, hole_p, far))[None]
    quat = torch.stack((peg_q, hole_q, torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)))[None]
    return spec, pos, quat


@pytest.mark.parametrize(
    "offset, quat, assembled",
    [
        ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0), True),
        ((0.0049, -0.0049, 0.0049), (1.0, 0.0, 0.0, 0.0), True),  # 5 mm per axis, not per norm
        ((0.0051, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0), False),
        ((0.0, 0.0, 0.02), (1.0, 0.0, 0.0, 0.0), False),  # half inserted
        ((0.0, 0.0, 0.0), yaw_quat(math.pi / 2), True),  # square peg: quarter turns are symmetric
        ((0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), True),  # and so is upside down
        ((0.0, 0.0, 0.0), yaw_quat(math.radians(19)), True),  # cos(19 deg) = 0.946 >= 0.94
        ((0.0, 0.0, 0.0), yaw_quat(math.radians(21)), False),  # cos(21 deg) = 0.934 < 0.94
    ],
)
def test_assembly_check_thresholds(offset, quat, assembled):
    spec, pos, q = _poses(offset, quat)
    assert AssemblyChecker(spec).check(pos, q).tolist() == [[assembled]]


def test_assembly_check_is_batched_and_frame_invariant():
    spec, pos, quat = _poses((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
    _, far_pos, far_quat = _poses((0.01, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
    # Turning the whole scene about the world z axis changes nothing.
    turn = torch.tensor(yaw_quat(1.0), dtype=torch.float64)
    c, s = math.cos(1.0), math.sin(1.0)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    turned_pos, turned_quat = pos @ rot.T, quat_mul(turn.expand_as(quat), quat)
    checker = AssemblyChecker(spec)
    result = checker.check(torch.cat((pos, far_pos, turned_pos)), torch.cat((quat, far_quat, turned_quat)))
    assert result.squeeze(-1).tolist() == [True, False, True]
