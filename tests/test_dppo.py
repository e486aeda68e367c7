"""DPPO: the denoising chain as a Gaussian MDP, fine-tuned by full-network PPO."""

from __future__ import annotations

import pytest
import torch

from inril.algos.bc import BCConfig, BCLearner
from inril.algos.gradient_surgery.config import FullNetworkILConfig, FullNetworkPPOConfig
from inril.algos.gradient_surgery.dppo import DPPOActor, DPPOConfig, DPPOPolicy
from inril.algos.gradient_surgery.full_network_ppo import FullNetworkPPO
from inril.interleave.schedule import InterleaveConfig
from inril.policies import make_policy, make_policy_config
from reach_env import ReachEnv, biased_demos, mean_return, normalizers


def diffusion_base(steps: int = 0, offset: float = 0.3, seed: int = 0, prediction_type: str = "sample"):
    """A tiny UNet base; clean-chunk prediction (as the presets), which is what few-step DDIM needs."""
    torch.manual_seed(seed)
    cfg = make_policy_config("diffusion", 4, 2, pred_horizon=4, action_horizon=4, down_dims=[16, 32],
                             diffusion_step_embed_dim=16, num_inference_steps=5, prediction_type=prediction_type)
    policy = make_policy("diffusion", cfg, *normalizers())
    if steps:
        learner = BCLearner(policy, biased_demos(offset), BCConfig(lr=3e-3, warmup_steps=20, batch_size=64),
                            total_steps=steps)
        for _ in range(steps):
            learner.step()
    return policy.eval()


@pytest.fixture(scope="module")
def suboptimal_base():
    """A BC base that aims 0.3 off the goal in both coordinates."""
    return diffusion_base(steps=250)


