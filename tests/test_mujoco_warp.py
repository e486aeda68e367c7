"""The MuJoCo Warp stepper, run on Warp's CPU device, against C MuJoCo's rollout on the same model and controls.

Skipped without the optional `mujoco-warp` package. The first run on a machine compiles Warp's kernels (about
0.5-2 min on 2 cores, cached in ~/.cache/warp); later runs take seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inril.backends.mujoco import MujocoEnvConfig, make_env
from inril.backends.mujoco.stepper import RolloutStepper

TASK = "PegInHole-Low"


def test_physics_option_is_validated():
    with pytest.raises(ValueError, match="physics must be one of"):
        MujocoEnvConfig(task=TASK, num_envs=2, seed=0, physics="bullet")
    env = make_env(TASK, 2, seed=0)
    assert env.physics == "c" and isinstance(env.stepper, RolloutStepper)  # CPU device: C MuJoCo


@pytest.mark.timeout(300)  # compiles Warp kernels for the CPU device: about a minute on 2 cores
def test_warp_stepper_matches_c_rollout():
    pytest.importorskip("mujoco_warp")
    from inril.backends.mujoco.warp_stepper import WarpStepper

    env = make_env(TASK, 3, seed=0)
    lay, rng = env.layout, np.random.default_rng(0)
    c_physics = RolloutStepper(env.model, 3, env.substeps)
    warp = WarpStepper(env.model, 3, env.substeps, device="cpu")
    c_state, w_state = env.physics_state.copy(), env.physics_state.copy()
    for step in range(3):
        # Joint targets a few degrees off, fingers closing on odd steps: the arm and gripper move.
        joints = c_state[:, 1 + lay.arm_qpos] + 0.05 * rng.standard_normal((3, 7))
        fingers = np.full((3, 2), 0.04 * (step % 2))
        ctrl = np.ascontiguousarray(np.repeat(np.concatenate((joints, fingers), -1)[:, None], env.substeps, 1))
        c_physics.step(c_state, ctrl)
        warp.step(w_state, ctrl)
        np.testing.assert_allclose(w_state[:, 0], c_state[:, 0], atol=1e-5)  # clocks advanced one control period
        np.testing.assert_allclose(w_state[:, lay.qpos_slice], c_state[:, lay.qpos_slice], atol=1e-5)
        np.testing.assert_allclose(w_state[:, lay.qvel_slice], c_state[:, lay.qvel_slice], atol=1e-3)
    moved = np.abs(c_state[:, 1 + lay.arm_qpos] - env.physics_state[:, 1 + lay.arm_qpos]).max()
    assert moved > 0.02  # the comparison covered real motion

    # The torch interface returns the states on the stepper's device without going through numpy.
    out = warp.step_torch(torch.from_numpy(c_state), torch.from_numpy(ctrl))
    assert out.dtype == torch.float32 and out.shape == c_state.shape and out.device.type == "cpu"


def test_env_runs_on_warp_physics():
    pytest.importorskip("mujoco_warp")
    c_env, w_env = make_env(TASK, 2, seed=1), make_env(TASK, 2, seed=1, physics="warp")
    assert w_env.physics == "warp" and c_env.physics == "c"
    for env in (c_env, w_env):
        terms = env.obs_terms()
        action = torch.cat((terms["ee_pos"] + torch.tensor([0.02, 0.0, 0.02]), terms["ee_quat"].new_tensor(
            [1.0, 0.0, 0.0, 0.0, -1.0, 0.0]).expand(2, 6), torch.ones(2, 1)), dim=-1)
        for _ in range(2):
            _, _, dones, _ = env.step(action)
    torch.testing.assert_close(w_env.get_observations()["policy"], c_env.get_observations()["policy"],
                               atol=1e-4, rtol=0)
    assert not dones.any()
