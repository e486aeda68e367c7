"""The backend-independent part of scripts/train_residual.py's Isaac Lab branch (exts/inril_isaac/inril_isaac/train.py
runs Isaac Lab itself): the job, the base and the runner over Isaac Lab's wrapped env."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from inril.apps.residual import runner_on
from inril.pipeline.compose import JobFlags, check_base_checkpoint, compose_job
from inril.pipeline.stages import prepare_base


def isaaclab_train_fn(args: argparse.Namespace, overrides: list[str]) -> Callable[..., None]:
    """Given Isaac Lab's wrapped env and its rsl-rl agent dict, the returned `train(env, runner_cfg, log_dir,
    seed)` builds the base, the residual env and the runner, and trains. Raises ValueError (ConfigError,
    CheckpointError) for a bad task, override or base checkpoint before Isaac Lab starts."""
    from inril_isaac.agent_values import apply_runner_dict

    job = compose_job(JobFlags.from_args(args), overrides)
    loaded = check_base_checkpoint(job)

    def train(env, runner_cfg: dict, log_dir: str, seed: int) -> None:
        """Stages 1 to 3 on Isaac Lab's env: base (and demos), residual runner with `runner_cfg` applied, training."""
        agent = apply_runner_dict(job.agent, runner_cfg)
        base, demos = prepare_base(job, loaded, str(env.device))
        runner = runner_on(env, job, agent, base.policy, demos, log_dir, str(env.device), seed,
                           obs_layout=base.obs_layout)
        runner.learn(agent.max_iterations)

    return train
