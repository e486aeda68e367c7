"""Diffusion policy: learns a bimodal chunk distribution, samples reproducibly, warm-starts."""

from __future__ import annotations

import pytest
import torch

from inril.policies import DiffusionPolicy, MinMaxNormalizer, make_policy, make_policy_config, warm_start_from_tail

MODE = 0.7  # the bimodal observation's chunks sit at +MODE or -MODE, never at their mean 0
SMALL = dict(down_dims=[16, 32], kernel_size=3, n_groups=4, diffusion_step_embed_dim=16)


def identity_normalizer(dim: int) -> MinMaxNormalizer:
    return MinMaxNormalizer(-torch.ones(dim), torch.ones(dim))


def small_policy(obs_dim: int = 1, action_dim: int = 2, **overrides) -> DiffusionPolicy:
    settings = {**SMALL, "pred_horizon": 4, "action_horizon": 2, "num_inference_steps": 10, **overrides}
    cfg = make_policy_config("diffusion", obs_dim, action_dim, **settings)
    return make_policy("diffusion", cfg, identity_normalizer(obs_dim), identity_normalizer(action_dim))


def toy_batch(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """obs -1: chunk at +MODE or -MODE with equal probability; obs +1: chunk at 0 (unimodal)."""
    obs = torch.randint(0, 2, (batch, 1, 1)).float() * 2 - 1
    sign = torch.randint(0, 2, (batch, 1, 1)).float() * 2 - 1
    chunk = torch.where(obs < 0, MODE * sign, torch.zeros(())).expand(batch, 4, 2)
    return obs, chunk + 0.02 * torch.randn(batch, 4, 2)


@pytest.fixture(scope="module")
def trained() -> DiffusionPolicy:
    torch.manual_seed(0)
    policy = small_policy()
    steps = 250
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)
    for _ in range(steps):
        loss = policy.compute_loss(*toy_batch(256))
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
    return policy


def chunk_means(policy: DiffusionPolicy, obs_value: float, n: int = 1000, seed: int = 1, **kwargs) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return policy.sample(torch.full((n, 1, 1), obs_value), generator=generator, **kwargs).mean(dim=(1, 2))


def test_learns_both_modes_not_their_mean(trained):
    means = chunk_means(trained, -1.0)
    near_pos = ((means - MODE).abs() < 0.2).float().mean().item()
    near_neg = ((means + MODE).abs() < 0.2).float().mean().item()
    near_zero = (means.abs() < 0.3).float().mean().item()
    # Measured over training seeds 0-3: shares 0.42-0.49 each, 0.88-0.94 in total, 0.01-0.04 near 0.
    assert 0.3 < near_pos < 0.7 and 0.3 < near_neg < 0.7
    assert near_pos + near_neg > 0.85
    assert near_zero < 0.06
    # The observation conditions the distribution: obs +1 has a single mode at 0.
    assert (chunk_means(trained, 1.0).abs() < 0.15).float().mean().item() > 0.8


def test_warm_start_from_a_perfect_chunk_stays_close(trained):
    for mode in (MODE, -MODE):
        init = torch.full((500, 4, 2), mode)
        out = trained.sample(-torch.ones(500, 1, 1), generator=torch.Generator().manual_seed(2), init=init)
        assert out.shape == (500, 4, 2)
        assert ((out.mean(dim=(1, 2)) - mode).abs() < 0.2).float().mean().item() > 0.85
        assert (out - mode).abs().mean().item() < 0.2


def test_same_generator_seed_gives_identical_chunks():
    torch.manual_seed(0)
    policy = small_policy(eta=1.0)  # stochastic DDIM steps also draw from the generator
    nobs = torch.randn(64, 1, 1)

    def draw(seed: int, **kwargs) -> torch.Tensor:
        return policy.sample(nobs, generator=torch.Generator().manual_seed(seed), **kwargs)

    assert torch.equal(draw(3), draw(3))
    assert torch.equal(draw(3, deterministic=True), draw(3, deterministic=True))
    assert not torch.equal(draw(3), draw(4))
    # deterministic=True drops the eta noise but keeps the generator's initial noise.
    assert not torch.equal(draw(3), draw(3, deterministic=True))
    out = draw(3)
    assert out.abs().max() <= 1.0


