"""Observation conventions both backends share: quaternions that do not jump along a trajectory."""

from __future__ import annotations

import pytest
import torch

from inril.backends.mujoco import make_env
from inril.tasks import get_expert_plan, get_task
from inril.tasks.expert import ExpertConfig, InsertionExpert
from inril.tasks.spec import EE_QUAT_REFERENCE


@pytest.mark.parametrize("task", ["PegInHole-Low", "OneLeg-Med"])
def test_observed_quaternions_are_continuous_along_expert_episodes(task):
    """q and -q are one rotation: with w >= 0 the gripper-down pose (w ~ 0) flipped sign every few
    steps, which made the observations discontinuous and BC fail. The reference hemisphere fixes it."""
    env = make_env(task, 8, seed=3)
    expert = InsertionExpert(get_task(task), get_expert_plan(task), 8, ExpertConfig(seed=3))
    previous = None
    for _ in range(60):
        terms = env.obs_terms()
        quats = torch.cat([terms["ee_quat"], terms["parts_poses"].reshape(8, -1, 7)[..., 3:].reshape(8, -1)], -1)
        assert (terms["ee_quat"] @ torch.tensor(EE_QUAT_REFERENCE, dtype=terms["ee_quat"].dtype) >= 0).all()
        if previous is not None:
            fresh = env.episode_length_buf == 0
            assert (quats - previous)[~fresh].abs().max() < 0.5
        previous = quats
        _, _, dones, _ = env.step(expert.act(terms))
        expert.reset(dones.bool())
