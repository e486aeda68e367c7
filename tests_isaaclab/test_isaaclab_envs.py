"""Every task on the real Isaac Lab (Newton, CPU): builds, resets, steps; the same observations as the embedded
backend for the same state; the gripper closes on the part as in the embedded backend from the same grasp state;
the embedded scripted expert succeeds on PegInHole-Low and OneLeg-Low (episodes end at success, so the test is
short while it passes). The side-by-side rates and speeds are scripts/bench/backend_parity.py's job."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inril.backends.mujoco import make_env as make_embedded_env
from inril.tasks import get_task, list_tasks
from inril.tasks.expert import ExpertConfig, InsertionExpert
from inril.tasks.registry import get_expert_plan
from inril_isaac.envs import embedded_state, obs_terms, write_embedded_state

GRASP_TASKS = ("PegInHole-Low", "OneLeg-Low")


@pytest.fixture(scope="module", params=list_tasks())
def every_task(request) -> str:
    """Module-scoped, so pytest runs the tests of one task one after another, on one cached 2-env build."""
    return request.param


def expert_actions(task: str, expert: InsertionExpert, obs: dict) -> torch.Tensor:
    return expert.act({k: v.cpu() for k, v in obs_terms(task, obs).items()})


def test_task_builds_resets_and_steps(isaac_env, every_task):
    task, env = every_task, isaac_env(every_task, 2)
    spec = get_task(task)
    obs, _ = env.reset()
    assert set(obs) == {"policy", "critic"}
    assert obs["policy"].shape == (2, spec.obs_dim)
    assert obs["critic"].shape == (2, sum(dim for _, dim in spec.critic_layout))
    assert env.action_manager.total_action_dim == 10
    expert = InsertionExpert(spec, get_expert_plan(task), 2, ExpertConfig(seed=0))
    start = obs_terms(task, obs)["ee_pos"].clone()
    for _ in range(3):
        obs, reward, terminated, truncated, _ = env.step(expert_actions(task, expert, obs))
        assert torch.isfinite(obs["critic"]).all() and torch.isfinite(reward).all()
        assert reward.shape == terminated.shape == truncated.shape == (2,)
    # The expert reaches towards the part: the tool moved, and by less than 3 steps at its step limit.
    moved = (obs_terms(task, obs)["ee_pos"] - start).norm(dim=-1)
    assert (moved > 0.01).all() and (moved < 3 * ExpertConfig().max_step + 0.01).all()


def test_observation_groups_and_terms_match_the_embedded_layout(isaac_env, every_task):
    task, env = every_task, isaac_env(every_task, 2)
    spec = get_task(task)
    for group, layout in (("policy", spec.observation_layout), ("critic", spec.critic_layout)):
        assert env.observation_manager.active_terms[group] == [name for name, _ in layout]
        assert [shape[-1] for shape in env.observation_manager.group_obs_term_dim[group]] == [d for _, d in layout]


def write_state_to_embedded(embedded, state: dict[str, torch.Tensor]) -> None:
    """Put a state in `embedded_state` coordinates into the embedded env's MuJoCo state rows (time, qpos, qvel)."""
    lay, rows = embedded.layout, embedded.physics_state
    rows[:, 1 + lay.arm_qpos] = state["arm_q"].numpy()
    rows[:, 1 + lay.nq + lay.arm_qvel] = state["arm_qd"].numpy()
    rows[:, 1 + lay.finger_qpos] = state["fingers"].numpy()
    for p, (qpos, qvel) in enumerate(zip(lay.part_qpos, lay.part_qvel)):
        rows[:, 1 + qpos : 1 + qpos + 7] = state["part_qpos"][:, p].numpy()
        rows[:, 1 + lay.nq + qvel : 1 + lay.nq + qvel + 6] = state["part_qvel"][:, p].numpy()
    embedded._update_observations()  # the embedded env refreshes its observation only when it steps


def test_matched_state_gives_the_embedded_observation(isaac_env, every_task):
    """Frames (robot base, TCP offset, part body frames), quaternion conventions ((w, x, y, z), hemispheres) and
    velocities (TCP twist from the joint velocities, part angular velocity in the world frame) agree."""
    task, env = every_task, isaac_env(every_task, 2)
    spec = get_task(task)
    obs, _ = env.reset()
    expert = InsertionExpert(spec, get_expert_plan(task), 2, ExpertConfig(seed=1))
    for _ in range(4):  # moving: velocities are not zero
        obs, *_ = env.step(expert_actions(task, expert, obs))
    isaac = obs_terms(task, obs)
    assert isaac["ee_linvel"].norm(dim=-1).min() > 0.01
    embedded = make_embedded_env(task, 2, seed=0)
    try:
        write_state_to_embedded(embedded, embedded_state(env))
        reference = embedded.obs_terms()
    finally:
        embedded.close()
    tolerance = {"ee_pos": 1e-4, "ee_quat": 1e-4, "gripper_width": 1e-5, "parts_poses": 1e-4,
                 "ee_linvel": 2e-3, "ee_angvel": 2e-3, "parts_vels": 2e-3}
    for name, _ in spec.critic_layout:
        np.testing.assert_allclose(isaac[name].cpu().numpy(), reference[name].cpu().numpy(),
                                   atol=tolerance[name], err_msg=name)


GRASP_STEPS = 8  # control steps (0.8 s) of closing; the embedded fingers settle on the part within 4 (measured)


