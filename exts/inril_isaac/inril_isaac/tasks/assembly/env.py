"""The manager-based RL env of the assembly tasks: Isaac Lab's, plus the episode's assembly progress.

The progress (inril's `AssemblyProgress`, the embedded backend's bookkeeping: which stages each pair reached
this episode) is updated once per control step by whichever of the reward and the success termination asks
first, and cleared at reset; on reset each finished episode's success and stage completions go to
`extras["log"]` ("/success", "/stage_<name>"), the keys the embedded backend logs.
"""

from __future__ import annotations

from collections.abc import Sequence

from isaaclab.envs import ManagerBasedRLEnv

from inril.tasks import get_task
from inril.tasks.assembly import AssemblyProgress
from inril_isaac.tasks.assembly import mdp
from inril_isaac.tasks.assembly.env_cfg import AssemblyEnvCfg


class AssemblyRLEnv(ManagerBasedRLEnv):
    cfg: AssemblyEnvCfg

    def __init__(self, cfg: AssemblyEnvCfg, render_mode: str | None = None, **kwargs) -> None:
        spec = get_task(cfg.task_name)
        self.part_names = [part.name for part in spec.parts]
        # Built before the managers, which may reset the env while they start.
        shaping = cfg.rewards.shaping.weight != 0.0  # the keypoint shaping costs nothing when its term is off
        self.progress = AssemblyProgress(spec, cfg.scene.num_envs, cfg.sim.device, shaping=shaping)
        super().__init__(cfg, render_mode, **kwargs)

    def assembly_progress(self) -> AssemblyProgress:
        self.progress.update(*mdp.part_poses_in_base(self), step=self.common_step_counter)
        return self.progress

    def _reset_idx(self, env_ids: Sequence[int]) -> None:
        finished = self.progress.episode_log(env_ids)
        super()._reset_idx(env_ids)  # starts a fresh extras["log"]
        self.progress.reset(env_ids)
        self.extras["log"].update(finished)
