"""rsl-rl-lib 5 runner config of the assembly tasks, written as Isaac Lab's own agent configs are: the numbers literally.

They are the embedded backend's defaults, inril's `AgentConfig()` (`inril.algos.network_separation.runner`, see
there where each comes from) as `inril_isaac.agent_values.runner_dict()` lays them out; fields left out are at
Isaac Lab's `RslRlOnPolicyRunnerCfg` defaults, which equal that dict too. tests/test_isaac_agent.py reads these
literals and checks them against `AgentConfig()`; tests_isaaclab checks the whole `to_dict()` on Isaac Lab. The actor
is the zero-initialised residual `inril.residual.actor:ResidualActor` and the algorithm
`inril.algos.network_separation.ppo:InrilPPO`, both networks reading the `policy` and `base_action` groups.
"""

from __future__ import annotations

from isaaclab.utils import configclass
from isaaclab_rl.rsl_rl import RslRlMLPModelCfg, RslRlOnPolicyRunnerCfg, RslRlPpoAlgorithmCfg


@configclass
class ResidualGaussianCfg(RslRlMLPModelCfg.GaussianDistributionCfg):
    """rsl-rl-lib 5's Gaussian head; adds `learn_std`, which Isaac Lab's config does not expose."""

    learn_std: bool = False


@configclass
class InrilPpoAlgorithmCfg(RslRlPpoAlgorithmCfg):
    """Isaac Lab's PPO config plus the separate critic learning rate of inril's `InrilPPO` (None: the actor's)."""

    critic_learning_rate: float | None = None


@configclass
class ResidualPPORunnerCfg(RslRlOnPolicyRunnerCfg):
    num_steps_per_env = 50
    max_iterations = 100
    save_interval = 10
    experiment_name = "inril_residual"
    neptune_project = "inril"
    wandb_project = "inril"
    clip_actions = None  # the residual wrapper clips the executed action itself
    obs_groups = {"actor": ["policy", "base_action"], "critic": ["policy", "base_action"]}
    actor = RslRlMLPModelCfg(
        class_name="inril.residual.actor:ResidualActor",
        hidden_dims=[256, 256],
        activation="relu",
        obs_normalization=False,  # inputs are already min-max normalized by the base's normalizer
        distribution_cfg=ResidualGaussianCfg(
            init_std=0.36787944117144233,  # exp(-1): ResiP's init_logstd -1
            std_type="log",
            learn_std=False,
        ),
    )
    critic = RslRlMLPModelCfg(
        class_name="MLPModel",
        hidden_dims=[256, 256],
        activation="relu",
        obs_normalization=False,
    )
    algorithm = InrilPpoAlgorithmCfg(
        class_name="inril.algos.network_separation.ppo:InrilPPO",
        num_learning_epochs=5,
        num_mini_batches=4,
        clip_param=0.2,
        gamma=0.99,
        lam=0.95,
        value_loss_coef=1.0,
        entropy_coef=0.0,
        learning_rate=3.0e-4,
        max_grad_norm=1.0,
        schedule="adaptive",
        desired_kl=0.01,
        critic_learning_rate=None,
        use_clipped_value_loss=True,
    )