@pytest.mark.parametrize("prediction_type", ["sample", "epsilon"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("ft_steps", [5, 2])
def test_chain_log_probs_are_finite_and_match_a_recomputation(eta, ft_steps, prediction_type):
    policy = DPPOPolicy(diffusion_base(prediction_type=prediction_type),
                        DPPOConfig(num_inference_steps=5, ft_denoising_steps=ft_steps, eta=eta))
    nobs = torch.rand(6, 1, 4) * 2 - 1
    chunk, chain, log_probs = policy.chain(nobs, torch.Generator().manual_seed(3))
    assert chunk.shape == (6, 4, 2) and chain.shape == (6, ft_steps + 1, 4, 2) and log_probs.shape == (6, ft_steps)
    assert torch.isfinite(log_probs).all()
    assert torch.equal(chunk, chain[:, -1].clamp(-1, 1))
    torch.testing.assert_close(policy.chain_log_prob(nobs, chain), log_probs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prediction_type", ["sample", "epsilon"])
def test_with_eta_zero_the_deterministic_chain_is_the_base_ddim_sampler(prediction_type):
    base = diffusion_base(prediction_type=prediction_type)
    policy = DPPOPolicy(base, DPPOConfig(num_inference_steps=5, ft_denoising_steps=5, eta=0.0))
    nobs = torch.rand(5, 1, 4) * 2 - 1
    expected = base.sample(nobs, deterministic=True, num_inference_steps=5)
    actual = policy.sample(nobs, generator=torch.Generator().manual_seed(1), deterministic=True)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_only_the_fine_tuned_denoiser_is_trainable_and_the_base_is_untouched():
    base = diffusion_base()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    actor = DPPOActor(DPPOPolicy(base, DPPOConfig(ft_denoising_steps=2)))
    trainable = {id(p) for p in actor.parameters()}
    assert trainable == {id(p) for p in actor.policy.model.parameters()}
    assert not trainable & {id(p) for p in actor.policy.frozen_model.parameters()}
    assert not trainable & {id(p) for p in base.parameters()}
    trainer = FullNetworkPPO(ReachEnv(4), actor, FullNetworkPPOConfig(decisions_per_env=2, num_mini_batches=1, actor_lr=1e-2,
                                                          eval_interval=0, il=FullNetworkILConfig(enabled=False)))
    frozen = {k: v.clone() for k, v in actor.policy.frozen_model.state_dict().items()}
    trainer.learn(1)
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items())
    assert all(torch.equal(v, actor.policy.frozen_model.state_dict()[k]) for k, v in frozen.items())
    assert any(not torch.equal(p, base.model.state_dict()[k]) for k, p in actor.policy.model.state_dict().items())


@pytest.mark.parametrize("il_enabled", [False, True])
def test_with_zero_learning_rates_nothing_changes(il_enabled):
    actor = DPPOActor(DPPOPolicy(diffusion_base(), DPPOConfig()))
    cfg = FullNetworkPPOConfig(decisions_per_env=2, num_mini_batches=2, actor_lr=0.0, critic_lr=0.0, eval_interval=0,
                         il=FullNetworkILConfig(enabled=il_enabled, interleave=InterleaveConfig(m=1, m_min=1)))
    trainer = FullNetworkPPO(ReachEnv(4), actor, cfg, demos=biased_demos(0.3))
    policy_before = {k: v.clone() for k, v in actor.policy.state_dict().items()}
    critic_before = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    trainer.learn(2)
    assert trainer.scheduler.rl_steps == 2 * 5 * 2
    assert trainer.il_updates == (20 if il_enabled else 0)
    assert all(torch.equal(v, actor.policy.state_dict()[k]) for k, v in policy_before.items())
    assert all(torch.equal(v, trainer.critic.state_dict()[k]) for k, v in critic_before.items())


def test_denoising_discount_and_growing_clip():
    actor = DPPOActor(DPPOPolicy(diffusion_base(), DPPOConfig(ft_denoising_steps=4, gamma_denoising=0.5,
                                                              clip=0.2, clip_base=0.01)))
    torch.testing.assert_close(actor.step_weights(), torch.tensor([0.125, 0.25, 0.5, 1.0]))
    clips = actor.clip_coefs(0.5)  # the PPO clip is the Gaussian actor's: DPPO's chain clips with its own
    assert clips[0].item() == pytest.approx(0.01) and clips[-1].item() == pytest.approx(0.2)
    assert (clips.diff() > 0).all()


def test_dppo_clips_every_denoising_step_at_its_furniture_value_not_at_ppos():
    """DPPO's furniture configs clip at 0.001 on every step (clip_ploss_coef = clip_ploss_coef_base); PPO's
    0.2 let one laptop iteration at lr 1e-5 wreck PegInHole-Low's diffusion base (dppo.py's docstring)."""
    actor = DPPOActor(DPPOPolicy(diffusion_base(), DPPOConfig()))
    torch.testing.assert_close(actor.clip_coefs(FullNetworkPPOConfig().clip_param), torch.full((5,), 0.001))


def test_a_tiny_run_improves_return_on_a_suboptimal_base(suboptimal_base):
    env_factory = lambda: ReachEnv(16, seed=99)
    base_return = mean_return(env_factory, suboptimal_base)
    # PPO's wide clip on every step: the toy task's few updates at lr 1e-3 must be able to move the chain.
    actor = DPPOActor(DPPOPolicy(suboptimal_base, DPPOConfig(num_inference_steps=5, ft_denoising_steps=5, clip=0.2,
                                                             clip_base=0.2)))
    assert mean_return(env_factory, actor.policy) == pytest.approx(base_return, abs=1e-4)  # eta 0: starts at the base
    cfg = FullNetworkPPOConfig(decisions_per_env=4, num_learning_epochs=4, num_mini_batches=2, actor_lr=1e-3,
                         critic_lr=1e-2, gamma=0.9, eval_interval=0, il=FullNetworkILConfig(enabled=False))
    FullNetworkPPO(ReachEnv(32, seed=1), actor, cfg).learn(8)
    tuned_return = mean_return(env_factory, actor.policy)
    # The base ends every episode about 0.42 from the goal; an unbiased policy would end near it.
    assert tuned_return > base_return + 0.5, (base_return, tuned_return)


@pytest.mark.parametrize("kwargs", [{"ft_denoising_steps": 6, "num_inference_steps": 5}, {"min_sampling_std": 0.0},
                                    {"gamma_denoising": 0.0}, {"clip_base": -0.1}, {"clip_base": 0.01, "clip": 0.001},
                                    {"eta": -1.0}])
def test_bad_dppo_configs_are_rejected(kwargs):
    with pytest.raises(ValueError, match="dppo"):
        DPPOConfig(**kwargs)


def test_dppo_policy_refuses_warm_start_and_other_step_counts():
    policy = DPPOPolicy(diffusion_base(), DPPOConfig(num_inference_steps=5))
    nobs = torch.zeros(2, 1, 4)
    with pytest.raises(ValueError, match="warm-start"):
        policy.sample(nobs, init=torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="fine-tuned for 5"):
        policy.sample(nobs, num_inference_steps=8)
