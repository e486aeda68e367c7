"""The scripted PegInHole expert: success rates on 20 seeded episodes run batched, and human-like variation."""

from __future__ import annotations

import pytest
import torch

from inril.backends.mujoco import make_env
from inril.tasks import get_expert_plan
from inril.tasks.expert import ExpertConfig, InsertionExpert, InsertionPlan, Phase


def first_episodes(task: str, num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the expert until every env finished its first episode. Returns (success, length) per env."""
    env = make_env(task, num, seed=seed)
    expert = InsertionExpert(env.task, get_expert_plan(task), num, ExpertConfig(seed=seed))
    success = torch.zeros(num, dtype=torch.bool)
    length = torch.zeros(num, dtype=torch.long)
    ended = torch.zeros(num, dtype=torch.bool)
    while not ended.all():
        _, rewards, dones, _ = env.step(expert.act(env.obs_terms()))
        length += ~ended
        success |= dones.bool() & ~ended & (rewards > 0)
        ended |= dones.bool()
        expert.reset(dones.bool())
    env.close()
    return success, length


@pytest.mark.parametrize("task, minimum", [("PegInHole-Low", 0.9), ("PegInHole-Med", 0.7)])
def test_expert_solves_peg_in_hole(task, minimum):
    success, length = first_episodes(task, 20, seed=0)
    assert success.float().mean() >= minimum, f"{task}: {int(success.sum())}/20 episodes solved"
    assert length[success].max() < 200  # solved before the time limit, not by it


def test_expert_noise_makes_demos_differ():
    env = make_env("PegInHole-Low", 2, seed=0)
    actions = []
    for expert_seed in (0, 1):
        env.reset()
        expert = InsertionExpert(env.task, get_expert_plan("PegInHole-Low"), 2, ExpertConfig(seed=expert_seed))
        actions.append(torch.stack([expert.act(env.obs_terms()) for _ in range(3)]))
    assert not torch.equal(actions[0], actions[1])
    quiet = [
        InsertionExpert(env.task, get_expert_plan("PegInHole-Low"), 2,
                        ExpertConfig(pos_noise=0.0, rot_noise=0.0, speed_range=(1.0, 1.0), seed=seed))
        for seed in (0, 9)
    ]
    assert torch.equal(quiet[0].act(env.obs_terms()), quiet[1].act(env.obs_terms()))  # no noise: seed-independent


def test_expert_actions_are_absolute_poses_with_gripper_sign():
    env = make_env("PegInHole-Low", 2, seed=0)
    expert = InsertionExpert(env.task, get_expert_plan("PegInHole-Low"), 2, ExpertConfig(seed=0))
    action = expert.act(env.obs_terms())
    assert action.shape == (2, 10) and action.dtype == torch.float32
    assert (expert.phase == Phase.REACH).all() and (action[:, 9] < 0).all()  # open while reaching
    step = (action[:, :3] - env.obs_terms()["ee_pos"]).norm(dim=-1)
    assert (step <= ExpertConfig().max_step + 3 * ExpertConfig().pos_noise).all()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ExpertConfig(max_step=0.0), "max_step"),
        (lambda: ExpertConfig(noise_prob=1.5), "noise_prob"),
        (lambda: ExpertConfig(speed_range=(1.0, 0.5)), "speed_range"),
        (lambda: ExpertConfig(stall_steps=0), "stall_steps"),
        (lambda: InsertionPlan("peg", "hole", (), 0.05), "grasp pose"),
    ],
)
def test_expert_config_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()
