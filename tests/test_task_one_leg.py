"""OneLeg: spec, assembly rewards on the MuJoCo backend, the scripted expert (lying leg -> upright -> socket) and
its demos."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import load_script
from inril.backends.mujoco import MujocoVecEnv, make_env
from inril.data.demo_reader import read_episodes
from inril.tasks import get_expert_plan, get_task, one_leg
from inril.tasks.assembly import AssemblyChecker
from inril.tasks.expert import ExpertConfig, InsertionExpert, InsertionPlan
from inril.tasks.spec import LOW, PairSpec, PartSpec, Pose, Shape, TaskSpec
from inril.utils.rotations import quat_mul, quat_to_matrix, quat_to_rot6d
from test_task_expert import first_episodes

collect_demos = load_script("collect_demos")

UPRIGHT = (1.0, 0.0, 0.0, 0.0)  # leg frame = top frame: the leg stands on its -z end


def hold(env: MujocoVecEnv) -> torch.Tensor:
    """Actions that keep every tool where it is, gripper open."""
    terms = env.obs_terms()
    return torch.cat((terms["ee_pos"], quat_to_rot6d(terms["ee_quat"]), -torch.ones(env.num_envs, 1)), dim=-1)


def place_leg(env: MujocoVecEnv, i: int, offset=(0.0, 0.0, 0.0), quat=UPRIGHT, velocity=(0.0, 0.0, 0.0)) -> None:
    """Write env i's leg at the seated position shifted by `offset`, turned by `quat`, both in the top frame."""
    lay, state = env.layout, env.physics_state
    leg, top = (lay.part_qpos[env.task.part_index(name)] for name in ("leg", "top"))
    top_pos = torch.from_numpy(state[i, 1 + top : 4 + top])
    top_quat = torch.from_numpy(state[i, 4 + top : 8 + top])
    seat = torch.tensor(env.task.pairs[0].rel_poses[0].pos, dtype=torch.float64)
    rel = seat + torch.tensor(offset, dtype=torch.float64)
    state[i, 1 + leg : 4 + leg] = (top_pos + quat_to_matrix(top_quat) @ rel).numpy()
    state[i, 4 + leg : 8 + leg] = quat_mul(top_quat, torch.tensor(quat, dtype=torch.float64)).numpy()
    dof = 1 + lay.nq + lay.part_qvel[env.task.part_index("leg")]
    state[i, dof : dof + 6] = (*velocity, 0.0, 0.0, 0.0)


def test_spec_levels_layout_and_socket_geometry():
    low, med = get_task("OneLeg-Low"), get_task("OneLeg-Med")
    assert low.parts == med.parts and low.pairs == med.pairs
    assert (low.randomness.max_force, med.randomness.max_force) == (0.2, 0.5)  # FurnitureBench's levels
    assert med.randomness.part_yaw_range > low.randomness.part_yaw_range
    assert [p.name for p in low.parts] == ["leg", "top", "obstacle"] and low.parts[-1].obstacle
    assert sum(dim for _, dim in low.observation_layout) == 14 + 7 * 3
    assert low.episode_length == one_leg.EPISODE_LENGTH == 300
    pair = low.pairs[0]
    assert (pair.base, pair.part, pair.pos_tolerance, pair.ori_bound) == ("top", "leg", 0.005, 0.94)
    assert len(pair.rel_poses) == 8 and len({p.pos for p in pair.rel_poses}) == 1
    # The seated leg stands on the plate at the corner socket, inside the collar with clearance on every side.
    x, y, z = pair.rel_poses[0].pos
    assert z == pytest.approx(2 * one_leg.TOP_HALF_THICKNESS + one_leg.LEG_HALF_LENGTH)
    walls = low.part("top").shapes[1:]
    gaps = [abs(w.pose.pos[0] - x) - w.size[0] for w in walls if w.pose.pos[1] == y]  # the two walls across x
    gaps += [abs(w.pose.pos[1] - y) - w.size[1] for w in walls if w.pose.pos[0] == x]  # and across y
    assert gaps == pytest.approx([one_leg.LEG_HALF_WIDTH + one_leg.CLEARANCE] * 4)


def test_seated_leg_rests_in_the_socket_and_the_reward_fires_once():
    env = make_env("OneLeg-Low", 2, seed=2, terminate_on_success=False)
    place_leg(env, 0)
    rewards = []
    for _ in range(3):
        _, r, dones, _ = env.step(hold(env))
        rewards.append(r.tolist())
        assert not dones.any()
    assert rewards == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    terms = env.obs_terms()["parts_poses"].double().reshape(2, -1, 7)
    assert AssemblyChecker(env.task).check(terms[..., :3], terms[..., 3:])[:, 0].tolist() == [True, False]  # stays
    # Out and back in within the same episode: the pair was already counted.
    place_leg(env, 0, offset=(0.0, 0.0, 0.1))
    assert env.step(hold(env))[1].tolist() == [0.0, 0.0]
    place_leg(env, 0)
    assert env.step(hold(env))[1].tolist() == [0.0, 0.0]
    assert env.assembled.tolist() == [[True], [False]]


