"""Full-network PPO over chunks: returns, chunk execution, the 1:m IL count and the surgery wiring."""

from __future__ import annotations

import pytest
import torch

from inril.algos.bc import BCConfig, BCLearner
from inril.algos.common.step_guard import NonFiniteTrainingError
from inril.algos.gradient_surgery import full_network_ppo
from inril.algos.gradient_surgery.config import FullNetworkILConfig, FullNetworkPPOConfig
from inril.algos.gradient_surgery.full_network_ppo import FullNetworkPPO, Rollout
from inril.algos.gradient_surgery.gaussian_actor import GaussianChunkActor, GaussianPPOConfig
from inril.interleave.schedule import InterleaveConfig
from inril.interleave.surgery import cosine, flatten_grads
from inril.policies import make_policy, make_policy_config
from inril.policies.normalizer import MinMaxNormalizer
from reach_env import ReachEnv, biased_demos, mean_return, normalizers


def gaussian_actor(std: float = 0.1, seed: int = 0) -> GaussianChunkActor:
    torch.manual_seed(seed)
    cfg = make_policy_config("gaussian_chunked", 4, 2, pred_horizon=4, action_horizon=4, hidden_dims=[32, 32],
                             learn_std=False, init_log_std=-2.0)
    return GaussianChunkActor(make_policy("gaussian_chunked", cfg, *normalizers()), GaussianPPOConfig(std=std))


def config(**kwargs) -> FullNetworkPPOConfig:
    defaults = {"decisions_per_env": 2, "num_learning_epochs": 2, "num_mini_batches": 2, "eval_interval": 0}
    return FullNetworkPPOConfig(**{**defaults, **kwargs})


