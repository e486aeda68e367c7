"""Assembly stages (lifted, aligned, assembled) and keypoint closeness on constructed poses, their per-episode
bookkeeping (stage flags, the shaping reward), and what the embedded env logs and rewards under the scripted expert
and a hold-still policy."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest
import torch

from inril.backends.mujoco import MujocoVecEnv, make_env
from inril.tasks import get_expert_plan, get_task, list_tasks
from inril.tasks.assembly import (
    ALIGN_HEIGHT,
    ALIGN_RADIUS,
    KEYPOINT_SCALE,
    LIFT_HEIGHT,
    STAGES,
    AssemblyChecker,
    AssemblyProgress,
    pair_names,
    part_keypoints,
)
from inril.tasks.expert import ExpertConfig, InsertionExpert
from inril.tasks.spec import TaskSpec, yaw_quat
from inril.utils.rotations import quat_from_axis_angle, quat_mul, quat_to_matrix, quat_to_rot6d

BASE_YAW = 0.4  # the base part turned on the table: offsets must be taken in its frame, not the world's
TASKS = ("PegInHole-Low", "OneLeg-Low")


def rest_poses(spec: TaskSpec, n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Every part at its nominal rest pose, the pair's base turned by BASE_YAW about z: (n, P, 3), (n, P, 4)."""
    pos = torch.tensor([p.init_pose.pos for p in spec.parts], dtype=torch.float64)
    quat = torch.tensor([p.init_pose.quat for p in spec.parts], dtype=torch.float64)
    base = spec.part_index(spec.pairs[0].base)
    quat[base] = quat_mul(torch.tensor(yaw_quat(BASE_YAW), dtype=torch.float64), quat[base])
    return pos.expand(n, -1, -1).clone(), quat.expand(n, -1, -1).clone()


