"""Lamp, RoundTable and MugRack: specs, the physical joints (the bayonet lock, the foot on the leg's free end, the hung
mug), the multi-step scripted expert (twist, release and regrasp, hang) and its demos."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import load_script
from inril.backends.mujoco import MujocoVecEnv, make_env
from inril.data.demo_reader import read_episodes
from inril.tasks import get_expert_plan, get_task, lamp, mug_rack, one_leg, round_table
from inril.tasks.assembly import STAGES, AssemblyChecker
from inril.tasks.expert import ExpertConfig, InsertionExpert, InsertionPlan, Phase
from inril.tasks.spec import yaw_quat
from inril.utils.rotations import quat_mul, quat_to_matrix, quat_to_rot6d

collect_demos = load_script("collect_demos")

FAMILIES = {"Lamp": lamp, "RoundTable": round_table, "MugRack": mug_rack}
QUARTER = yaw_quat(math.pi / 2)


def hold(env: MujocoVecEnv) -> torch.Tensor:
    """Actions that keep every tool where it is, gripper open."""
    terms = env.obs_terms()
    return torch.cat((terms["ee_pos"], quat_to_rot6d(terms["ee_quat"]), -torch.ones(env.num_envs, 1)), dim=-1)


def place(env: MujocoVecEnv, i: int, part: str, base: str, rel_pos, rel_quat, velocity=(0.0, 0.0, 0.0)) -> None:
    """Write env i's `part` at (rel_pos, rel_quat) in `base`'s frame, moving at `velocity` (world)."""
    lay, state = env.layout, env.physics_state
    p, b = (lay.part_qpos[env.task.part_index(name)] for name in (part, base))
    base_pos, base_quat = torch.from_numpy(state[i, 1 + b : 4 + b]), torch.from_numpy(state[i, 4 + b : 8 + b])
    rel = torch.tensor(rel_pos, dtype=torch.float64)
    state[i, 1 + p : 4 + p] = (base_pos + quat_to_matrix(base_quat) @ rel).numpy()
    state[i, 4 + p : 8 + p] = quat_mul(base_quat, torch.tensor(rel_quat, dtype=torch.float64)).numpy()
    dof = 1 + lay.nq + lay.part_qvel[env.task.part_index(part)]
    state[i, dof : dof + 6] = (*velocity, 0.0, 0.0, 0.0)


def part_poses(env: MujocoVecEnv) -> tuple[torch.Tensor, torch.Tensor]:
    poses = env.obs_terms()["parts_poses"].double().reshape(env.num_envs, -1, 7)
    return poses[..., :3], poses[..., 3:]


# ------------------------------------------------------------------------------------------------- specs


@pytest.mark.parametrize("family", FAMILIES)
def test_levels_share_the_parts_and_the_obstacle_comes_last(family):
    low, med = get_task(f"{family}-Low"), get_task(f"{family}-Med")
    assert low.parts == med.parts and low.pairs == med.pairs
    assert (low.randomness.max_force, med.randomness.max_force) == (0.2, 0.5)  # FurnitureBench's levels
    assert low.parts[-1].obstacle and not any(p.obstacle for p in low.parts[:-1])
    assert low.obs_dim == 14 + 7 * len(low.parts)
    assert low.episode_length == FAMILIES[family].EPISODE_LENGTH
    plan = get_expert_plan(f"{family}-Low")
    assert [(step.base, step.part) for step in plan] == [(pair.base, pair.part) for pair in low.pairs]  # in order


def test_pairs_and_their_order():
    assert [(p.base, p.part) for p in get_task("Lamp-Low").pairs] == [("base", "bulb"), ("base", "hood")]
    assert [(p.base, p.part) for p in get_task("RoundTable-Low").pairs] == [("top", "leg"), ("leg", "foot")]
    assert [(p.base, p.part) for p in get_task("MugRack-Low").pairs] == [("rack", "mug")]


def test_bayonet_geometry_admits_the_key_lengthwise_and_locks_it_turned():
    key_half_length, key_half_width, key_half_height = lamp.KEY_HALF
    assert key_half_width < lamp.SLOT_HALF_WIDTH < key_half_length  # through the slot only along it
    assert math.hypot(key_half_length, key_half_width) < lamp.CHAMBER_HALF_WIDTH  # free to turn in the chamber
    assert 2 * key_half_height < lamp.CHAMBER_HEIGHT  # and under the lip
    assert lamp.STEM_RADIUS < lamp.SLOT_HALF_WIDTH < lamp.GLASS_RADIUS
    # The stem reaches above the lip, so the glass clears it when the key is on the chamber floor.
    assert lamp.PLINTH_TOP + 2 * key_half_height + 2 * lamp.STEM_HALF_LENGTH > lamp.BLOCK_TOP
    locked = get_task("Lamp-Low").pairs[0].rel_poses
    assert [round(math.degrees(2 * math.atan2(p.quat[3], p.quat[0]))) % 360 for p in locked] == [90, 270]


# ----------------------------------------------------------------------------------------- the joints


def test_the_bayonet_holds_the_turned_bulb_and_lets_the_unturned_one_out():
    env = make_env("Lamp-Low", 3, seed=1, terminate_on_success=False)
    seat = (0.0, 0.0, lamp.PLINTH_TOP)
    place(env, 0, "bulb", "base", seat, (1.0, 0.0, 0.0, 0.0), velocity=(0.0, 0.0, 1.0))  # key along the slot
    place(env, 1, "bulb", "base", seat, QUARTER, velocity=(0.0, 0.0, 1.0))  # turned a quarter: locked
    place(env, 2, "bulb", "base", seat, (1.0, 0.0, 0.0, 0.0))  # seated, not turned
    bulb, base = env.task.part_index("bulb"), env.task.part_index("base")
    rewards, highest = [], torch.zeros(3, dtype=torch.float64)
    for _ in range(5):
        rewards.append(env.step(hold(env))[1])
        pos, _ = part_poses(env)
        highest = torch.maximum(highest, pos[:, bulb, 2] - pos[:, base, 2])
    rewards = torch.stack(rewards)
    assert highest[0] > lamp.BLOCK_TOP  # thrown up, it leaves through the slot
    assert highest[1] < lamp.PLINTH_TOP + lamp.CHAMBER_HEIGHT - 2 * lamp.KEY_HALF[2] + 0.001  # the lip holds it
    assert rewards.sum(0).tolist() == [0.0, 1.0, 0.0]  # only the turned bulb is assembled, once
    assert env.assembled[:, 1].sum() == 0  # no hood yet


def _round_table_poses(leg_quat, foot_rel) -> tuple[torch.Tensor, torch.Tensor]:
    """RoundTable rest poses with the leg seated in the top turned by `leg_quat` and the foot at `foot_rel` (pos,
    quat) in the leg's frame."""
    spec = get_task("RoundTable-Low")
    pos = torch.tensor([[p.init_pose.pos for p in spec.parts]], dtype=torch.float64)
    quat = torch.tensor([[p.init_pose.quat for p in spec.parts]], dtype=torch.float64)
    top, leg, foot = (spec.part_index(n) for n in ("top", "leg", "foot"))
    pos[0, leg] = pos[0, top] + torch.tensor(spec.pairs[0].rel_poses[0].pos, dtype=torch.float64)
    quat[0, leg] = torch.tensor(leg_quat, dtype=torch.float64)
    if foot_rel is not None:
        rot = quat_to_matrix(quat[0, leg])
        pos[0, foot] = pos[0, leg] + rot @ torch.tensor(foot_rel[0], dtype=torch.float64)
        quat[0, foot] = quat_mul(quat[0, leg], torch.tensor(foot_rel[1], dtype=torch.float64))
    return pos, quat


