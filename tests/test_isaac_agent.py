"""The Isaac Lab agent config: its literal numbers are the embedded defaults (read from the source with ast, no
Isaac Lab needed), its runner dict is one rsl-rl-lib 5's OnPolicyRunner accepts (built and trained for an iteration
on a small embedded env under the residual wrapper), and it folds back into inril's AgentConfig."""

from __future__ import annotations

import ast
import copy
import sys
from pathlib import Path

import pytest
import torch
from rsl_rl.models import MLPModel
from rsl_rl.runners import OnPolicyRunner

EXT = Path(__file__).resolve().parents[1] / "exts" / "inril_isaac"
AGENT_CFG = EXT / "inril_isaac" / "tasks" / "assembly" / "agents" / "rsl_rl_cfg.py"
sys.path.insert(0, str(EXT))

from inril.algos.network_separation.config import AgentConfig  # noqa: E402
from inril.algos.network_separation.ppo import InrilPPO, Interleaving  # noqa: E402
from inril.backends.mujoco import make_env  # noqa: E402
from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler  # noqa: E402
from inril.policies import make_policy, make_policy_config  # noqa: E402
from inril.policies.normalizer import MinMaxNormalizer  # noqa: E402
from inril.residual.actor import ResidualActor  # noqa: E402
from inril.residual.env import ResidualConfig, ResidualVecEnv  # noqa: E402
from inril_isaac.agent_values import apply_runner_dict, runner_dict  # noqa: E402


def _literal(node: ast.expr):
    """A config value as written: a call of a config class -> dict of its keyword arguments, else the literal."""
    if isinstance(node, ast.Call):
        return {keyword.arg: _literal(keyword.value) for keyword in node.keywords}
    return ast.literal_eval(node)


def _class_literals(path: Path) -> dict[str, dict]:
    """Class name -> {field: literal value} of every class in `path`, annotated or not."""
    classes = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            assigns = [s for s in node.body if isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value is not None]
            classes[node.name] = {
                ast.unparse(s.targets[0] if isinstance(s, ast.Assign) else s.target): _literal(s.value) for s in assigns
            }
    return classes


def _leaves(tree: dict, prefix: tuple = ()) -> dict[tuple, object]:
    out = {}
    for key, value in tree.items():
        out.update(_leaves(value, prefix + (key,)) if isinstance(value, dict) and value else {prefix + (key,): value})
    return out


def test_agent_config_numbers_are_written_literally_and_equal_the_embedded_defaults():
    """The registered runner config (registration.RSL_RL_CFG_ENTRY_POINT) writes every value of the embedded
    `AgentConfig()` literally, Isaac Lab style, and each literal equals it; the fields it adds to Isaac Lab's
    classes default to the embedded values too."""
    classes = _class_literals(AGENT_CFG)
    embedded = runner_dict(AgentConfig())
    written = _leaves(classes["ResidualPPORunnerCfg"])
    expected = _leaves(embedded)
    assert {path: expected.get(path, "not in runner_dict") for path in written} == written
    agent_paths = set(_leaves({**AgentConfig().to_rsl_rl(), "max_iterations": 0}))
    # Every number of the agent is shown; only two names are left to Isaac Lab's class defaults, which are the
    # embedded values ("tensorboard", and the Gaussian head's class; the whole to_dict() is checked in tests_isaaclab).
    assert agent_paths - set(written) == {("logger",), ("actor", "distribution_cfg", "class_name")}
    assert written[("num_steps_per_env",)] == 50 and written[("actor", "distribution_cfg", "init_std")] == 0.36787944117144233
    assert classes["ResidualGaussianCfg"] == {"learn_std": embedded["actor"]["distribution_cfg"]["learn_std"]}
    assert classes["InrilPpoAlgorithmCfg"] == {"critic_learning_rate": embedded["algorithm"]["critic_learning_rate"]}


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
