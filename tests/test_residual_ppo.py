"""IN-RIL residual PPO on rsl-rl-lib: which weights each update touches, the 1:m count, zero-init."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inril.algos.bc import BCConfig
from inril.algos.common.checkpoints import latest_checkpoint
from inril.algos.network_separation.config import AgentConfig, PPOConfig
from inril.algos.network_separation.runner import InrilRunner
from inril.backends.mujoco import make_env
from inril.data.demos import DemoSet
from inril.data.windows import WindowSampler
from inril.interleave.schedule import InterleaveConfig
from inril.policies import make_policy, make_policy_config
from inril.policies.normalizer import MinMaxNormalizer
from inril.residual.env import ResidualConfig, ResidualVecEnv

TASK = "PegInHole-Low"


def tiny_base(obs_dim: int) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = make_policy_config("diffusion", obs_dim, 10, pred_horizon=8, action_horizon=4, down_dims=[16, 32],
                             diffusion_step_embed_dim=16, num_inference_steps=4)
    obs_norm = MinMaxNormalizer(-2 * torch.ones(obs_dim), 2 * torch.ones(obs_dim), clip=3.0)
    act_norm = MinMaxNormalizer(torch.tensor([0.3, -0.3, 0.0] + [-1.0] * 7), torch.tensor([0.7, 0.3, 0.4] + [1.0] * 7))
    return make_policy("diffusion", cfg, obs_norm, act_norm)


def demo_sampler(obs_dim: int, seed: int = 0) -> WindowSampler:
    rng = np.random.default_rng(seed)
    obs = [rng.normal(size=(24, obs_dim)).astype(np.float32) for _ in range(3)]
    actions = [rng.uniform(-1, 1, size=(24, 10)).astype(np.float32) for _ in range(3)]
    demos = DemoSet(Path("synthetic.hdf5"), obs, actions, [True] * 3, ["demo_0", "demo_1", "demo_2"], ["x"], [obs_dim])
    return WindowSampler(demos, None, 1, 8)


def make_runner(tmp_path, base_mode: str, m: int = 3, iterations_per_save: int = 1, seed: int = 0,
                **ppo) -> InrilRunner:
    raw = make_env(TASK, 4, seed=seed)
    obs_dim = raw.get_observations()["policy"].shape[1]
    env = ResidualVecEnv(raw, tiny_base(obs_dim), ResidualConfig(scale=0.1))
    agent = AgentConfig(base=base_mode, num_steps_per_env=6, max_iterations=3, save_interval=iterations_per_save,
                        eval_interval=0, interleave=InterleaveConfig(m=m, m_min=1, m_max=max(m, 50)),
                        il=BCConfig(lr=1e-3, warmup_steps=0, lr_schedule="constant", batch_size=8))
    agent.ppo.num_learning_epochs, agent.ppo.num_mini_batches = 2, 2
    for key, value in ppo.items():
        setattr(agent.ppo, key, value)
    sampler = demo_sampler(obs_dim)
    return InrilRunner(env, agent, sampler, sampler, str(tmp_path), "cpu", seed=seed)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def test_frozen_base_never_changes(tmp_path):
    runner = make_runner(tmp_path, "frozen")
    base_before = snapshot(runner.env.base)
    actor_before = snapshot(runner.alg.actor)
    runner.learn(2)
    assert changed(base_before, runner.env.base) == set()
    assert changed(actor_before, runner.alg.actor)  # the residual did learn
    assert runner.alg.interleaving.updater is None


def test_bc_steps_follow_one_per_m_rl_updates_and_touch_only_the_base(tmp_path):
    runner = make_runner(tmp_path, "bc", m=3)
    updater = runner.alg.interleaving.updater
    base_before = snapshot(updater.learner)
    rl_steps = []
    runner.alg.optimizer.register_step_post_hook(lambda *_: rl_steps.append(1))
    runner.learn(3)
    # 3 iterations x 2 epochs x 2 minibatches = 12 RL updates; the counter carries across iterations.
    assert len(rl_steps) == 12 and updater.num_updates == 12 // 3
    moved = changed(base_before, updater.learner)
    assert moved  # IL updates moved the base ...
    assert changed(base_before, runner.env.base) == moved  # ... and were synced into the acting copy
    assert not {k for k in moved if "normalizer" in k}  # the frozen normalizers never move


def test_ppo_updates_change_only_residual_and_critic_and_bc_only_the_base(tmp_path):
    runner = make_runner(tmp_path, "bc", m=1000)  # no IL update due within this run
    base_before = snapshot(runner.env.base)
    actor_before, critic_before = snapshot(runner.alg.actor), snapshot(runner.alg.critic)
    runner.learn(1)
    assert changed(base_before, runner.env.base) == set()
    assert changed(actor_before, runner.alg.actor) and changed(critic_before, runner.alg.critic)
    # and an IL update alone moves only the base
    actor_before, critic_before = snapshot(runner.alg.actor), snapshot(runner.alg.critic)
    runner.alg.interleaving.updater.il_update(2)
    runner.alg.interleaving.updater.sync()
    assert changed(base_before, runner.env.base)
    assert not changed(actor_before, runner.alg.actor) and not changed(critic_before, runner.alg.critic)
    ppo_params = {id(p) for group in runner.alg.optimizer.param_groups for p in group["params"]}
    assert not ppo_params & {id(p) for p in runner.env.base.parameters()}


def test_zero_initialised_residual_executes_the_base_exactly():
    raw = make_env(TASK, 3, seed=1)
    base = tiny_base(raw.get_observations()["policy"].shape[1])
    env = ResidualVecEnv(raw, base, ResidualConfig(scale=0.1))
    runner_cfg = AgentConfig().to_rsl_rl()
    from inril.residual.actor import ResidualActor

    actor_cfg = {k: v for k, v in runner_cfg["actor"].items() if k != "class_name"}
    actor = ResidualActor(env.get_observations(), runner_cfg["obs_groups"], "actor", env.num_actions, **actor_cfg)
    residual = actor(env.get_observations())
    assert torch.equal(residual, torch.zeros_like(residual))
    base_action = env.get_observations()["base_action"]
    assert torch.equal(env.executed_action(residual), base_action.clamp(-1, 1))
    # the raw action sent to the env is exactly the base's unnormalized action
    raw_sent = []
    original = raw.step
    raw.step = lambda a: raw_sent.append(a.clone()) or original(a)
    env.step(residual)
    assert torch.equal(raw_sent[0], base.action_normalizer.unnormalize(base_action))


def test_episode_end_clears_that_envs_chunk_queue():
    raw = make_env(TASK, 3, seed=2, episode_length=6)
    env = ResidualVecEnv(raw, tiny_base(raw.get_observations()["policy"].shape[1]), ResidualConfig())
    zero = torch.zeros(3, 10)
    refills = [env.executor.num_refills]
    for _ in range(6):
        env.step(zero)
        refills.append(env.executor.num_refills)
    # 3 at the start; chunks of 4 actions -> all 3 refill after 4 steps; all 3 time out after 6 steps.
    assert refills == [3, 3, 3, 3, 6, 6, 9]


def test_checkpoint_resume_continues_iterations_and_schedule(tmp_path):
    runner = make_runner(tmp_path, "bc", m=3)
    runner.learn(2)
    path = latest_checkpoint(str(tmp_path))
    assert path.endswith("model_1.pt")
    il_updates, rl = runner.alg.interleaving.updater.num_updates, runner.alg.interleaving.scheduler.rl_steps
    resumed = make_runner(tmp_path / "resumed", "bc", m=3)
    resumed.load(path)
    assert resumed.current_learning_iteration == 2
    assert resumed.alg.interleaving.scheduler.rl_steps == rl
    assert resumed.alg.interleaving.updater.num_updates == il_updates
    for a, b in zip(runner.env.base.parameters(), resumed.env.base.parameters()):
        assert torch.equal(a, b)
    resumed.learn(1)
    assert resumed.current_learning_iteration == 2 and latest_checkpoint(str(tmp_path / "resumed")).endswith("model_2.pt")
    assert resumed.alg.interleaving.updater.num_updates == (rl + 4) // 3


def test_the_critic_can_have_its_own_learning_rate_and_keeps_it_across_updates_and_resume(tmp_path):
    runner = make_runner(tmp_path, "frozen", schedule="fixed", learning_rate=3e-4, critic_learning_rate=5e-3)
    groups = runner.alg.optimizer.param_groups
    assert [g["lr"] for g in groups] == [3e-4, 5e-3]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in runner.alg.critic.parameters()}
    critic = snapshot(runner.alg.critic)
    runner.learn(1)
    assert [g["lr"] for g in runner.alg.optimizer.param_groups] == [3e-4, 5e-3] and changed(critic, runner.alg.critic)
    resumed = make_runner(tmp_path / "resumed", "frozen", schedule="fixed", learning_rate=3e-4,
                          critic_learning_rate=5e-3)
    resumed.load(latest_checkpoint(str(tmp_path)))
    assert [g["lr"] for g in resumed.alg.optimizer.param_groups] == [3e-4, 5e-3]


@pytest.mark.parametrize("bad, message", [
    (lambda: PPOConfig(critic_learning_rate=5e-3), "needs schedule 'fixed'"),
    (lambda: PPOConfig(schedule="fixed", critic_learning_rate=0.0), "critic_learning_rate must be > 0"),
    (lambda: InterleaveConfig(m=0), "m"),
    (lambda: ResidualConfig(scale=-0.1), "residual scale must be > 0"),
    (lambda: AgentConfig(base="both"), "base must be one of"),
])
def test_bad_agent_configs(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_base_that_does_not_fit_the_task_is_rejected():
    raw = make_env(TASK, 2, seed=0)
    with pytest.raises(ValueError, match="trained on demos of another task"):
        ResidualVecEnv(raw, tiny_base(raw.get_observations()["policy"].shape[1] + 7), ResidualConfig())