@pytest.mark.parametrize("leg_quat", [(1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)], ids=["upright", "upside_down"])
def test_the_foot_counts_on_the_legs_upper_end_whichever_end_is_up(leg_quat):
    checker = AssemblyChecker(get_task("RoundTable-Low"))
    seat = one_leg.LEG_HALF_LENGTH - round_table.FOOT_PLATE_BOTTOM
    up = 1.0 if leg_quat[0] == 1.0 else -1.0  # the leg's upper end along its own axis
    flip = (1.0, 0.0, 0.0, 0.0) if up > 0 else (0.0, 1.0, 0.0, 0.0)  # the foot upright in the world
    on_top = _round_table_poses(leg_quat, ((0.0, 0.0, up * seat), flip))
    assert checker.check(*on_top).tolist() == [[True, True]]
    hovering = _round_table_poses(leg_quat, ((0.0, 0.0, up * (seat + 0.03)), flip))
    assert checker.stages(*hovering)[0, 1].tolist() == [True, True, False]  # lifted, aligned above the upper end
    below = _round_table_poses(leg_quat, ((0.0, 0.0, -up * (seat + 0.03)), flip))  # under the lower end
    assert checker.stages(*below)[0, 1, STAGES.index("aligned")].item() is False
    assert checker.check(*_round_table_poses(leg_quat, None)).tolist() == [[True, False]]  # the foot at rest


