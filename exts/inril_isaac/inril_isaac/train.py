"""The Isaac Lab branch of `scripts/train_residual.py`, following Isaac Lab 3's rsl-rl train entry point.

    ./inril.sh isaaclab -p scripts/train_residual.py --task PegInHole-Low --headless [--num_envs N] [--distributed]
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

Defaults and checks before the simulation starts: env and agent on cpu without CUDA, kit-less Newton without
Isaac Sim (one notice line), and one `error:` line for a bad task, device, physics preset, asset path or runner
config field. Run on isaaclab 3.0.0 with Newton on the CPU (tests_isaaclab/); the PhysX path is not run here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from inril.tasks import get_task, list_tasks
from inril.tasks.usd import part_asset_path, robot_asset_path
from inril.utils.cli import fail
from inril.utils.io import reserve_dir
from inril_isaac.layout import ASSET_ROOT_ENV, NUM_ENVS, asset_root

if TYPE_CHECKING:
    from rsl_rl.env import VecEnv

TrainFn = Callable[["VecEnv", dict, str, int], None]
AGENT_ENTRY_POINT = "rsl_rl_cfg_entry_point"
# The physics presets of the tasks (env_cfg.AssemblyPhysicsCfg); PhysX needs Isaac Sim (Kit).
PHYSICS_PRESETS = ("physx", "newton_mjwarp")
KITLESS_PHYSICS = "newton_mjwarp"
CPU_NUM_ENVS = 4  # Newton on the CPU steps a few envs per second (2 cores); thousands are for GPUs


def isaac_sim_available() -> bool:
    return importlib.util.find_spec("isaacsim") is not None


def select_physics(overrides: list[str], have_isaac_sim: bool) -> list[str]:
    """The overrides with a `physics=` preset that can run here: the one asked for (checked), else PhysX where
    Isaac Sim is installed, else kit-less Newton with a one-line notice. Raises ValueError for an unknown
    preset, or PhysX without Isaac Sim."""
    chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("physics=")]
    if len(chosen) > 1:
        raise ValueError(f"physics= given {len(chosen)} times")
    if chosen:
        if chosen[0] not in PHYSICS_PRESETS:
            raise ValueError(f"unknown physics preset {chosen[0]!r}; the tasks have {', '.join(PHYSICS_PRESETS)}")
        if chosen[0] == "physx" and not have_isaac_sim:
            raise ValueError(f"physics=physx needs Isaac Sim, which is not installed; use physics={KITLESS_PHYSICS}")
        return overrides
    if have_isaac_sim:
        return overrides
    print(f"[inril] Isaac Sim is not installed: physics falls back to {KITLESS_PHYSICS} (kit-less Newton)")
    return [*overrides, f"physics={KITLESS_PHYSICS}"]


def resolve_device(requested: str | None, cuda_count: int) -> str:
    """`--device`, or cuda:0 where CUDA is available and cpu otherwise. Raises ValueError for a malformed
    device or a CUDA device that is not there."""
    if requested is None:
        return "cuda:0" if cuda_count else "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", requested)
    if requested != "cpu" and match is None:
        raise ValueError(f"--device must be cpu, cuda or cuda:<index>, got {requested!r}")
    if match is not None:
        index = int(match.group(1) or 0)
        if index >= cuda_count:
            raise ValueError(f"--device {requested}: {cuda_count} CUDA device(s) available")
        return f"cuda:{index}"
    return "cpu"


def check_task_assets(task: str, root: Path) -> None:
    """Raises ValueError for an unknown task or a missing generated asset (the Franka and the task's parts)."""
    if task not in list_tasks():
        raise ValueError(f"unknown task {task!r}; registered: {', '.join(list_tasks())}")
    spec = get_task(task)
    for path in (robot_asset_path(root), *(part_asset_path(root, spec.family, p.name) for p in spec.parts)):
        if not path.is_file():
            raise ValueError(f"asset {path} not found ({ASSET_ROOT_ENV}={os.environ.get(ASSET_ROOT_ENV, 'unset')}); "
                             "run scripts/generate_assets.py or point it at the generated assets")


def check_usd_path(usd_path: str) -> None:
    """A local robot USD (e.g. from `env.scene.robot.spawn.usd_path=...`) must exist; remote URLs are Isaac Lab's."""
    if "://" not in usd_path and not Path(usd_path).is_file():
        raise ValueError(f"robot USD {usd_path} not found")


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
    --distributed --log_root --run_name`; `overrides`: everything it did not parse. A bad task, device,
    physics preset or asset path returns 2 after one `error:` line."""
    import torch

    try:
        check_task_assets(args.task, asset_root())
        if not args.distributed:
            args.device = resolve_device(args.device, torch.cuda.device_count())
        overrides = select_physics(overrides, isaac_sim_available())
    except ValueError as exc:
        return fail(str(exc))
    launcher = launcher_args(args, overrides)

    import gymnasium as gym
    from isaaclab.app import launch_simulation
    from isaaclab.utils.io import dump_yaml
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper, handle_deprecated_rsl_rl_cfg
    from isaaclab_rl.rsl_rl.utils import check_rsl_rl_version
    from isaaclab_tasks.utils import resolve_task_config

    import inril_isaac.tasks  # noqa: F401  registers the task ids
    from inril.algos.network_separation.config import AgentConfig
    from inril_isaac.agent_values import apply_runner_dict

    env_cfg, agent_cfg = resolve_task_config(args.task, AGENT_ENTRY_POINT)
    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())
    try:
        check_usd_path(env_cfg.scene.robot.spawn.usd_path)
        apply_runner_dict(AgentConfig(), agent_cfg.to_dict())
    except ValueError as exc:
        return fail(str(exc))
    rank = int(os.environ.get("RANK", "0"))
    if args.distributed:
        env_cfg.sim.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    elif args.device is not None:
        env_cfg.sim.device = args.device
    if args.num_envs is not None:
        env_cfg.scene.num_envs = args.num_envs
    elif env_cfg.sim.device == "cpu" and not any(o.startswith("env.scene.num_envs=") for o in overrides):
        env_cfg.scene.num_envs = CPU_NUM_ENVS
        print(f"[inril] on cpu without --num_envs: {CPU_NUM_ENVS} envs (the tasks' {NUM_ENVS} are sized for GPUs)")
    if args.max_iterations is not None:
        agent_cfg.max_iterations = args.max_iterations
    seed = (agent_cfg.seed if args.seed is None else args.seed) + rank
    env_cfg.seed = agent_cfg.seed = seed
    agent_cfg.device = env_cfg.sim.device
    agent_cfg.run_name = args.run_name or agent_cfg.run_name

    run = datetime.now().strftime("%Y-%m-%d_%H-%M-%S") + (f"_{agent_cfg.run_name}" if agent_cfg.run_name else "")
    experiment_dir = Path(args.log_root) / "rsl_rl" / agent_cfg.experiment_name
    # Rank 0 reserves the run directory (runs started in the same second get a suffix); rsl-rl logs on rank 0 only.
    log_dir = (reserve_dir(experiment_dir, run) if rank == 0 else experiment_dir / run).resolve()
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
