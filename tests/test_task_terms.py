"""The backend-neutral task terms (`inril.tasks.terms`): the embedded env's observations and rewards are those terms
applied to its state as MuJoCo itself reports it, and the reward and episode-end rules on hand-made cases."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from inril.backends.mujoco import make_env
from inril.backends.mujoco.franka import FINGER_JOINT_NAMES, TCP_SITE
from inril.tasks import get_expert_plan, get_task
from inril.tasks.assembly import AssemblyProgress
from inril.tasks.expert import ExpertConfig, InsertionExpert
from inril.tasks.terms import (
    TaskState,
    episode_ends,
    observation_group,
    observation_terms,
    part_orientation,
    parts_dropped,
    sparse_reward,
    split_group,
    task_reward,
)


def mujoco_task_state(env) -> TaskState:
    """The env's robot and parts read from MuJoCo's own forward pass (site and body frames, mj_objectVelocity at
    the body frames), independently of the env's numpy kinematics and free-joint bookkeeping."""
    model, data = env.model, mujoco.MjData(env.model)
    tcp = model.site(TCP_SITE).id
    fingers = [model.joint(name).qposadr[0] for name in FINGER_JOINT_NAMES]
    bodies = env.layout.part_body
    rows = {key: [] for key in ("tcp_pos", "tcp_quat", "tcp_vel", "fingers", "part_pos", "part_quat", "part_vel")}
    velocity = np.zeros(6)
    for state in env.physics_state:
        mujoco.mj_setState(model, data, state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        mujoco.mj_forward(model, data)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, data.site_xmat[tcp])
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_SITE, tcp, velocity, 0)  # (angular, linear)
        rows["tcp_pos"].append(data.site_xpos[tcp].copy())
        rows["tcp_quat"].append(quat)
        rows["tcp_vel"].append(velocity.copy())
        rows["fingers"].append(data.qpos[fingers].copy())
        rows["part_pos"].append(data.xpos[bodies].copy())
        rows["part_quat"].append(data.xquat[bodies].copy())
        part_vel = []
        for body in bodies:
            mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_XBODY, body, velocity, 0)
            part_vel.append(velocity.copy())
        rows["part_vel"].append(np.stack(part_vel))
    t = {key: torch.from_numpy(np.stack(value)) for key, value in rows.items()}
    return TaskState(
        tcp_pos=t["tcp_pos"], tcp_quat=t["tcp_quat"], tcp_linvel=t["tcp_vel"][:, 3:], tcp_angvel=t["tcp_vel"][:, :3],
        finger_pos=t["fingers"], part_pos=t["part_pos"], part_quat=part_orientation(t["part_quat"]),
        part_linvel=t["part_vel"][..., 3:], part_angvel=t["part_vel"][..., :3],
    )


@pytest.mark.parametrize("task", ["PegInHole-Low", "Lamp-Low"])
def test_embedded_observations_and_rewards_are_the_task_terms_of_its_state(task):
    """Along expert episodes (the parts move, get lifted and assembled), the env's `policy`/`critic` groups equal the
    terms of the state MuJoCo reports, and its reward equals `task_reward` of an AssemblyProgress fed those poses."""
    n, spec = 6, get_task(task)
    env = make_env(task, n, seed=2, shaping_weight=1.0, terminate_on_success=False, num_threads=1)
    expert = InsertionExpert(spec, get_expert_plan(task), n, ExpertConfig(seed=2))
    progress = AssemblyProgress(spec, n, "cpu", shaping=True)
    rewarded = 0.0
    try:
        for step in range(70):  # within the episode length: no env resets, so the progress runs alongside
            state = mujoco_task_state(env)
            terms = observation_terms(state)
            obs = env.get_observations()
            expected = observation_group(terms, spec.critic_layout).to(torch.float32)
            torch.testing.assert_close(obs["critic"], expected, atol=2e-6, rtol=0)
            torch.testing.assert_close(obs["policy"], observation_group(terms, spec.observation_layout).float(),
                                       atol=2e-6, rtol=0)
            _, rewards, dones, _ = env.step(expert.act(env.obs_terms()))
            assert not dones.any()
            after = mujoco_task_state(env)
            progress.update(after.part_pos, after.part_quat)
            torch.testing.assert_close(rewards, task_reward(progress.newly, progress.shaping, 1.0), atol=1e-6, rtol=0)
            assert torch.equal(env.assembled, progress.assembled)
            rewarded += float(sparse_reward(progress.newly).sum())
    finally:
        env.close()
    assert rewarded > 0  # the sparse term fired: some pair got assembled