def test_a_foot_held_where_the_leg_should_be_is_not_on_the_leg():
    spec = get_task("RoundTable-Low")
    pos, quat = _round_table_poses((1.0, 0.0, 0.0, 0.0), ((0.0, 0.0, one_leg.LEG_HALF_LENGTH - 0.03), QUARTER))
    leg = spec.part_index("leg")
    pos[0, leg] = torch.tensor(spec.part("leg").init_pose.pos, dtype=torch.float64)  # the leg back on the table
    quat[0, leg] = torch.tensor(spec.part("leg").init_pose.quat, dtype=torch.float64)
    assert AssemblyChecker(spec).check(pos, quat).tolist() == [[False, False]]


def test_a_mug_let_go_on_the_peg_stays_hung_and_one_beside_it_falls():
    env = make_env("MugRack-Low", 3, seed=2, terminate_on_success=False)
    hung = env.task.pairs[0].rel_poses
    place(env, 0, "mug", "rack", hung[0].pos, hung[0].quat)
    place(env, 1, "mug", "rack", tuple(a + b for a, b in zip(hung[1].pos, (0.0, 0.0, 0.01))), hung[1].quat)  # drops on
    place(env, 2, "mug", "rack", tuple(a + b for a, b in zip(hung[0].pos, (0.0, -0.04, 0.0))), hung[0].quat)  # off it
    rewards = torch.stack([env.step(hold(env))[1] for _ in range(20)])
    pos, quat = part_poses(env)
    assert AssemblyChecker(env.task).check(pos, quat)[:, 0].tolist() == [True, True, False]  # still hanging
    assert rewards.sum(0).tolist() == [1.0, 1.0, 0.0]
    mug, rack = env.task.part_index("mug"), env.task.part_index("rack")
    assert pos[2, mug, 2] - pos[2, rack, 2] < hung[0].pos[2] - 0.03  # the third fell


# ------------------------------------------------------------------------------------------ the expert


def expert_episodes(task: str, num: int, seed: int) -> dict[str, torch.Tensor]:
    """Run the expert until every env finished its first episode: success, length, the step each pair was first
    rewarded (-1: never) and which phases each env went through."""
    env = make_env(task, num, seed=seed)
    expert = InsertionExpert(env.task, get_expert_plan(task), num, ExpertConfig(seed=seed))
    pairs = len(env.task.pairs)
    out = {"success": torch.zeros(num, dtype=torch.bool), "length": torch.zeros(num, dtype=torch.long),
           "rewarded_at": torch.full((num, pairs), -1), "phases": torch.zeros(num, len(Phase), dtype=torch.bool)}
    ended = torch.zeros(num, dtype=torch.bool)
    while not ended.all():
        live = ~ended
        action = expert.act(env.obs_terms())
        out["phases"][live, expert.phase[live]] = True  # the phase this action belongs to
        _, _, dones, extras = env.step(action)
        out["length"] += live
        done = dones.bool()
        # A finished env is reset inside the step, which clears its flags: its last pairs are those its success adds.
        newly = env.progress.newly & (live & ~done)[:, None]
        if done.any():
            finished = torch.zeros(num, dtype=torch.bool)
            finished[done] = extras["log"]["/success"].bool()
            newly |= (finished & live)[:, None] & (out["rewarded_at"] < 0)
        out["rewarded_at"] = torch.where(newly, out["length"][:, None], out["rewarded_at"])
        out["success"] |= done & live & (out["rewarded_at"] >= 0).all(-1)
        ended |= done
        expert.reset(done)
    env.close()
    return out


@pytest.mark.parametrize(
    "task, minimum",
    [("Lamp-Low", 0.9), ("Lamp-Med", 0.7), ("RoundTable-Low", 0.9), ("RoundTable-Med", 0.7), ("MugRack-Low", 0.9),
     ("MugRack-Med", 0.7)],
)
def test_expert_assembles_the_pairs_in_order(task, minimum):
    out = expert_episodes(task, 20, seed=0)
    success = out["success"]
    assert success.float().mean() >= minimum, f"{task}: {int(success.sum())}/20 episodes solved"
    assert out["length"][success].max() < get_task(task).episode_length / 3  # solved, not timed out into it
    at = out["rewarded_at"][success]
    assert (at[:, 1:] > at[:, :-1]).all()  # each pair rewarded once, in the plan's order
    visited = out["phases"][success].all(0)
    plan = get_expert_plan(task)
    regrasp = (Phase.RELEASE, Phase.RETREAT)
    assert all(visited[p] for p in (Phase.GRASP, Phase.INSERT, Phase.SEAT))
    assert all(visited[p] == (len(plan) > 1) for p in regrasp)  # released and regrasped between pairs
    sets = any(step.twist or step.hang for step in plan)
    assert visited[Phase.SET] == sets  # the bulb's twist, the mug's hang


