"""The Isaac Lab branch of `scripts/train_residual.py`, following Isaac Lab 3's rsl-rl train entry point.

    ./isaaclab.sh -p scripts/train_residual.py --task PegInHole-Low --headless [--num_envs N] [--distributed]
        [physics=newton_mjwarp] [env.scene.num_envs=...] [agent.algorithm.learning_rate=...]

`main(args, overrides, train)` takes the train script's parsed arguments, parses Isaac Lab's launcher
arguments from the rest, resolves the env and agent configs of the registered
task with the Hydra overrides and presets left on the command line, starts the simulation runtime (Isaac Sim
Kit for PhysX, nothing extra for kit-less Newton), builds the env (`gym.make` -> `RslRlVecEnvWrapper`) and
hands it to `train(env, runner_cfg, log_dir, seed)`: the backend-independent part of the train script
(base policy, `ResidualVecEnv`, `InrilRunner`; use `inril_isaac.agent_values.apply_runner_dict` to fold
`runner_cfg` into an `AgentConfig`). With `--distributed` (under torchrun) each rank simulates on
`cuda:<LOCAL_RANK>` with seed + rank.

Isaac Lab 3 differences from 2.3 followed here: `isaaclab.app.launch_simulation` replaces constructing
`AppLauncher` by hand, `isaaclab_tasks.utils.resolve_task_config` replaces the `hydra_task_config`
decorator, and `physics=` / `presets=` selectors ride along with the Hydra overrides.

Not run: Isaac Lab cannot be installed where this was written; the calls follow Isaac Lab 3's sources.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rsl_rl.env import VecEnv

TrainFn = Callable[["VecEnv", dict, str, int], None]
AGENT_ENTRY_POINT = "rsl_rl_cfg_entry_point"


def launcher_args(args: argparse.Namespace, overrides: list[str]) -> argparse.Namespace:
    """Isaac Lab's launcher arguments (`--viz`, `--enable_cameras`, `--kit_args`, ...) parsed from the
    arguments the train script left unparsed, with its `--headless` and `--device`. What remains (Hydra
    overrides `env.*` / `agent.*`, `physics=` / `presets=` selectors) goes to sys.argv, where
    `resolve_task_config` reads it."""
    from isaaclab.app import add_launcher_args
    from isaaclab_tasks.utils import setup_preset_cli

    parser = argparse.ArgumentParser(description="Isaac Lab launcher arguments", add_help=False)
    add_launcher_args(parser)
    launcher, hydra_args = setup_preset_cli(parser, overrides)
    launcher.headless = args.headless
    if args.device is not None:
        launcher.device = args.device
    sys.argv = [sys.argv[0], *hydra_args]
    return launcher


def main(args: argparse.Namespace, overrides: list[str], train: TrainFn) -> int:
    """`args`: the train script's parsed `--task --num_envs --seed --max_iterations --device --headless
    --distributed --log_root --run_name`; `overrides`: everything it did not parse."""
    launcher = launcher_args(args, overrides)

    import gymnasium as gym
    from isaaclab.app import launch_simulation
    from isaaclab.utils.io import dump_yaml
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper, handle_deprecated_rsl_rl_cfg
    from isaaclab_rl.rsl_rl.utils import check_rsl_rl_version
    from isaaclab_tasks.utils import resolve_task_config

    import inril_isaac.tasks  # noqa: F401  registers the task ids

    env_cfg, agent_cfg = resolve_task_config(args.task, AGENT_ENTRY_POINT)
    rank = int(os.environ.get("RANK", "0"))
    if args.distributed:
        env_cfg.sim.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    elif args.device is not None:
        env_cfg.sim.device = args.device
    if args.num_envs is not None:
        env_cfg.scene.num_envs = args.num_envs
    if args.max_iterations is not None:
        agent_cfg.max_iterations = args.max_iterations
    seed = (agent_cfg.seed if args.seed is None else args.seed) + rank
    env_cfg.seed = agent_cfg.seed = seed
    agent_cfg.device = env_cfg.sim.device
    agent_cfg.run_name = args.run_name or agent_cfg.run_name
    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())

    run = datetime.now().strftime("%Y-%m-%d_%H-%M-%S") + (f"_{agent_cfg.run_name}" if agent_cfg.run_name else "")
    log_dir = (Path(args.log_root) / "rsl_rl" / agent_cfg.experiment_name / run).resolve()
    with launch_simulation(env_cfg, launcher):
        env = gym.make(args.task, cfg=env_cfg)
        if rank == 0:
            dump_yaml(str(log_dir / "params" / "env.yaml"), env_cfg)
            dump_yaml(str(log_dir / "params" / "agent.yaml"), agent_cfg)
        vec_env = RslRlVecEnvWrapper(env, clip_actions=agent_cfg.clip_actions)
        try:
            train(vec_env, agent_cfg.to_dict(), str(log_dir), seed)
        finally:
            vec_env.close()
    return 0