def test_pushed_away_or_tipped_legs_are_not_assembled():
    env = make_env("OneLeg-Med", 4, seed=3)
    place_leg(env, 0, offset=(0.05, 0.03, 0.0))  # upright on the plate, pushed away from the socket
    place_leg(env, 1, velocity=(0.0, 0.0, 1.5))  # knocked up and out of the socket
    lying = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)
    place_leg(env, 2, offset=(0.0, 0.0, 0.1), quat=lying)  # dropped across the socket, not into it
    place_leg(env, 3, offset=(0.0, 0.0, 0.012))  # 12 mm too high: it drops into the socket during the step
    env.physics_state[3, 1 + env.layout.nq :] = 0.0
    _, rewards, dones, _ = env.step(hold(env))
    leg_z = env.obs_terms()["parts_poses"][:3, 2]
    assert leg_z[1] > 0.1  # really out of the socket
    assert rewards.tolist() == [0.0, 0.0, 0.0, 1.0] and dones.tolist() == [0, 0, 0, 1]
    for _ in range(4):  # the leg pushed away and the one lying across the socket never count
        _, rewards, _, _ = env.step(hold(env))
        assert rewards[[0, 2]].tolist() == [0.0, 0.0]
    assert env.assembled[[0, 2]].sum() == 0


@pytest.mark.parametrize("task, minimum", [("OneLeg-Low", 0.9), ("OneLeg-Med", 0.7)])
def test_expert_solves_one_leg(task, minimum):
    success, length = first_episodes(task, 20, seed=0)
    assert success.float().mean() >= minimum, f"{task}: {int(success.sum())}/20 episodes solved"
    assert length[success].max() < 100  # a third of the episode length: solved, not timed out into it


def test_expert_turns_the_leg_so_the_held_end_stays_up():
    spec, plan = get_task("OneLeg-Low"), get_expert_plan("OneLeg-Low")
    # Every grasp is near the +z end: whichever grasp the expert takes, it aims at an upright target.
    env = make_env("OneLeg-Low", 8, seed=5)
    terms = env.obs_terms()
    for g in range(len(plan[0].grasp_poses)):
        expert = InsertionExpert(spec, plan, 8)
        expert.grasp_choice[:] = g
        target_rot = expert._targets(0, terms["ee_pos"].double(), quat_to_matrix(terms["ee_quat"].double()),
                                   terms["parts_poses"].double().reshape(8, -1, 7))["target_rot"]
        assert (target_rot[:, 2, 2] > 0.95).all()
    env.close()

    # The expert pitches the lying leg upright with the +z end on top and keeps it seated once assembled.
    env = make_env("OneLeg-Low", 3, seed=5, terminate_on_success=False, episode_length=90)
    expert = InsertionExpert(spec, plan, 3, ExpertConfig(seed=5))
    total = torch.zeros(3)
    for _ in range(89):
        _, rewards, _, _ = env.step(expert.act(env.obs_terms()))
        total += rewards
    assert total.tolist() == [1.0, 1.0, 1.0]  # assembled once each, never counted again while the expert presses
    leg_quat = env.obs_terms()["parts_poses"][:, 3:7].double()
    assert (quat_to_matrix(leg_quat)[:, 2, 2] > 0.95).all()


def test_expert_rejects_a_grasp_that_would_put_the_hand_into_the_socket():
    bar = PartSpec("bar", (Shape("box", (0.01, 0.01, 0.05)),), 0.05, Pose((0.4, 0.0, 0.05)))
    base = PartSpec("base", (Shape("box", (0.05, 0.05, 0.01)),), 1.0, Pose((0.5, 0.0, 0.0)))
    spec = TaskSpec("Bar", LOW, (bar, base), (PairSpec("base", "bar", (Pose((0.0, 0.0, 0.07)),)),), 50)
    below = InsertionPlan("bar", "base", (Pose((0.0, 0.0, -0.03), (0.0, 1.0, 0.0, 0.0)),), 0.05)
    with pytest.raises(ValueError, match="above the part centre"):
        InsertionExpert(spec, below, 1)


def test_collect_demos_writes_one_leg_demos(tmp_path, capsys):
    out = tmp_path / "one_leg.hdf5"
    args = ["--task", "OneLeg-Low", "--num-demos", "3", "--num-envs", "3", "--out", str(out)]
    assert collect_demos.main(args) == 0
    assert "expert success rate on OneLeg-Low" in capsys.readouterr().out
    episodes, env_meta, obs_keys = read_episodes(out)
    assert env_meta["env_name"] == "OneLeg-Low" and len(episodes) == 3
    assert obs_keys == [name for name, _ in get_task("OneLeg-Low").observation_layout]
    for ep in episodes:
        assert ep.success and ep.rewards.sum() == 1.0 and ep.rewards[-1] == 1.0
        assert ep.obs["parts_poses"].shape == (ep.num_samples, 21) and ep.actions.shape == (ep.num_samples, 10)
