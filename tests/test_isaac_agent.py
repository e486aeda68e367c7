"""The Isaac Lab agent config's runner dict is one rsl-rl-lib 5's OnPolicyRunner accepts (built and trained
for an iteration on a small embedded env under the residual wrapper), and it folds back into inril's
AgentConfig."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
from rsl_rl.models import MLPModel
from rsl_rl.runners import OnPolicyRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exts" / "inril_isaac"))

from inril.algos.network_separation.config import AgentConfig  # noqa: E402
from inril.algos.network_separation.ppo import InrilPPO, Interleaving  # noqa: E402
from inril.backends.mujoco import make_env  # noqa: E402
from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler  # noqa: E402
from inril.policies import make_policy, make_policy_config  # noqa: E402
from inril.policies.normalizer import MinMaxNormalizer  # noqa: E402
from inril.residual.actor import ResidualActor  # noqa: E402
from inril.residual.env import ResidualConfig, ResidualVecEnv  # noqa: E402
from inril_isaac.agent_values import apply_runner_dict, runner_dict  # noqa: E402


def tiny_residual_env() -> ResidualVecEnv:
    raw = make_env("PegInHole-Low", num_envs=4, seed=0, num_threads=1)
    obs_dim = raw.get_observations()["policy"].shape[1]
    torch.manual_seed(0)
    cfg = make_policy_config("diffusion", obs_dim, raw.num_actions, pred_horizon=4, action_horizon=2,
                             down_dims=[16, 32], diffusion_step_embed_dim=16, num_inference_steps=2)
    base = make_policy("diffusion", cfg, MinMaxNormalizer(-2 * torch.ones(obs_dim), 2 * torch.ones(obs_dim)),
                       MinMaxNormalizer(-torch.ones(raw.num_actions), torch.ones(raw.num_actions)))
    return ResidualVecEnv(raw, base, ResidualConfig())


def test_runner_dict_builds_and_trains_the_residual_agent_with_rsl_rl():
    env = tiny_residual_env()
    agent = AgentConfig(num_steps_per_env=2, max_iterations=1)
    agent.ppo.num_learning_epochs, agent.ppo.num_mini_batches = 1, 1
    try:
        runner = OnPolicyRunner(env, runner_dict(agent), log_dir=None, device="cpu")
        assert isinstance(runner.alg, InrilPPO)
        assert isinstance(runner.alg.actor, ResidualActor) and type(runner.alg.critic) is MLPModel
        assert runner.cfg["obs_groups"] == {"actor": ["policy", "base_action"], "critic": ["policy", "base_action"]}
        obs = env.get_observations()
        assert torch.count_nonzero(runner.alg.actor(obs)) == 0  # zero-initialised residual: the base acts alone
        runner.alg.attach(Interleaving(InterleaveScheduler(InterleaveConfig(m=2)), None, env.residual_cfg))
        residual_head = runner.alg.actor.mlp[-1].weight.detach().clone()
        runner.learn(num_learning_iterations=1)
        assert runner.current_learning_iteration == 0 and not torch.equal(residual_head, runner.alg.actor.mlp[-1].weight)
    finally:
        env.env.close()


def test_runner_dict_folds_back_into_the_agent_config():
    agent = AgentConfig()
    assert apply_runner_dict(agent, runner_dict(agent)) == agent
    edited = copy.deepcopy(runner_dict(agent))  # as Hydra overrides would on the Isaac Lab side
    edited["num_steps_per_env"], edited["max_iterations"] = 32, 500
    edited["algorithm"]["learning_rate"] = 1e-4
    edited["actor"]["hidden_dims"] = [512, 256]
    edited["actor"]["distribution_cfg"]["init_std"] = 0.2
    updated = apply_runner_dict(agent, edited)
    assert (updated.num_steps_per_env, updated.max_iterations, updated.ppo.learning_rate) == (32, 500, 1e-4)
    assert updated.actor.hidden_dims == [512, 256] and updated.init_std == 0.2
    assert runner_dict(updated) == edited


@pytest.mark.parametrize(
    "path, value",
    [(("actor", "class_name"), "MLPModel"), (("algorithm", "class_name"), "PPO"),
     (("obs_groups", "actor"), ["policy"]), (("algorithm", "use_clipped_value_loss"), False),
     (("actor", "distribution_cfg", "std_type"), "scalar")],
)
def test_runner_dict_settings_inril_cannot_run_are_refused(path, value):
    edited = copy.deepcopy(runner_dict())
    target = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError):
        apply_runner_dict(AgentConfig(), edited)