def test_one_forward_per_denoising_step_for_the_whole_batch_and_warm_start_runs_only_the_tail():
    policy = small_policy()
    calls = []
    policy.model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    nobs = torch.zeros(1000, 1, 1)

    policy.sample(nobs)
    assert calls == [1000] * 10

    calls.clear()
    init = warm_start_from_tail(torch.rand(1000, 4, 2) * 2 - 1, num_executed=2)
    out = policy.sample(nobs, init=init)
    assert out.shape == (1000, 4, 2)
    # 10 DDIM steps over 100 train steps visit 90, 80, ..., 0; warm start at 50 keeps 50, 40, ..., 0.
    assert policy.denoising_timesteps(warm_start=True) == [50, 40, 30, 20, 10, 0]
    assert calls == [1000] * 6

    calls.clear()
    policy.sample(nobs, init=init, num_inference_steps=4)  # grid 75, 50, 25, 0
    assert len(calls) == 2 + 1


def test_warm_start_timestep_between_grid_points_rounds_down():
    policy = small_policy(warm_start_timestep=57)
    assert policy.denoising_timesteps(warm_start=True) == [50, 40, 30, 20, 10, 0]
    assert policy.denoising_timesteps(4, warm_start=True) == [50, 25, 0]


def test_warm_start_from_tail_shifts_and_repeats_the_last_action():
    prev = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    init = warm_start_from_tail(prev, num_executed=2)
    assert torch.equal(init[:, :3], prev[:, 2:])
    assert torch.equal(init[:, 3:], prev[:, 4:5].expand(2, 2, 3))
    assert torch.equal(warm_start_from_tail(prev, 0), prev)
    assert torch.equal(warm_start_from_tail(prev, 5), prev[:, 4:5].expand(2, 5, 3))
    with pytest.raises(ValueError, match="num_executed"):
        warm_start_from_tail(prev, 6)


def test_sampling_is_unaffected_by_other_step_counts_and_training():
    torch.manual_seed(0)
    policy = small_policy()
    nobs = torch.randn(32, 1, 1)

    def draw() -> torch.Tensor:
        return policy.sample(nobs, generator=torch.Generator().manual_seed(5))

    before = draw()
    policy.sample(nobs, num_inference_steps=3)
    policy.sample(nobs, num_inference_steps=7, init=torch.zeros(32, 4, 2))
    policy.compute_loss(nobs, torch.zeros(32, 4, 2)).backward()
    assert torch.equal(draw(), before)
    # Training (DDPM) and inference (DDIM) share one noise schedule.
    assert torch.equal(policy.train_scheduler.betas, policy.inference_scheduler(10).betas)


@pytest.mark.parametrize("pred_horizon", [1, 5, 7])
def test_chunk_lengths_not_divisible_by_the_unet_downsampling_are_padded(pred_horizon):
    cfg = make_policy_config(
        "diffusion", 3, 2, obs_horizon=2, pred_horizon=pred_horizon, action_horizon=1,
        down_dims=[8, 16, 32], kernel_size=3, n_groups=4, diffusion_step_embed_dim=8, num_inference_steps=2,
    )  # fmt: skip
    policy = make_policy("diffusion", cfg, identity_normalizer(3), identity_normalizer(2))
    nobs = torch.randn(6, 2, 3)
    loss = policy.compute_loss(nobs, torch.rand(6, pred_horizon, 2) * 2 - 1)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert policy.sample(nobs).shape == (6, pred_horizon, 2)


def test_bad_shapes_raise():
    policy = small_policy()
    with pytest.raises(ValueError, match="observations must have shape"):
        policy.sample(torch.zeros(4, 1))
    with pytest.raises(ValueError, match="nactions must have shape"):
        policy.compute_loss(torch.zeros(4, 1, 1), torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match="init must have shape"):
        policy.sample(torch.zeros(4, 1, 1), init=torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match="num_inference_steps"):
        policy.sample(torch.zeros(4, 1, 1), num_inference_steps=0)
