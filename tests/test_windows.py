from __future__ import annotations

import pytest
import torch

from inril.data.demo_reader import load_demos
from inril.data.demos import DemoError, split_episodes
from inril.data.windows import WindowSampler


def test_windows_pad_at_both_ends(demo_file):
    demos = load_demos(demo_file)
    sampler = WindowSampler(demos, [1, 3], obs_horizon=3, pred_horizon=4)
    assert len(sampler) == 24
    obs, act = sampler.windows(torch.tensor([0, 1, 11, 12, 23]))
    assert obs.shape == (5, 3, 3) and act.shape == (5, 4, 2)
    # obs[..., 0] is the episode id, obs[..., 1] the step; actions[..., 1] is step + 0.5.
    assert obs[0, :, 1].tolist() == [0, 0, 0]  # start: repeat the first observation
    assert obs[1, :, 1].tolist() == [0, 0, 1]
    assert act[0, :, 1].tolist() == [0.5, 1.5, 2.5, 3.5]
    assert act[2, :, 1].tolist() == [11.5, 11.5, 11.5, 11.5]  # end: repeat the last action
    assert obs[2, :, 1].tolist() == [9, 10, 11]
    # windows never cross into the neighbouring episode
    assert set(obs[3, :, 0].tolist()) == {3.0} and obs[3, :, 1].tolist() == [0, 0, 0]
    assert set(act[4, :, 0].tolist()) == {3.0} and act[4, :, 1].tolist() == [11.5] * 4


def test_sample_is_seeded_and_covers_all_windows(demo_file):
    sampler = WindowSampler(load_demos(demo_file), None, obs_horizon=2, pred_horizon=3)
    a = sampler.sample(64, torch.Generator().manual_seed(1))
    b = sampler.sample(64, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    total = sum(len(o) for o, _ in sampler.batches(10))
    assert total == len(sampler) == 48


def test_horizon_longer_than_every_demo(demo_file):
    with pytest.raises(DemoError, match="longer than every demo"):
        WindowSampler(load_demos(demo_file), None, obs_horizon=1, pred_horizon=13)


def test_split_is_by_episode_and_disjoint():
    train, val = split_episodes(10, 0.2, seed=3)
    assert len(val) == 2 and len(train) == 8 and not set(train) & set(val)
    assert split_episodes(10, 0.2, seed=3) == (train, val)
    assert split_episodes(2, 0.1) [1] != []  # at least one validation episode when asked for
    assert split_episodes(1, 0.5) == ([0], [])
    with pytest.raises(ValueError):
        split_episodes(5, 1.0)