def embedded_grasp(task: str) -> tuple[dict[str, torch.Tensor], torch.Tensor, float]:
    """The embedded expert (1 env, seed 0) run up to its first close command; that state with every velocity set to
    zero (in `embedded_state` coordinates), the close action, and the embedded finger gap (m) after GRASP_STEPS
    steps of it from that state."""
    spec = get_task(task)
    env = make_embedded_env(task, 1, seed=0)
    try:
        expert = InsertionExpert(spec, get_expert_plan(task), 1, ExpertConfig(seed=0))
        env.reset()
        for _ in range(int(env.max_episode_length)):
            action = expert.act(env.obs_terms())
            if action[0, -1] > 0:
                break
            env.step(action)
        else:
            raise AssertionError(f"{task}: the embedded expert never closed the gripper")
        lay, rows = env.layout, env.physics_state
        rows[:, 1 + lay.nq :] = 0.0
        env._update_observations()
        state = {"arm_q": rows[:, 1 + lay.arm_qpos], "arm_qd": rows[:, 1 + lay.nq + lay.arm_qvel],
                 "fingers": rows[:, 1 + lay.finger_qpos],
                 "part_qpos": np.stack([rows[:, 1 + a : 1 + a + 7] for a in lay.part_qpos], 1),
                 "part_qvel": np.zeros((1, len(lay.part_qpos), 6))}
        state = {k: torch.as_tensor(np.array(v), dtype=torch.float64) for k, v in state.items()}
        for _ in range(GRASP_STEPS):
            env.step(action)
        return state, action, float(env.obs_terms()["gripper_width"][0, 0])
    finally:
        env.close()


@pytest.mark.parametrize("task", GRASP_TASKS)
def test_finger_pad_contacts_carry_the_embedded_friction(isaac_env, task):
    """The finger pads' contact dimension and (sliding, torsional, rolling) friction in the model Newton hands to
    MuJoCo Warp equal the embedded MJCF's (condim 4, torsional 0.05: without the USD's `mjc:torsionalfriction`
    Newton used its default 0.005, a tenth). Newton's contacts take the per-geom maximum, as MuJoCo C does."""
    from isaaclab_newton.physics.newton_manager import NewtonManager

    embedded = make_embedded_env(task, 1, seed=0)
    try:
        model = embedded.model
        expected = model.geom_friction[model.geom_condim == 4]
    finally:
        embedded.close()
    assert len(expected) == 2, f"{task}: the embedded model has {len(expected)} condim-4 geoms, not two finger pads"
    isaac_env(task, 2)
    mjw_model = NewtonManager._solver.mjw_model
    condim = mjw_model.geom_condim.numpy()
    np.testing.assert_allclose(mjw_model.geom_friction.numpy()[0][condim == 4], expected, rtol=1e-6,
                               err_msg=f"{task}: finger pad friction on Newton vs embedded")


@pytest.mark.parametrize("task", GRASP_TASKS)
def test_grasp_parity(isaac_env, task):
    """Close the gripper on the part from the embedded expert's grasp state, at rest, with the same action on both
    backends: the finger gap agrees within 1 mm (fingers, drives, finger-part contacts)."""
    state, action, embedded_gap = embedded_grasp(task)
    assert 0.015 < embedded_gap < 0.04, f"{task}: the embedded expert's grasp closed to {embedded_gap * 1e3:.1f} mm"
    env = isaac_env(task, 2)
    env.reset()
    write_embedded_state(env, {k: v.expand(2, *v.shape[1:]) for k, v in state.items()})
    for _ in range(GRASP_STEPS):
        obs, *_ = env.step(action.expand(2, -1).to(env.device))
    gap = obs_terms(task, obs)["gripper_width"][:, 0].cpu()
    np.testing.assert_allclose(gap.numpy(), embedded_gap, atol=1e-3,
                               err_msg=f"{task}: finger gap (m) on Isaac Lab vs embedded")


EXPERT_EPISODES = 4


@pytest.mark.parametrize("task", GRASP_TASKS)
def test_embedded_expert_succeeds_on_isaac_lab(isaac_env, task):
    """The embedded scripted expert drives the Isaac Lab env (actions, differential IK, grasp, contacts and the
    success check): at least 3 of 4 first episodes end in success. Episodes end at success (about 60 control
    steps), so the test stops early; a lost part ends its episode too."""
    env = isaac_env(task, EXPERT_EPISODES)
    expert = InsertionExpert(get_task(task), get_expert_plan(task), EXPERT_EPISODES, ExpertConfig(seed=0))
    obs, _ = env.reset()
    finished = torch.zeros(EXPERT_EPISODES, dtype=torch.bool)
    succeeded = torch.zeros(EXPERT_EPISODES, dtype=torch.bool)
    for _ in range(int(env.max_episode_length)):
        obs, _, terminated, truncated, _ = env.step(expert_actions(task, expert, obs))
        success = env.termination_manager.get_term("success").cpu()
        succeeded |= success & ~finished
        dones = (terminated | truncated).cpu()
        finished |= dones
        expert.reset(dones)
        if finished.all():
            break
    assert finished.all(), f"{task}: episodes still running after the time limit"
    assert succeeded.sum() >= 3, f"{task}: the expert succeeded in {int(succeeded.sum())} of {EXPERT_EPISODES} episodes"
