"""The rsl-rl-lib 5 runner config of the Isaac Lab tasks, as a plain dict, without importing Isaac Lab.

`runner_dict(agent)` is inril's own `AgentConfig.to_rsl_rl()` plus the runner-level keys Isaac Lab's
`RslRlOnPolicyRunnerCfg` carries. The `@configclass` agent config of the extension
(`inril_isaac.tasks.assembly.agents.rsl_rl_cfg`) writes the values of `runner_dict(AgentConfig())` literally, as
Isaac Lab's agent configs do; tests/test_isaac_agent.py checks every literal against it and tests_isaaclab checks
that the config's `to_dict()` is this dict, so the embedded and Isaac Lab branches train the same agent.
`apply_runner_dict` goes the other way: it
folds a runner dict (after Hydra overrides on the Isaac Lab side) back into an `AgentConfig` for
`inril.algos.network_separation.runner.InrilRunner`, refusing what IN-RIL cannot run.
"""

from __future__ import annotations

import copy
from dataclasses import fields, replace

from inril.algos.network_separation.config import AgentConfig, MLPConfig, PPOConfig

EXPERIMENT_NAME = "inril_residual"

# Runner keys of Isaac Lab's RslRlBaseRunnerCfg / RslRlOnPolicyRunnerCfg that AgentConfig does not hold.
RUNNER_FIELDS = {
    "class_name": "OnPolicyRunner",
    "seed": 42,
    "device": "cuda:0",
    "experiment_name": EXPERIMENT_NAME,
    "run_name": "",
    "clip_actions": None,  # the residual wrapper clips the executed action itself
    "neptune_project": "inril",
    "wandb_project": "inril",
    "resume": False,
    "load_run": ".*",
    "load_checkpoint": "model_.*.pt",
    "init_at_random_ep_len": True,
    "check_for_nan": True,
}
# Fields of Isaac Lab's RslRlPpoAlgorithmCfg that AgentConfig leaves at rsl-rl-lib's defaults.
ALGORITHM_FIELDS = {
    "optimizer": "adam",
    "use_clipped_value_loss": True,
    "normalize_advantage_per_mini_batch": False,
    "share_cnn_encoders": False,
    "use_mixed_precision": False,
    "rnd_cfg": None,
    "symmetry_cfg": None,
}
# Keys Isaac Lab's runner config may carry that IN-RIL does not read (deprecated or distillation-only).
IGNORED_RUNNER_KEYS = {"empirical_normalization", "policy", "student", "teacher", "torch_compile_mode"}
GAUSSIAN_STD_RANGE = (1e-6, 1e6)  # rsl_rl.modules.GaussianDistribution's default std clamp


def runner_dict(agent: AgentConfig | None = None) -> dict:
    """The dict `rsl_rl.runners.OnPolicyRunner(env, train_cfg, ...)` takes for the Isaac Lab tasks."""
    agent = agent or AgentConfig()
    cfg = agent.to_rsl_rl()
    cfg["algorithm"] = {**cfg["algorithm"], **ALGORITHM_FIELDS}
    cfg["critic"] = {**cfg["critic"], "distribution_cfg": None}  # deterministic value head, as Isaac Lab writes it
    return {**RUNNER_FIELDS, "max_iterations": agent.max_iterations, **cfg}


def apply_runner_dict(agent: AgentConfig, cfg: dict) -> AgentConfig:
    """`agent` with the values a runner dict sets (iterations, PPO, networks, exploration std, logger).

    Raises ValueError for settings the IN-RIL runner does not support: another actor/algorithm class or
    observation groups, or rsl-rl options inril keeps fixed (see ALGORITHM_FIELDS).
    """
    expected = runner_dict(agent)
    unknown = sorted(set(cfg) - set(expected) - IGNORED_RUNNER_KEYS)
    unknown += sorted(f"algorithm.{k}" for k in set(cfg["algorithm"]) - set(expected["algorithm"]))
    if unknown:
        raise ValueError(f"runner config has fields IN-RIL does not know: {', '.join(unknown)}")
    if cfg["obs_groups"] != expected["obs_groups"]:
        raise ValueError(f"runner obs_groups must be {expected['obs_groups']} for IN-RIL, got {cfg['obs_groups']}")
    for model in ("actor", "critic"):
        if cfg[model]["class_name"] != expected[model]["class_name"]:
            raise ValueError(f"{model} class must be {expected[model]['class_name']}, got {cfg[model]['class_name']}")
    algorithm = dict(cfg["algorithm"])
    if algorithm.pop("class_name") != expected["algorithm"]["class_name"]:
        raise ValueError(f"algorithm class must be {expected['algorithm']['class_name']}")
    for key, value in ALGORITHM_FIELDS.items():
        if algorithm.pop(key, value) != value:
            raise ValueError(f"algorithm.{key} is fixed to {value!r} in IN-RIL")
    distribution = dict(cfg["actor"]["distribution_cfg"])
    # Isaac Lab's Gaussian config always carries rsl-rl-lib's default std clamp, which inril keeps.
    if tuple(distribution.pop("std_range", GAUSSIAN_STD_RANGE)) != GAUSSIAN_STD_RANGE:
        raise ValueError(f"actor distribution std_range is fixed to {GAUSSIAN_STD_RANGE} in IN-RIL")
    updated = replace(
        copy.deepcopy(agent),
        num_steps_per_env=cfg["num_steps_per_env"],
        max_iterations=cfg["max_iterations"],
        save_interval=cfg["save_interval"],
        ppo=PPOConfig(**{f.name: algorithm[f.name] for f in fields(PPOConfig)}),
        actor=MLPConfig(list(cfg["actor"]["hidden_dims"]), cfg["actor"]["activation"]),
        critic=MLPConfig(list(cfg["critic"]["hidden_dims"]), cfg["critic"]["activation"]),
        init_std=distribution["init_std"],
        learn_std=distribution["learn_std"],
        logger=cfg["logger"],
    )
    if runner_dict(updated)["actor"]["distribution_cfg"] != distribution:
        raise ValueError(f"actor distribution must be {runner_dict(updated)['actor']['distribution_cfg']}, got {distribution}")
    return updated
