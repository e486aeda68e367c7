"""The gymnasium registrations of the extension: one per task in inril's registry, computed without
importing gymnasium or Isaac Lab (`inril_isaac.tasks` passes them to `gymnasium.register`).

Task ids are inril's task names (`PegInHole-Low`, ...). Each id's env config is the class
`<Family><Level>EnvCfg` of `inril_isaac.tasks.assembly.env_cfg`; all ids share the env class and the
rsl-rl-lib runner config.
"""

from __future__ import annotations

from inril.tasks import get_task, list_tasks

ENV_ENTRY_POINT = "inril_isaac.tasks.assembly.env:AssemblyRLEnv"
ENV_CFG_MODULE = "inril_isaac.tasks.assembly.env_cfg"
RSL_RL_CFG_ENTRY_POINT = "inril_isaac.tasks.assembly.agents.rsl_rl_cfg:ResidualPPORunnerCfg"


def env_cfg_class_name(task: str) -> str:
    spec = get_task(task)
    return f"{spec.family}{spec.randomness.name}EnvCfg"


def task_registrations() -> list[dict]:
    """Keyword arguments of `gymnasium.register` for every registered task."""
    return [
        {
            "id": task,
            "entry_point": ENV_ENTRY_POINT,
            "disable_env_checker": True,
            "kwargs": {
                "env_cfg_entry_point": f"{ENV_CFG_MODULE}:{env_cfg_class_name(task)}",
                "rsl_rl_cfg_entry_point": RSL_RL_CFG_ENTRY_POINT,
            },
        }
        for task in list_tasks()
    ]