def at_target(spec: TaskSpec, offset=(0.0, 0.0, 0.0), turn=(1.0, 0.0, 0.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Rest poses with the moving part at the pair's first target shifted by `offset` and turned by `turn`
    (both in the base frame)."""
    pos, quat = rest_poses(spec)
    pair = spec.pairs[0]
    base, part = spec.part_index(pair.base), spec.part_index(pair.part)
    target = pair.rel_poses[0]
    rel = torch.tensor(target.pos, dtype=torch.float64) + torch.tensor(offset, dtype=torch.float64)
    pos[0, part] = pos[0, base] + quat_to_matrix(quat[0, base]) @ rel
    rel_quat = quat_mul(torch.tensor(target.quat, dtype=torch.float64), torch.tensor(turn, dtype=torch.float64))
    quat[0, part] = quat_mul(quat[0, base], rel_quat)
    return pos, quat


def lifted_by(spec: TaskSpec, height: float) -> tuple[torch.Tensor, torch.Tensor]:
    pos, quat = rest_poses(spec)
    pos[0, spec.part_index(spec.pairs[0].part), 2] += height
    return pos, quat


def stages(spec: TaskSpec, poses: tuple[torch.Tensor, torch.Tensor]) -> list[bool]:
    return AssemblyChecker(spec).stages(*poses)[0, 0].tolist()


# ------------------------------------------------------------------------------------------ stage flags


@pytest.mark.parametrize("task, lifted_when_seated", [("PegInHole-Low", False), ("OneLeg-Low", True)])
def test_one_pair_walks_through_the_stages(task, lifted_when_seated):
    spec = get_task(task)
    hover = (0.0, 0.0, 0.04)  # over the target, inside the aligned height
    assert stages(spec, rest_poses(spec)) == [False, False, False]
    assert stages(spec, lifted_by(spec, LIFT_HEIGHT - 0.001)) == [False, False, False]
    assert stages(spec, lifted_by(spec, LIFT_HEIGHT + 0.001)) == [True, False, False]  # lifted, far from the base
    assert stages(spec, at_target(spec, hover)) == [True, True, False]
    # Seated: the peg sits 10 mm above its rest height (not lifted then), the upright leg 67 mm above its lying one.
    assert stages(spec, at_target(spec)) == [lifted_when_seated, True, True]
    assert AssemblyChecker(spec).check(*at_target(spec)).tolist() == [[True]]  # assembled is exactly check


_TILT = tuple(quat_from_axis_angle(torch.tensor([math.radians(25), 0.0, 0.0], dtype=torch.float64)).tolist())


@pytest.mark.parametrize(
    "offset, turn, aligned",
    [
        ((0.007, 0.007, 0.04), (1.0, 0.0, 0.0, 0.0), True),  # 9.9 mm off in xy
        ((0.008, 0.008, 0.04), (1.0, 0.0, 0.0, 0.0), False),  # 11.3 mm: a radius, not per axis
        ((0.0, -0.011, 0.04), (1.0, 0.0, 0.0, 0.0), False),
        ((0.0, 0.0, ALIGN_HEIGHT - 0.001), (1.0, 0.0, 0.0, 0.0), True),
        ((0.0, 0.0, ALIGN_HEIGHT + 0.001), (1.0, 0.0, 0.0, 0.0), False),  # too high above the target
        ((0.0, 0.0, -0.006), (1.0, 0.0, 0.0, 0.0), False),  # below the target by more than the tolerance
        ((0.0, 0.0, 0.04), yaw_quat(math.radians(19)), True),  # cos(19 deg) >= ori_bound 0.94
        ((0.0, 0.0, 0.04), yaw_quat(math.radians(21)), False),
        ((0.0, 0.0, 0.04), _TILT, False),
        ((0.0, 0.0, 0.04), yaw_quat(math.pi / 2), True),  # a symmetric target orientation
    ],
)
@pytest.mark.parametrize("task", TASKS)
def test_aligned_needs_xy_height_and_orientation(task, offset, turn, aligned):
    spec = get_task(task)
    _, is_aligned, assembled = stages(spec, at_target(spec, offset, turn))
    assert is_aligned == aligned and not assembled


@pytest.mark.parametrize("task", list_tasks())
def test_assembled_poses_are_aligned(task):
    """ALIGN_RADIUS >= sqrt(2) * pos_tolerance, so the stages nest: every assembled pose is also aligned."""
    spec = get_task(task)
    gen = torch.Generator().manual_seed(0)
    n, tol = 512, spec.pairs[0].pos_tolerance
    assert ALIGN_RADIUS >= math.sqrt(2) * max(p.pos_tolerance for p in spec.pairs)
    pos, quat = rest_poses(spec, n)
    pair = spec.pairs[0]
    base, part = spec.part_index(pair.base), spec.part_index(pair.part)
    k = torch.randint(len(pair.rel_poses), (n,), generator=gen)
    t_pos = torch.tensor([p.pos for p in pair.rel_poses], dtype=torch.float64)[k]
    t_quat = torch.tensor([p.quat for p in pair.rel_poses], dtype=torch.float64)[k]
    offset = (2 * torch.rand(n, 3, generator=gen, dtype=torch.float64) - 1) * 1.2 * tol
    turn = quat_from_axis_angle(0.3 * torch.randn(n, 3, generator=gen, dtype=torch.float64))
    pos[:, part] = pos[:, base] + (quat_to_matrix(quat[:, base]) @ (t_pos + offset)[..., None])[..., 0]
    quat[:, part] = quat_mul(quat[:, base], quat_mul(t_quat, turn))
    flags = AssemblyChecker(spec).stages(pos, quat)[:, 0]
    assembled, aligned = flags[:, STAGES.index("assembled")], flags[:, STAGES.index("aligned")]
    assert 50 < assembled.sum() < n  # both kinds of samples occur
    assert aligned[assembled].all()


# ------------------------------------------------------------------------------------------- closeness


def closeness(spec: TaskSpec, poses: tuple[torch.Tensor, torch.Tensor]) -> float:
    return AssemblyChecker(spec).closeness(*poses)[0, 0].item()


def test_keypoints_are_the_ends_of_the_part_axes():
    leg = part_keypoints(get_task("OneLeg-Low").part("leg"))
    half = (0.0125, 0.0125, 0.06)  # the leg's box
    assert leg.tolist() == [[h if i == j else 0.0 for j in range(3)] for i, h in enumerate(half)] + [
        [-h if i == j else 0.0 for j in range(3)] for i, h in enumerate(half)]


@pytest.mark.parametrize("task", TASKS)
def test_closeness_is_one_at_every_target_and_falls_with_distance(task):
    spec = get_task(task)
    pair = spec.pairs[0]
    base, part = spec.part_index(pair.base), spec.part_index(pair.part)
    pos, quat = rest_poses(spec, len(pair.rel_poses))
    for k, target in enumerate(pair.rel_poses):  # every symmetric target counts, not only the first
        pos[k, part] = pos[k, base] + quat_to_matrix(quat[k, base]) @ torch.tensor(target.pos, dtype=torch.float64)
        quat[k, part] = quat_mul(quat[k, base], torch.tensor(target.quat, dtype=torch.float64))
    assert AssemblyChecker(spec).closeness(pos, quat)[:, 0].tolist() == pytest.approx([1.0] * len(pair.rel_poses))
    heights = [0.0, 0.005, 0.01, 0.03, 0.1]
    above = [closeness(spec, at_target(spec, (0.0, 0.0, h))) for h in heights]
    assert above == pytest.approx([math.exp(-h / KEYPOINT_SCALE) for h in heights])  # every keypoint moves by h
    assert closeness(spec, rest_poses(spec)) < 1e-3  # flat far away


@pytest.mark.parametrize("task", TASKS)
def test_a_tilted_part_is_not_close_even_with_its_origin_on_the_target(task):
    spec = get_task(task)

    def tilted(degrees: float) -> float:
        turn = quat_from_axis_angle(torch.tensor([math.radians(degrees), 0.0, 0.0], dtype=torch.float64))
        return closeness(spec, at_target(spec, turn=tuple(turn.tolist())))

    assert tilted(5) < tilted(1) < 1.0 and tilted(5) < 0.95


# ---------------------------------------------------------------------------------------- bookkeeping


def test_reached_is_monotone_within_an_episode_and_cleared_by_reset():
    spec = get_task("PegInHole-Low")
    progress = AssemblyProgress(spec, num_envs=2, device="cpu")
    walk = [rest_poses(spec), lifted_by(spec, 0.03), at_target(spec, (0.0, 0.0, 0.04)), at_target(spec),
            rest_poses(spec)]
    held_up = lifted_by(spec, 0.03)  # env 1 only ever lifts its part
    before, newly = progress.reached.clone(), []
    for step, (pos, quat) in enumerate(walk):
        progress.update(torch.cat((pos, held_up[0])), torch.cat((quat, held_up[1])), step=step)
        assert (progress.reached >= before).all()  # nothing reached is forgotten
        before = progress.reached.clone()
        newly.append(progress.newly[:, 0].tolist())
    assert progress.reached[:, 0].tolist() == [[True, True, True], [True, False, False]]
    assert newly == [[False, False]] * 3 + [[True, False]] + [[False, False]]  # the reward fires once
    log = progress.episode_log(torch.tensor([0, 1]))
    assert {k: v.tolist() for k, v in log.items()} == {
        "/success": [1.0, 0.0], "/stage_lifted": [1.0, 1.0], "/stage_aligned": [1.0, 0.0],
        "/stage_assembled": [1.0, 0.0],
    }
    progress.reset(torch.tensor([0]))
    assert progress.reached[:, 0].tolist() == [[False, False, False], [True, False, False]]
    assert not progress.success.any() and not progress.assembled.any()


def test_shaping_is_the_closeness_change_and_telescopes_from_the_reset():
    spec = get_task("PegInHole-Low")
    progress = AssemblyProgress(spec, num_envs=1, device="cpu", shaping=True)
    walk = [rest_poses(spec), at_target(spec, (0.0, 0.0, 0.04)), at_target(spec, (0.0, 0.0, 0.01)),
            at_target(spec, (0.003, 0.0, 0.02)), at_target(spec)]
    shaping = []
    for pos, quat in walk:
        progress.update(pos, quat)
        shaping.append(progress.shaping.item())
    levels = [closeness(spec, poses) for poses in walk]
    assert shaping[0] == 0.0  # nothing to compare the first state after a reset with
    assert shaping[1:] == pytest.approx([b - a for a, b in zip(levels, levels[1:])], abs=1e-6)
    assert shaping[3] < 0  # moving away is paid back: hovering cannot farm reward
    assert sum(shaping) == pytest.approx(levels[-1] - levels[0], abs=1e-6)
    progress.reset([0])
    progress.update(*at_target(spec, (0.0, 0.0, 0.04)))
    assert progress.shaping.item() == 0.0  # a new episode starts from its own first state
    sparse = AssemblyProgress(spec, num_envs=1, device="cpu")
    for pos, quat in walk:
        sparse.update(pos, quat)
        assert sparse.shaping.item() == 0.0 and sparse.closeness.sum().item() == 0.0  # off: never computed


def test_invalid_envs_reach_nothing():
    spec = get_task("PegInHole-Low")
    progress = AssemblyProgress(spec, num_envs=2, device="cpu")
    pos, quat = at_target(spec, (0.0, 0.0, 0.04))
    progress.update(pos.expand(2, -1, -1), quat.expand(2, -1, -1), valid=torch.tensor([False, True]))
    assert progress.reached[:, 0].tolist() == [[False, False, False], [True, True, False]]


def test_stage_log_is_the_fraction_of_pairs():
    spec = get_task("PegInHole-Low")
    peg2 = replace(spec.part("peg"), name="peg2", init_pose=replace(spec.part("peg").init_pose, pos=(0.4, 0.0, 0.04)))
    two = replace(spec, parts=spec.parts + (peg2,), pairs=spec.pairs + (replace(spec.pairs[0], part="peg2"),))
    progress = AssemblyProgress(two, num_envs=1, device="cpu")
    pos, quat = at_target(two)  # the first peg seated, the second at rest
    progress.update(pos, quat)
    log = progress.episode_log([0])
    assert [log[f"/stage_{name}"].item() for name in STAGES] == [0.0, 0.5, 0.5] and log["/success"].item() == 0.0


def _lamp_poses(bulb_locked: bool, hood_seated: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Lamp rest poses with the bulb locked in the base and the hood seated on it, as asked."""
    spec = get_task("Lamp-Low")
    pos, quat = rest_poses(spec)
    base = spec.part_index("base")
    for flag, pair in zip((bulb_locked, hood_seated), spec.pairs):
        if flag:
            part, target = spec.part_index(pair.part), pair.rel_poses[0]
            pos[0, part] = pos[0, base] + quat_to_matrix(quat[0, base]) @ torch.tensor(target.pos, dtype=torch.float64)
            quat[0, part] = quat_mul(quat[0, base], torch.tensor(target.quat, dtype=torch.float64))
    return pos, quat


def test_several_pairs_log_their_stages_by_name():
    spec = get_task("Lamp-Low")
    assert pair_names(spec) == ["bulb", "hood"]
    progress = AssemblyProgress(spec, num_envs=1, device="cpu")
    progress.update(*_lamp_poses(bulb_locked=True, hood_seated=False))
    log = {k: v.item() for k, v in progress.episode_log([0]).items()}
    per_pair = {f"/stage_{pair}_{name}" for pair in ("bulb", "hood") for name in STAGES}
    assert set(log) == {"/success"} | {f"/stage_{name}" for name in STAGES} | per_pair
    assert (log["/success"], log["/stage_aligned"], log["/stage_assembled"]) == (0.0, 0.5, 0.5)
    assert (log["/stage_bulb_aligned"], log["/stage_bulb_assembled"]) == (1.0, 1.0)
    assert (log["/stage_hood_lifted"], log["/stage_hood_aligned"], log["/stage_hood_assembled"]) == (0.0, 0.0, 0.0)
    assert progress.newly.tolist() == [[True, False]]
    progress.update(*_lamp_poses(bulb_locked=True, hood_seated=True))
    assert progress.newly.tolist() == [[False, True]] and progress.success.tolist() == [True]  # +1 per pair
    one = AssemblyProgress(get_task("PegInHole-Low"), num_envs=1, device="cpu")
    assert set(one.episode_log([0])) == {"/success"} | {f"/stage_{name}" for name in STAGES}  # no per-pair keys


def test_a_part_in_several_pairs_is_named_with_its_base():
    spec = get_task("PegInHole-Low")
    hole = spec.part("hole")
    hole2 = replace(hole, name="hole2", init_pose=replace(hole.init_pose, pos=(0.4, 0.2, 0.0)))
    two = replace(spec, parts=spec.parts + (hole2,), pairs=spec.pairs + (replace(spec.pairs[0], base="hole2"),))
    assert pair_names(two) == ["hole_peg", "hole2_peg"]


def test_shaping_counts_a_pair_once_the_pairs_before_it_are_assembled():
    spec = get_task("Lamp-Low")
    checker = AssemblyChecker(spec)
    progress = AssemblyProgress(spec, num_envs=1, device="cpu", shaping=True)
    hood_first = _lamp_poses(bulb_locked=False, hood_seated=True)
    progress.update(*hood_first)
    bulb, hood = checker.closeness(*hood_first)[0].tolist()
    assert hood == pytest.approx(1.0) and progress.potential.item() == pytest.approx(bulb, abs=1e-6)  # hood not yet
    both = _lamp_poses(bulb_locked=True, hood_seated=True)
    progress.update(*both)
    assert progress.potential.item() == pytest.approx(2.0, abs=1e-6)  # the bulb opened the hood's term
    assert progress.shaping.item() == pytest.approx(2.0 - bulb, abs=1e-6)
    progress.update(*hood_first)  # the bulb pulled out again: its pair stays counted as assembled this episode
    assert progress.potential.item() == pytest.approx(bulb + 1.0, abs=1e-6)


# ------------------------------------------------------------------------------------ embedded env logs


def finished_episode_logs(
    env: MujocoVecEnv, act: Callable[[dict], torch.Tensor], reset: Callable[[torch.Tensor], None] = lambda dones: None
) -> dict[str, torch.Tensor]:
    """Step until every env finished its first episode; each log key's entries of those first episodes, by env."""
    first: dict[str, torch.Tensor] = {}
    ended = torch.zeros(env.num_envs, dtype=torch.bool)
    while not ended.all():
        _, _, dones, extras = env.step(act(env.obs_terms()))
        done_ids = dones.bool().nonzero()[:, 0]
        entries = {k: v for k, v in extras["log"].items() if k == "/success" or k.startswith("/stage_")}
        assert (len(entries) == 1 + len(STAGES)) == bool(done_ids.numel())
        for key, values in entries.items():
            assert values.shape == done_ids.shape  # one entry per finished episode
            first.setdefault(key, torch.full((env.num_envs,), float("nan")))
            fresh = ~ended[done_ids]
            first[key][done_ids[fresh]] = values[fresh]
        ended[done_ids] = True
        reset(dones.bool())
    return first


def hold_still(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    n = terms["ee_pos"].shape[0]
    return torch.cat((terms["ee_pos"], quat_to_rot6d(terms["ee_quat"]), -torch.ones(n, 1)), dim=-1)


@pytest.mark.parametrize("task", TASKS)
def test_expert_episodes_log_every_stage(task):
    env = make_env(task, 4, seed=0)
    expert = InsertionExpert(env.task, get_expert_plan(task), env.num_envs, ExpertConfig(seed=0))
    logs = finished_episode_logs(env, expert.act, expert.reset)
    env.close()
    success = logs["/success"] == 1.0
    assert success.sum() >= 3, f"{task}: the expert solved {int(success.sum())}/4"
    for name in STAGES:
        assert (logs[f"/stage_{name}"][success] == 1.0).all(), name


@pytest.mark.parametrize("task", TASKS)
def test_holding_still_logs_no_stage(task):
    env = make_env(task, 4, seed=0, episode_length=8)
    logs = finished_episode_logs(env, hold_still)
    env.close()
    assert {k: v.tolist() for k, v in logs.items()} == {
        k: [0.0] * 4 for k in ["/success"] + [f"/stage_{name}" for name in STAGES]
    }


@pytest.mark.parametrize("task", TASKS)
def test_shaping_weight_adds_the_scaled_closeness_change_to_the_sparse_reward(task):
    weight = 2.0
    env = make_env(task, 2, seed=0, shaping_weight=weight)
    expert = InsertionExpert(env.task, get_expert_plan(task), env.num_envs, ExpertConfig(seed=0))
    returns, ended = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.bool)
    while not ended.all():
        _, rewards, dones, extras = env.step(expert.act(env.obs_terms()))
        sparse = torch.zeros(2)  # the expert's episodes end on success: the sparse reward fires on the last step
        if dones.any():
            sparse[dones.bool()] = extras["log"]["/success"]
        assert rewards.tolist() == pytest.approx((sparse + weight * env.progress.shaping).tolist())
        returns += torch.where(ended, 0.0, rewards.double())
        ended |= dones.bool()
        expert.reset(dones.bool())
    env.close()
    assert (returns > 1.0).all() and (returns < 1.0 + weight).all()  # success plus part of the potential


def test_shaping_weight_must_be_finite_and_not_negative():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="shaping_weight"):
            make_env("PegInHole-Low", 1, seed=0, shaping_weight=bad)