def test_observation_group_and_split_group_are_inverse_and_refuse_bad_terms():
    layout = get_task("OneLeg-Low").critic_layout
    gen = torch.Generator().manual_seed(0)
    terms = {name: torch.randn(3, dim, generator=gen) for name, dim in layout}
    group = observation_group(terms, layout)
    assert group.shape == (3, sum(dim for _, dim in layout))
    assert all(torch.equal(split_group(group, layout)[name], terms[name]) for name, _ in layout)
    with pytest.raises(ValueError, match="'parts_vels' must be \\(num_envs, 18\\), got missing"):
        observation_group({k: v for k, v in terms.items() if k != "parts_vels"}, layout)
    with pytest.raises(ValueError, match="'ee_quat' must be \\(num_envs, 4\\), got \\(3, 3\\)"):
        observation_group({**terms, "ee_quat": terms["ee_pos"]}, layout)
    with pytest.raises(ValueError, match="must be \\(num_envs, 53\\) for this layout, got \\(3, 52\\)"):
        split_group(group[:, 1:], layout)


def test_observed_quaternions_follow_the_conventions():
    down = torch.tensor([[0.0, -1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)  # gripper down, both signs
    assert torch.equal(observation_terms(_state(tcp_quat=down))["ee_quat"], torch.tensor([[0.0, 1.0, 0.0, 0.0]] * 2,
                                                                                         dtype=torch.float64))
    quat = torch.tensor([[[-2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -3.0]]], dtype=torch.float64)
    assert torch.equal(part_orientation(quat), torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0]]],
                                                            dtype=torch.float64))


def _state(tcp_quat: torch.Tensor) -> TaskState:
    n, p = tcp_quat.shape[0], 2
    zeros = torch.zeros(n, p, 3, dtype=torch.float64)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64).expand(n, p, 4)
    return TaskState(zeros[:, 0], tcp_quat, zeros[:, 0], zeros[:, 0], torch.full((n, 2), 0.04, dtype=torch.float64),
                     zeros, identity, zeros, zeros)


def test_gripper_width_and_part_terms_have_the_layout_widths():
    terms = observation_terms(_state(torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)))
    assert terms["gripper_width"].tolist() == [[0.08]]
    assert terms["parts_poses"].tolist() == [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0] * 2]
    assert terms["parts_vels"].shape == (1, 12)


def test_reward_is_one_per_pair_newly_assembled_plus_the_weighted_shaping():
    newly = torch.tensor([[True, True], [False, True], [False, False]])
    shaping = torch.tensor([0.5, -0.25, 0.125])
    assert sparse_reward(newly).dtype == torch.float32
    assert task_reward(newly, shaping, 0.0).tolist() == [2.0, 1.0, 0.0]
    assert task_reward(newly, shaping, 2.0).tolist() == [3.0, 0.5, 0.25]


def test_episode_ends_success_and_drops_are_terminal_time_limits_and_divergence_truncate():
    #                      env: 0      1      2      3      4      5
    success = torch.tensor([True, False, False, False, True, False])
    part_z = torch.tensor([0.0, -0.06, 0.0, 0.0, 0.0, -0.06], dtype=torch.float64)
    time_out = torch.tensor([True, False, True, False, False, False])
    diverged = torch.tensor([False, False, False, True, False, True])
    part_pos = torch.zeros(6, 2, 3, dtype=torch.float64)
    part_pos[:, 1, 2] = part_z
    dropped = parts_dropped(part_pos, 0.05, ~diverged)
    assert dropped.tolist() == [False, True, False, False, False, False]  # env 5 diverged: no outcome
    terminated, truncated = episode_ends(success, dropped, time_out, diverged, terminate_on_success=True)
    assert terminated.tolist() == [True, True, False, False, True, False]
    assert truncated.tolist() == [False, False, True, True, False, True]
    terminated, truncated = episode_ends(success, dropped, time_out, diverged, terminate_on_success=False)
    assert terminated.tolist() == [False, True, False, False, False, False]
    assert truncated.tolist() == [True, False, True, True, False, True]