def test_gae_over_decisions_with_an_episode_end():
    rollout = Rollout(nobs=None, chains=None, log_probs=None, values=torch.tensor([[1.0], [2.0], [3.0]]),
                      rewards=torch.tensor([[1.0], [0.0], [2.0]]), dones=torch.tensor([[0.0], [1.0], [0.0]]))
    gamma, lam = 0.5, 0.5
    advantages, returns = rollout.advantages_and_returns(torch.tensor([4.0]), gamma, lam)
    d2 = 2.0 + gamma * 4.0 - 3.0  # bootstraps from the value after the rollout
    d1 = 0.0 - 2.0  # the episode ended: no bootstrap
    d0 = 1.0 + gamma * 2.0 - 1.0
    expected = torch.tensor([[d0 + gamma * lam * d1], [d1], [d2]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, expected + rollout.values)


class OnesEnv(ReachEnv):
    """Reward 1 per step, so a decision's reward counts the steps credited to it."""

    def step(self, actions):
        obs, _, dones, extras = super().step(actions)
        return obs, torch.ones(self.num_envs), dones, extras


def test_a_chunk_is_credited_only_the_rewards_up_to_its_episode_end_and_truncation_bootstraps():
    # Episodes of 6 steps, chunks of 4: the second decision's episode ends after 2 of its steps.
    trainer = FullNetworkPPO(OnesEnv(3, length=6), gaussian_actor(), config(gamma=0.5, il=FullNetworkILConfig(enabled=False)))
    trainer.history.push(trainer._nobs(trainer.env.get_observations()))
    rollout = trainer.collect()
    assert torch.equal(rollout.dones[:, 0], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(rollout.rewards[0], torch.full((3,), 4.0))
    torch.testing.assert_close(rollout.rewards[1], 2.0 + 0.5 * rollout.values[1])  # time-out: + gamma V(s)
    # The history restarted with the new episode's observations.
    assert not trainer.history.fresh.any()


@pytest.mark.parametrize("m", [1, 3, 7])
def test_il_updates_are_floor_of_rl_updates_over_m_across_iterations(m):
    cfg = config(num_mini_batches=3, il=FullNetworkILConfig(interleave=InterleaveConfig(m=m, m_min=1, m_max=50)))
    trainer = FullNetworkPPO(ReachEnv(6), gaussian_actor(), cfg, demos=biased_demos(0.3))
    for _ in range(3):
        trainer.learn(1)
        assert trainer.il_updates == trainer.scheduler.rl_steps // m
    assert trainer.scheduler.rl_steps == 3 * 2 * 3


@pytest.mark.parametrize("method", ["none", "pcgrad", "dual_cone"])
def test_the_step_with_a_due_il_update_applies_the_projection_of_both_gradients(method, monkeypatch):
    calls = []
    real_project = full_network_ppo.project

    def recording_project(g_il, g_rl, how):
        result = real_project(g_il, g_rl, how)
        calls.append((g_il.clone(), g_rl.clone(), how, result))
        return result

    monkeypatch.setattr(full_network_ppo, "project", recording_project)
    cfg = config(num_mini_batches=2, il=FullNetworkILConfig(surgery=method, interleave=InterleaveConfig(m=2, m_min=1)))
    trainer = FullNetworkPPO(ReachEnv(4), gaussian_actor(), cfg, demos=biased_demos(0.3))
    applied = []
    trainer.optimizer.register_step_pre_hook(lambda *_: applied.append(flatten_grads(trainer.actor_params).clone()))
    trainer.learn(1)
    assert len(applied) == 4 and len(calls) == 2  # 4 RL updates, an IL update with every second one
    for (g_il, g_rl, how, result), step in zip(calls, (1, 3)):
        assert how == method
        torch.testing.assert_close(applied[step], result.update)
        torch.testing.assert_close(result.rho, cosine(g_il, g_rl))
        assert not torch.equal(g_il, g_rl)
    assert trainer.diagnostics["rho"] == pytest.approx(float(torch.stack([c[3].rho for c in calls]).mean()))


def test_gaussian_ppo_improves_return_on_a_suboptimal_base():
    actor = gaussian_actor(std=0.1)
    learner = BCLearner(actor.policy, biased_demos(0.3), BCConfig(lr=3e-3, warmup_steps=20, batch_size=64),
                        total_steps=300)
    for _ in range(300):
        learner.step()
    env_factory = lambda: ReachEnv(16, seed=99)
    base_return = mean_return(env_factory, actor.policy)
    cfg = config(decisions_per_env=4, num_learning_epochs=4, actor_lr=1e-3, critic_lr=1e-2, gamma=0.9,
                 il=FullNetworkILConfig(enabled=False))
    FullNetworkPPO(ReachEnv(32, seed=1), actor, cfg).learn(8)
    assert mean_return(env_factory, actor.policy) > base_return + 0.5


def test_state_dict_round_trip_continues_identically(tmp_path):
    def make():
        cfg = config(il=FullNetworkILConfig(interleave=InterleaveConfig(m=3, m_min=1)))
        return FullNetworkPPO(ReachEnv(4, seed=5), gaussian_actor(seed=1), cfg, demos=biased_demos(0.3))

    first = make()
    first.learn(1)
    first.save(str(tmp_path / "ckpt.pt"))
    second = make()
    second.load(str(tmp_path / "ckpt.pt"))
    assert (second.iterations_done, second.il_updates, second.scheduler.rl_steps) == (1, first.il_updates, 4)
    for key, value in first.actor.policy.state_dict().items():
        assert torch.equal(value, second.actor.policy.state_dict()[key])
    assert torch.equal(first.generator.get_state(), second.generator.get_state())


def test_bad_inputs_fail_before_training():
    with pytest.raises(ValueError, match="need demonstrations"):
        FullNetworkPPO(ReachEnv(2), gaussian_actor(), config())
    with pytest.raises(ValueError, match="il.surgery"):
        FullNetworkILConfig(surgery="orthogonal")
    with pytest.raises(ValueError, match="decisions_per_env"):
        config(decisions_per_env=0)
    cfg = make_policy_config("gaussian_chunked", 3, 2, pred_horizon=4, action_horizon=4)
    wrong = make_policy("gaussian_chunked", cfg, MinMaxNormalizer(-torch.ones(3), torch.ones(3)), normalizers()[1])
    with pytest.raises(ValueError, match="obs / 2 action dims"):
        FullNetworkPPO(ReachEnv(2), GaussianChunkActor(wrong, GaussianPPOConfig()), config(il=FullNetworkILConfig(enabled=False)))


def test_each_iteration_logs_the_inril_diagnostics_and_adaptive_m_reads_rho(tmp_path, capsys):
    il = FullNetworkILConfig(surgery="pcgrad", interleave=InterleaveConfig(mode="adaptive", m=2, m_min=1, m_max=8))
    trainer = FullNetworkPPO(ReachEnv(4), gaussian_actor(), config(il=il), demos=biased_demos(0.3),
                       val_demos=biased_demos(0.3, num=4), log_dir=str(tmp_path))
    trainer.learn(2)
    printed = capsys.readouterr().out
    for key in ("rho=", "m=", "il_updates_total=", "bc_val_loss="):
        assert key in printed
    assert trainer.scheduler.rho_ema == pytest.approx(trainer.last_scalars["rho_ema"])
    assert trainer.scheduler.rho_ema != 0.0 and 1 <= trainer.scheduler.m <= 8
    assert set(trainer.last_scalars) >= {"time/rollout", "time/policy_inference", "time/ppo_update", "time/bc_update"}
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_non_finite_updates_are_skipped_counted_and_stop_the_run_when_they_persist():
    actor = gaussian_actor()
    real_log_prob, calls = actor.log_prob, []

    def poisoned(nobs, chain, limit):
        calls.append(1)
        out = real_log_prob(nobs, chain)
        return out * float("nan") if len(calls) <= limit else out

    trainer = FullNetworkPPO(ReachEnv(4), actor, config(max_nonfinite_streak=3, il=FullNetworkILConfig(enabled=False)))
    actor.log_prob = lambda nobs, chain: poisoned(nobs, chain, limit=2)
    trainer.learn(1)  # 4 updates, the first two poisoned
    assert trainer.guard.skipped == 2 and trainer.diagnostics["nonfinite_updates_total"] == 2.0
    assert all(torch.isfinite(p).all() for p in actor.parameters())
    calls.clear()
    actor.log_prob = lambda nobs, chain: poisoned(nobs, chain, limit=10**6)
    with pytest.raises(NonFiniteTrainingError, match="4 consecutive updates had a non-finite loss"):
        trainer.learn(1)
    assert all(torch.isfinite(p).all() for p in actor.parameters())


def test_an_il_update_combined_into_a_skipped_step_is_not_counted():
    actor = gaussian_actor()
    real_log_prob, calls = actor.log_prob, []

    def poisoned(nobs, chain):
        calls.append(1)
        out = real_log_prob(nobs, chain)
        return out * float("nan") if len(calls) <= 2 else out

    cfg = config(max_nonfinite_streak=3, il=FullNetworkILConfig(interleave=InterleaveConfig(m=1, m_min=1)))
    trainer = FullNetworkPPO(ReachEnv(4), actor, cfg, demos=biased_demos(0.3))
    actor.log_prob = poisoned
    trainer.learn(1)  # 4 RL updates, each with an IL update combined; the first two steps skipped
    assert (trainer.scheduler.rl_steps, trainer.guard.skipped, trainer.il_updates) == (4, 2, 2)