@pytest.mark.parametrize("task, steps", [("Lamp-Low", 200), ("RoundTable-Low", 170), ("MugRack-Low", 90)])
def test_after_the_last_pair_the_expert_lets_go_and_the_assembly_stands(task, steps):
    env = make_env(task, 3, seed=6, terminate_on_success=False)
    expert = InsertionExpert(env.task, get_expert_plan(task), 3, ExpertConfig(seed=6))
    returns = torch.zeros(3)
    for _ in range(steps):
        returns += env.step(expert.act(env.obs_terms()))[1]
    assert (expert.phase == Phase.DONE).all()  # released, backed off, holding still
    assert returns.tolist() == [float(len(env.task.pairs))] * 3  # each pair rewarded once
    assert AssemblyChecker(env.task).check(*part_poses(env)).all()  # still assembled without the hand: hung, locked
    gap = env.obs_terms()["gripper_width"][:, 0]
    assert (gap > 0.07).all()  # the gripper is open


def test_the_twist_turns_the_bulb_a_quarter_in_its_lock():
    env = make_env("Lamp-Low", 4, seed=3, terminate_on_success=False)
    expert = InsertionExpert(env.task, get_expert_plan("Lamp-Low"), 4, ExpertConfig(seed=3))
    bulb, base = env.task.part_index("bulb"), env.task.part_index("base")
    seated = locked = torch.full((4,), torch.nan, dtype=torch.float64)
    for _ in range(120):
        _, quat = part_poses(env)
        rel = quat_to_matrix(quat[:, base]).transpose(-1, -2) @ quat_to_matrix(quat[:, bulb])
        yaw = torch.atan2(rel[:, 1, 0], rel[:, 0, 0])  # the bulb's in the base, before this step's action
        phase = expert.phase.clone()
        action = expert.act(env.obs_terms())
        seated = torch.where((phase == Phase.SEAT) & (expert.phase == Phase.SET), yaw, seated)
        locked = torch.where((phase == Phase.SET) & (expert.phase == Phase.RELEASE), yaw, locked)
        env.step(action)
    turned = torch.remainder(locked - seated, math.pi)
    assert turned.sub(math.pi / 2).abs().max() < 0.1  # a quarter turn between seating and the lock
    assert env.assembled[:, 0].all()


def test_plan_validation():
    grasp = get_expert_plan("MugRack-Low")[0].grasp_poses
    for kwargs, match in (({"axis": (0.0, 0.0, 2.0)}, "unit"), ({"twist": 4.0}, "twist"), ({"hang": -0.01}, "hang")):
        with pytest.raises(ValueError, match=match):
            InsertionPlan("mug", "rack", grasp, 0.05, **kwargs)
    with pytest.raises(ValueError, match="no pair mug/rack"):
        InsertionExpert(get_task("MugRack-Low"), (InsertionPlan("rack", "mug", grasp, 0.05),), 1)


def test_collect_demos_writes_lamp_demos_with_one_reward_per_pair(tmp_path, capsys):
    out = tmp_path / "lamp.hdf5"
    args = ["--task", "Lamp-Low", "--num-demos", "2", "--num-envs", "2", "--out", str(out)]
    assert collect_demos.main(args) == 0
    assert "expert success rate on Lamp-Low" in capsys.readouterr().out
    episodes, env_meta, _ = read_episodes(out)
    assert env_meta["env_name"] == "Lamp-Low" and len(episodes) == 2
    for ep in episodes:
        assert ep.success and ep.rewards.sum() == 2.0 and ep.rewards[-1] == 1.0
        assert ep.obs["parts_poses"].shape == (ep.num_samples, 28)
        assert (ep.actions[:, 9] < 0).any() and (ep.actions[:, 9] > 0).any()
        closes = ((ep.actions[1:, 9] > 0) & (ep.actions[:-1, 9] < 0)).sum()
        assert closes == 2  # the gripper closes once per part: bulb, then the hood after the release
