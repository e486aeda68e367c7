from __future__ import annotations

import pytest
import torch

from inril.policies import make_policy, make_policy_config
from inril.policies.chunk_executor import ChunkExecutor
from inril.policies.normalizer import MinMaxNormalizer


def _policy(name: str, **overrides):
    cfg = make_policy_config(name, obs_dim=3, action_dim=2, **overrides)
    norm_o = MinMaxNormalizer(-torch.ones(3), torch.ones(3))
    norm_a = MinMaxNormalizer(-2 * torch.ones(2), 2 * torch.ones(2))
    torch.manual_seed(0)
    return make_policy(name, cfg, norm_o, norm_a)


def _small_diffusion(**overrides):
    return _policy("diffusion", pred_horizon=8, action_horizon=4, obs_horizon=2, down_dims=[16, 32],
                   diffusion_step_embed_dim=16, num_inference_steps=4, **overrides)


def test_refills_exactly_when_empty_and_on_reset():
    policy = _small_diffusion()
    ex = ChunkExecutor(policy, num_envs=3, generator=torch.Generator().manual_seed(0))
    obs = torch.zeros(3, 3)
    ex.act(obs)
    assert ex.num_refills == 3  # every env starts empty
    for _ in range(3):
        ex.act(obs)
    assert ex.num_refills == 3  # 4 actions of each chunk executed, none refilled yet
    ex.reset(torch.tensor([1]))
    ex.act(obs)
    assert ex.num_refills == 3 + 3  # env 1 (reset) and envs 0, 2 (queues just emptied)
    ex.act(obs)
    assert ex.num_refills == 6
    ex.reset(torch.tensor([2]))
    ex.act(obs)
    assert ex.num_refills == 7  # only the reset env


def test_actions_follow_the_chunk_in_order():
    policy = _small_diffusion()
    ex = ChunkExecutor(policy, num_envs=2, generator=torch.Generator().manual_seed(0))
    first = ex.act_normalized(torch.zeros(2, 3))
    chunk = ex.chunks.clone()
    popped = [first] + [ex.act_normalized(torch.zeros(2, 3)) for _ in range(3)]
    assert torch.equal(torch.stack(popped, 1), chunk[:, :4])


def test_history_starts_padded_with_first_observation_and_then_slides():
    ex = ChunkExecutor(_small_diffusion(), num_envs=2, generator=torch.Generator().manual_seed(0))
    ex.act_normalized(torch.tensor([[0.1] * 3, [0.2] * 3]))
    assert torch.allclose(ex.history.history[:, :, 0], torch.tensor([[0.1, 0.1], [0.2, 0.2]]))
    ex.act_normalized(torch.tensor([[0.3] * 3, [0.4] * 3]))
    assert torch.allclose(ex.history.history[:, :, 0], torch.tensor([[0.1, 0.3], [0.2, 0.4]]))
    ex.reset(torch.tensor([0]))
    ex.act_normalized(torch.tensor([[0.5] * 3, [0.6] * 3]))
    assert torch.allclose(ex.history.history[:, :, 0], torch.tensor([[0.5, 0.5], [0.4, 0.6]]))


def test_warm_start_uses_the_tail_only_after_a_first_plan():
    policy = _small_diffusion()
    calls = []
    original = policy.sample
    policy.sample = lambda nobs, **kw: calls.append(kw["init"] is not None) or original(nobs, **kw)
    ex = ChunkExecutor(policy, num_envs=2, warm_start=True, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        ex.act(torch.zeros(2, 3))
    assert calls == [False, True]  # cold start, then one warm-started refill for both envs
    ex.reset(torch.tensor([0]))
    for _ in range(4):
        ex.act(torch.zeros(2, 3))
    assert calls[2:] == [False, True]  # the reset env starts cold, the other warm


def test_same_seed_same_actions_and_raw_units():
    def run(seed):
        ex = ChunkExecutor(_small_diffusion(), 2, generator=torch.Generator().manual_seed(seed))
        return torch.stack([ex.act(torch.full((2, 3), 0.1 * i)) for i in range(6)])

    a, b = run(3), run(3)
    assert torch.equal(a, b) and not torch.equal(a, run(4))
    assert a.abs().max() <= 2.0  # unnormalized into the action range [-2, 2]


def test_gaussian_policy_and_bad_options():
    ex = ChunkExecutor(_policy("gaussian"), 4, deterministic=True)
    assert ex.act(torch.zeros(4, 3)).shape == (4, 2)
    with pytest.raises(ValueError, match="cannot warm-start"):
        ChunkExecutor(_policy("gaussian"), 4, warm_start=True)
    with pytest.raises(ValueError, match="num_envs"):
        ChunkExecutor(_policy("gaussian"), 0)
