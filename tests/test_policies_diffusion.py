"""Diffusion policy: learns a bimodal chunk distribution, samples on the trailing DDIM grid (one step
already denoises), samples reproducibly and deterministically, warm-starts."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler

from inril.policies import DiffusionPolicy, MinMaxNormalizer, make_policy, make_policy_config, warm_start_from_tail
from inril.policies.diffusion import ddim_grid

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
    assert not torch.equal(draw(3), draw(4))
    assert not torch.equal(draw(3), draw(3, deterministic=True))
    out = draw(3)
    assert out.abs().max() <= 1.0


def test_deterministic_sampling_is_a_function_of_the_observation():
    torch.manual_seed(0)
    policy = small_policy(eta=1.0)
    nobs = torch.randn(8, 1, 1)
    first = policy.sample(nobs, deterministic=True, generator=torch.Generator().manual_seed(3))
    # Neither the generator nor the global RNG changes a chunk, nor (beyond float rounding of batched
    # matrix products) the batch an observation sits in.
    torch.manual_seed(1)
    assert torch.equal(policy.sample(nobs, deterministic=True), first)
    torch.testing.assert_close(policy.sample(nobs.flip(0), deterministic=True), first.flip(0), rtol=0, atol=1e-5)
    torch.testing.assert_close(policy.sample(nobs.repeat(3, 1, 1), deterministic=True), first.repeat(3, 1, 1),
                               rtol=0, atol=1e-5)
    # ... and predict_action(deterministic=True) is then deterministic in raw units too.
    assert torch.equal(policy.predict_action(nobs, deterministic=True), policy.predict_action(nobs, deterministic=True))
    init = torch.rand(8, 4, 2) * 2 - 1
    assert torch.equal(policy.sample(nobs, deterministic=True, init=init),
                       policy.sample(nobs, deterministic=True, init=init))


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 10, 100])
def test_ddim_grid_starts_at_the_last_train_step(steps):
    policy = small_policy()
    grid = policy.denoising_timesteps(steps)
    assert grid[0] == 99 and len(grid) == steps
    assert all(a > b for a, b in zip(grid, grid[1:])) and grid[-1] >= 0
    reference = DDIMScheduler(num_train_timesteps=100, timestep_spacing="trailing")
    reference.set_timesteps(steps)
    assert grid == reference.timesteps.tolist() == ddim_grid(100, steps)
    calls = []
    policy.model.register_forward_hook(lambda module, args, out: calls.append(int(args[1])))
    policy.sample(torch.zeros(2, 1, 1), num_inference_steps=steps)
    assert calls == grid


def test_ddim_grid_values():
    assert ddim_grid(100, 1) == [99]
    assert ddim_grid(100, 2) == [99, 49]
    assert ddim_grid(100, 4) == [99, 74, 49, 24]
    assert ddim_grid(100, 8) == [99, 87, 74, 61, 49, 37, 24, 11]
    with pytest.raises(ValueError, match="num_inference_steps"):
        ddim_grid(100, 101)


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_few_step_sampling_denoises(steps, one_chunk_per_obs):
    """A clean-chunk model trained on one fixed chunk per observation returns it from pure noise in any
    number of steps, one included (on diffusers' default leading grid one step ran at t = 0 and returned
    the noise); stochastic and deterministic sampling alike."""
    policy, chunks = one_chunk_per_obs
    nobs = torch.tensor([-1.0, 1.0]).repeat_interleave(200).view(-1, 1, 1)
    target = chunks[(nobs.view(-1) > 0).long()]
    noise = torch.randn(400, 4, 2, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    assert (noise - target).abs().mean() > 0.5
    for deterministic in (False, True):
        out = policy.sample(nobs, generator=torch.Generator().manual_seed(steps), deterministic=deterministic,
                            num_inference_steps=steps)
        assert (out - target).abs().mean() < 0.05, (steps, deterministic)


@pytest.fixture(scope="module")
def one_chunk_per_obs() -> tuple[DiffusionPolicy, torch.Tensor]:
    """A sample-prediction policy trained on two observations, each with one fixed chunk."""
    torch.manual_seed(0)
    policy = small_policy(prediction_type="sample")
    chunks = torch.tensor([[0.5, -0.3], [-0.6, 0.2]]).view(2, 1, 2).expand(2, 4, 2) + torch.linspace(0, 0.3, 4)[:, None]
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    for _ in range(200):
        which = torch.randint(0, 2, (128,))
        loss = policy.compute_loss((which.float() * 2 - 1).view(-1, 1, 1), chunks[which])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy.eval(), chunks


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
    # 10 DDIM steps over 100 train steps visit 99, 89, ..., 9; warm start at 50 keeps 49, 39, ..., 9.
    assert policy.denoising_timesteps(warm_start=True) == [49, 39, 29, 19, 9]
    assert calls == [1000] * 5

    calls.clear()
    policy.sample(nobs, init=init, num_inference_steps=4)  # grid 99, 74, 49, 24
    assert len(calls) == 2


def test_warm_start_timestep_between_grid_points_rounds_down():
    policy = small_policy(warm_start_timestep=57)
    assert policy.denoising_timesteps(warm_start=True) == [49, 39, 29, 19, 9]
    assert policy.denoising_timesteps(4, warm_start=True) == [49, 24]
    assert policy.denoising_timesteps(1, warm_start=True) == [99]  # no grid point below: the one step runs


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
    tables = policy.ddim_tables(10)
    assert torch.equal(tables.sqrt_alpha, policy.train_scheduler.alphas_cumprod[tables.timesteps].float().sqrt())


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
