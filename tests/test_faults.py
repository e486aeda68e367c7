"""Runtime faults: NaN simulator states and NaN actions stay in their env; NaN losses skip their update;
repeated NaN losses stop the run with a last good checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import rsl_rl.runners.on_policy_runner as on_policy_runner
import torch

from inril.algos.common.checkpoints import read_checkpoint
from inril.algos.common.step_guard import NonFiniteTrainingError
from inril.backends.mujoco import make_env
from inril.residual.env import ResidualConfig, ResidualVecEnv
from test_export_support import TASK, build_tiny_runner, tiny_base


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_a_nan_simulator_state_is_reset_in_its_env_and_never_reaches_rsl_rl(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # MuJoCo writes its instability warning to MUJOCO_LOG.TXT in the cwd
    runner, _ = build_tiny_runner(None, "frozen")
    raw = runner.env.env
    seen = []
    check = on_policy_runner.check_nan
    monkeypatch.setattr(on_policy_runner, "check_nan", lambda obs, r, d: seen.append(
        all(torch.isfinite(obs[k]).all() for k in obs.keys()) and bool(torch.isfinite(r).all())) or check(obs, r, d))
    step, calls, logs = raw.step, [], []

    def poisoned_step(actions):
        calls.append(1)
        if len(calls) == 3:
            raw.physics_state[1, 1 + raw.layout.nq:] = np.nan  # env 1's velocities blow up
        out = step(actions)
        logs.append(out[3]["log"]["/nan_resets"])
        return out

    raw.step = poisoned_step
    runner.learn(1)  # would raise in rsl-rl's check_nan if a NaN got through
    assert len(seen) == 6 and all(seen)
    assert logs[2] == 1.0 and sum(logs) == 1.0 and raw.nan_reset_count == 1
    assert np.isfinite(raw.physics_state).all()


def test_a_nan_residual_action_holds_only_its_env():
    def residual_env():
        return ResidualVecEnv(make_env(TASK, 3, seed=4), tiny_base(), ResidualConfig(scale=0.1))

    clean, poisoned = residual_env(), residual_env()
    residual = torch.zeros(3, 10)
    bad = residual.clone()
    bad[1] = float("nan")
    clean_obs, *_ = clean.step(residual)
    bad_obs, _, dones, _ = poisoned.step(bad)
    for group in ("policy", "base_action"):
        assert torch.equal(bad_obs[group][[0, 2]], clean_obs[group][[0, 2]])  # the other envs never notice
        assert torch.isfinite(bad_obs[group]).all()
    assert not dones.any() and poisoned.env.nan_reset_count == 0  # env 1 held its arm instead of diverging


def poison_first_backward(param: torch.nn.Parameter) -> list[int]:
    """Make the first gradient of `param` NaN (one bad minibatch); returns the backward-call counter."""
    calls = []

    def hook(grad):
        calls.append(1)
        return grad * float("nan") if len(calls) == 1 else grad

    param.register_hook(hook)
    return calls


def test_a_nan_ppo_loss_skips_that_update_and_is_counted():
    runner, _ = build_tiny_runner(None, "bc")
    actor = runner.alg.get_policy()
    before = snapshot(actor)
    poison_first_backward(next(p for p in actor.parameters() if p.requires_grad))
    runner.learn(1)
    alg = runner.alg
    assert alg.rl_guard.skipped == 1 and alg.diagnostics["nonfinite_rl_updates_total"] == 1.0
    assert alg.interleaving.scheduler.rl_steps == 2 * 2 - 1  # the skipped step is no RL update
    after = snapshot(actor)
    assert all(torch.isfinite(v).all() for v in after.values())
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the other three updates applied


def test_a_nan_il_loss_skips_that_update_and_keeps_the_base_finite():
    runner, _ = build_tiny_runner(None, "bc")
    learner = runner.alg.interleaving.updater.learner
    poison_first_backward(next(learner.parameters()))
    runner.learn(2)  # 8 RL updates at m=3: 2 IL updates, the first one poisoned
    assert runner.alg.il_guard.skipped == 1 and runner.alg.rl_guard.skipped == 0
    assert runner.alg.diagnostics["nonfinite_il_updates_total"] == 1.0
    assert runner.alg.il_guard.skips_on_device  # the side stream's IL updates never wait for the host
    assert all(torch.isfinite(p).all() for p in runner.env.base.parameters())


def test_repeated_nan_losses_stop_the_run_with_a_last_good_checkpoint(tmp_path):
    runner, _ = build_tiny_runner(tmp_path, "bc")
    runner.agent.max_nonfinite_streak = 3
    update, good_actor = runner.alg.update, {}

    def update_then_poison():  # iteration 0 trains normally; from iteration 1 on every PPO loss is NaN
        if good_actor:
            runner.alg.value_loss_coef = float("nan")
        loss = update()
        if not good_actor:
            good_actor.update(snapshot(runner.alg.get_policy()))
        return loss

    runner.alg.update = update_then_poison
    with pytest.raises(NonFiniteTrainingError, match=r"stopped at iteration 1: 4 consecutive PPO updates") as err:
        runner.learn(3)
    path = tmp_path / "model_1.pt"
    assert f"last good checkpoint: {path}" in str(err.value)
    saved = read_checkpoint(path)  # verifies: complete, no NaN
    assert saved["iter"] == 1 and saved["nonfinite_skips"]["rl"] == 4
    assert all(torch.equal(saved["actor_state_dict"][k], v) for k, v in good_actor.items())
    assert not (tmp_path / "model_2.pt").exists()
