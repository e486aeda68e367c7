"""The code-generated Franka: model parameters, batched kinematics against MuJoCo, and the pose controller."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
import torch

from inril.backends.mujoco import make_env
from inril.backends.mujoco.controller import DiffIKConfig, DiffIKController
from inril.backends.mujoco.franka import (
    HOME_JOINTS,
    JOINT_LIMITS,
    JOINT_NAMES,
    JOINT_TORQUE_LIMITS,
    TCP_SITE,
    FrankaActuatorConfig,
    add_franka,
)
from inril.backends.mujoco.kinematics import tcp_pose_and_jacobian
from inril.backends.mujoco.scene import SimConfig, build_scene
from inril.tasks import get_task
from inril.utils.rotations import matrix_to_axis_angle, matrix_to_rot6d, quat_to_matrix


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return build_scene(get_task("PegInHole-Low"), SimConfig()).compile()


def test_model_carries_the_published_limits(model):
    for i, name in enumerate(JOINT_NAMES):
        np.testing.assert_allclose(model.joint(name).range, JOINT_LIMITS[i])
        limit = JOINT_TORQUE_LIMITS[i]
        np.testing.assert_allclose(model.actuator(f"act_{name}").forcerange, [-limit, limit])
    assert model.body("link1").mass[0] == pytest.approx(4.970684)
    assert model.nu == 9  # 7 joint servos + 2 fingers


def test_add_franka_refuses_degree_specs():
    spec = mujoco.MjSpec()
    with pytest.raises(ValueError, match="radians"):
        add_franka(spec, spec.worldbody, FrankaActuatorConfig())


def test_actuator_config_validation():
    with pytest.raises(ValueError, match="7 positive gains"):
        FrankaActuatorConfig(kp=(1.0, 2.0))
    with pytest.raises(ValueError, match="gripper_kp"):
        FrankaActuatorConfig(gripper_kp=-1.0)


def test_batched_kinematics_equal_mujoco(model):
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    qs = rng.uniform(JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1], size=(6, 7))
    pos, rot, jac = tcp_pose_and_jacobian(torch.from_numpy(qs))
    site = model.site(TCP_SITE).id
    arm_dofs = [model.joint(n).dofadr[0] for n in JOINT_NAMES]
    for k, q in enumerate(qs):
        data.qpos[[model.joint(n).qposadr[0] for n in JOINT_NAMES]] = q
        mujoco.mj_forward(model, data)
        jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
        mujoco.mj_jacSite(model, data, jacp, jacr, site)
        np.testing.assert_allclose(pos[k].numpy(), data.site_xpos[site], atol=1e-12)
        np.testing.assert_allclose(rot[k].numpy().ravel(), data.site_xmat[site], atol=1e-12)
        np.testing.assert_allclose(jac[k].numpy(), np.vstack((jacp, jacr))[:, arm_dofs], atol=1e-12)


def test_ready_pose_points_the_tool_down():
    pos, rot, _ = tcp_pose_and_jacobian(torch.from_numpy(HOME_JOINTS)[None])
    assert rot[0, 2, 2] == pytest.approx(-1.0, abs=1e-9)  # tool z axis along -world z
    assert 0.35 < pos[0, 0] < 0.5 and pos[0, 2] > 0.25


def test_ik_targets_reach_the_pose_in_one_solve():
    ctrl = DiffIKController(DiffIKConfig(iterations=4))
    q = torch.from_numpy(np.tile(HOME_JOINTS, (3, 1)))
    pos, rot, _ = tcp_pose_and_jacobian(q)
    offsets = torch.tensor([[0.03, 0.0, 0.0], [0.0, -0.02, 0.02], [0.01, 0.01, -0.03]], dtype=torch.float64)
    turn = quat_to_matrix(torch.tensor([math.cos(0.1), 0.0, 0.0, math.sin(0.1)], dtype=torch.float64))
    q_target = ctrl.joint_targets(q, pos + offsets, turn @ rot)
    reached, reached_rot, _ = tcp_pose_and_jacobian(q_target)
    torch.testing.assert_close(reached, pos + offsets, atol=1e-5, rtol=0)
    assert matrix_to_axis_angle(reached_rot @ (turn @ rot).transpose(1, 2)).norm(dim=-1).max() < 1e-4


def test_far_targets_are_step_limited():
    cfg = DiffIKConfig(max_pos_step=0.02)
    q = torch.from_numpy(HOME_JOINTS)[None]
    pos, rot, _ = tcp_pose_and_jacobian(q)
    far = pos + torch.tensor([[0.5, 0.0, 0.0]], dtype=torch.float64)
    reached = tcp_pose_and_jacobian(DiffIKController(cfg).joint_targets(q, far, rot))[0]
    assert (reached - pos).norm() == pytest.approx(0.02, abs=1e-4)


def test_env_tracks_absolute_pose_actions():
    env = make_env("PegInHole-Low", 2, seed=3)
    terms = env.obs_terms()
    start = terms["ee_pos"].double()
    goal = start + torch.tensor([[0.05, 0.03, -0.04], [-0.04, 0.0, 0.05]], dtype=torch.float64)
    goal_rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64).expand(2, 3, 3)
    action = torch.cat((goal, matrix_to_rot6d(goal_rot), torch.ones(2, 1, dtype=torch.float64)), dim=-1).float()
    for _ in range(8):
        env.step(action)
    terms = env.obs_terms()
    assert (terms["ee_pos"].double() - goal).norm(dim=-1).max() < 2e-3
    ee_rot = quat_to_matrix(terms["ee_quat"].double())
    assert matrix_to_axis_angle(goal_rot @ ee_rot.transpose(1, 2)).norm(dim=-1).max() < math.radians(1.0)
    assert terms["gripper_width"].max() < 0.01  # gripper > 0 closes
    assert terms["ee_linvel"].norm(dim=-1).max() < 0.05  # settled
