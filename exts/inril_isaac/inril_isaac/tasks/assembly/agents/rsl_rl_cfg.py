"""rsl-rl-lib 5 runner config of the assembly tasks as Isaac Lab `@configclass`es.

Every default is read from `inril_isaac.agent_values.runner_dict()` (inril's AgentConfig plus Isaac Lab's
runner keys), so after `isaaclab_rl.rsl_rl.handle_deprecated_rsl_rl_cfg` the config's `to_dict()` is that
dict: the residual actor `inril.residual.actor:ResidualActor`, the algorithm
`inril.algos.network_separation.ppo:InrilPPO`, and both networks reading the `policy` and `base_action` groups.
"""

from __future__ import annotations

from isaaclab.utils import configclass
from isaaclab_rl.rsl_rl import (
    RslRlMLPModelCfg,
    RslRlOnPolicyRunnerCfg,
    RslRlPpoAlgorithmCfg,
)

from inril_isaac.agent_values import runner_dict

_DEFAULTS = runner_dict()
_ACTOR, _CRITIC = _DEFAULTS["actor"], _DEFAULTS["critic"]
_GAUSSIAN = _ACTOR["distribution_cfg"]


@configclass
class ResidualGaussianCfg(RslRlMLPModelCfg.GaussianDistributionCfg):
    """rsl-rl-lib 5's Gaussian head; adds `learn_std`, which Isaac Lab's config does not expose."""

    init_std: float = _GAUSSIAN["init_std"]
    std_type: str = _GAUSSIAN["std_type"]
    learn_std: bool = _GAUSSIAN["learn_std"]


@configclass
class InrilPpoAlgorithmCfg(RslRlPpoAlgorithmCfg):
    """Isaac Lab's PPO config plus the separate critic learning rate of inril's `InrilPPO` (None: the actor's)."""

    critic_learning_rate: float | None = _DEFAULTS["algorithm"]["critic_learning_rate"]


@configclass
class ResidualPPORunnerCfg(RslRlOnPolicyRunnerCfg):
    class_name: str = _DEFAULTS["class_name"]
    seed: int = _DEFAULTS["seed"]
    device: str = _DEFAULTS["device"]
    num_steps_per_env: int = _DEFAULTS["num_steps_per_env"]
    max_iterations: int = _DEFAULTS["max_iterations"]
    save_interval: int = _DEFAULTS["save_interval"]
    experiment_name: str = _DEFAULTS["experiment_name"]
    run_name: str = _DEFAULTS["run_name"]
    clip_actions: float | None = _DEFAULTS["clip_actions"]
    logger: str = _DEFAULTS["logger"]
    neptune_project: str = _DEFAULTS["neptune_project"]
    wandb_project: str = _DEFAULTS["wandb_project"]
    resume: bool = _DEFAULTS["resume"]
    load_run: str = _DEFAULTS["load_run"]
    load_checkpoint: str = _DEFAULTS["load_checkpoint"]
    init_at_random_ep_len: bool = _DEFAULTS["init_at_random_ep_len"]
    check_for_nan: bool = _DEFAULTS["check_for_nan"]
    obs_groups: dict[str, list[str]] = _DEFAULTS["obs_groups"]
    actor: RslRlMLPModelCfg = RslRlMLPModelCfg(
        class_name=_ACTOR["class_name"],
        hidden_dims=list(_ACTOR["hidden_dims"]),
        activation=_ACTOR["activation"],
        obs_normalization=_ACTOR["obs_normalization"],
        distribution_cfg=ResidualGaussianCfg(),
    )
    critic: RslRlMLPModelCfg = RslRlMLPModelCfg(
        class_name=_CRITIC["class_name"],
        hidden_dims=list(_CRITIC["hidden_dims"]),
        activation=_CRITIC["activation"],
        obs_normalization=_CRITIC["obs_normalization"],
        distribution_cfg=_CRITIC["distribution_cfg"],
    )
    algorithm: InrilPpoAlgorithmCfg = InrilPpoAlgorithmCfg(**_DEFAULTS["algorithm"])
