"""A trained policy as a deployment runs it, rebuilt from one checkpoint file.

Two checkpoint kinds are accepted: a residual-PPO runner checkpoint (`model_<it>.pt`: the base
policy, the residual actor and how they were run, see `InrilRunner.save`) and a BC policy
checkpoint (`policy.pt` of pretrain_bc.py: the base alone). Export and play both start here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from rsl_rl.utils import resolve_callable
from tensordict import TensorDict
from torch import nn

from inril.algos.common.checkpoints import deployed_base_state, read_checkpoint
from inril.data.groups import ACTOR_OBS_GROUPS, BASE_ACTION_GROUP, POLICY_GROUP
from inril.data.layout import Layout, LayoutError, as_layout, column_index
from inril.policies import make_policy, make_policy_config
from inril.policies.base import Policy
from inril.policies.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    CheckpointUnreadable,
    load_policy,
    load_torch_file,
    require,
)
from inril.policies.normalizer import MinMaxNormalizer
from inril.residual.env import ResidualConfig
from inril.tasks.registry import get_task, list_tasks

# The residual actor's observation groups, in the order its MLP reads them (AgentConfig.to_rsl_rl).


@dataclass
class Deployable:
    """What an export or a deployment needs from a checkpoint (runner or BC): the base policy, the residual
    actor and its composition (None: the base alone), the task, the source file and iteration, and the
    observation layout the policy reads."""
    base: Policy  # eval mode, on CPU
    actor: nn.Module | None  # the rsl-rl residual actor (its deterministic output is the mean); None: base alone
    residual: ResidualConfig | None  # scale and how the base is sampled under the residual
    task: str | None
    source: Path
    iteration: int | None  # last completed PPO iteration of a runner checkpoint
    obs_layout: Layout  # what the policy reads: (term, size) in concatenation order

    @property
    def num_inference_steps(self) -> int | None:
        """DDIM steps the policy runs with (the residual was trained on top of the base at this count)."""
        if self.residual is not None:
            return self.residual.num_inference_steps
        return getattr(self.base.cfg, "num_inference_steps", None)

    @property
    def warm_start(self) -> bool:
        """Whether chunks are warm-started: the residual's setting, for a base that supports it."""
        return self.residual is not None and self.residual.warm_start and self.base.supports_warm_start

    def check_task(self, task: str) -> list[int] | None:
        """Columns of `task`'s observation that form this policy's input (None: the same layout), compared by
        term name and size. Raises CheckpointError unless the policy was trained for `task` and every term it
        reads is in the task's observation with the same size."""
        if self.task is not None and self.task != task:
            raise CheckpointError(f"{self.source} was trained on {self.task}, not {task}")
        obs_dim = get_task(task).obs_dim
        if self.base.cfg.obs_dim != obs_dim:
            raise CheckpointError(f"{self.source} expects {self.base.cfg.obs_dim}-D observations but {task} has "
                                  f"{obs_dim}")
        try:
            return column_index(get_task(task).observation_layout, self.obs_layout, f"task {task}", str(self.source))
        except LayoutError as exc:
            raise CheckpointError(str(exc)) from None


def _peek_format(path: Path) -> str | None:
    try:  # mmap: only the pickled dict is read, not the tensors
        payload = load_torch_file(path, "cpu", mmap=True)
    except CheckpointUnreadable:
        raise
    except CheckpointError:  # read_checkpoint reports it
        return None
    return payload.get("format") if isinstance(payload, dict) else None


_DEPLOY_KEYS = ("task", "policy_name", "policy_cfg", "residual", "actor", "actor_obs_groups")


def _residual_actor(deploy: dict, state: dict, obs_dim: int, action_dim: int) -> nn.Module:
    groups = list(deploy["actor_obs_groups"])
    if groups != list(ACTOR_OBS_GROUPS):
        raise CheckpointError(f"the residual actor reads observation groups {groups}; "
                              f"export supports {list(ACTOR_OBS_GROUPS)}")
    cfg = dict(deploy["actor"])
    actor_class = resolve_callable(cfg.pop("class_name"))
    obs = TensorDict({POLICY_GROUP: torch.zeros(1, obs_dim), BASE_ACTION_GROUP: torch.zeros(1, action_dim)}, batch_size=[1])
    actor = actor_class(obs, {"actor": groups}, "actor", action_dim, **cfg)
    actor.load_state_dict(state)
    return actor.eval()


def load_deployable(path: str | Path) -> Deployable:
    """Rebuild the deployed policy from a runner or BC checkpoint on CPU. Raises CheckpointError."""
    path = Path(path)
    if _peek_format(path) == CHECKPOINT_FORMAT:
        loaded = load_policy(path)
        return Deployable(loaded.policy, None, None, loaded.task, path, None, loaded.obs_layout)
    checkpoint = read_checkpoint(path, map_location="cpu")
    deploy = checkpoint["deploy"]
    require(deploy, _DEPLOY_KEYS, f"checkpoint {path}: 'deploy'")
    if "base_state_dict" not in checkpoint:  # the base IN-RIL updated by BC (see deployed_base_state)
        require(checkpoint, ["base_updater_state_dict"], f"checkpoint {path}")
        require(checkpoint["base_updater_state_dict"], ["acting"], f"checkpoint {path}: 'base_updater_state_dict'")
    try:
        cfg = make_policy_config(deploy["policy_name"], **deploy["policy_cfg"])
        base = make_policy(deploy["policy_name"], cfg, MinMaxNormalizer.empty(cfg.obs_dim),
                           MinMaxNormalizer.empty(cfg.action_dim))
        base.load_state_dict(deployed_base_state(checkpoint))
        actor = _residual_actor(deploy, checkpoint["actor_state_dict"], cfg.obs_dim, cfg.action_dim)
        # Runner checkpoints written before deterministic sampling drew no random numbers also hold its dead seed.
        residual = ResidualConfig(**{k: v for k, v in deploy["residual"].items() if k != "seed"})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not rebuild a policy: {exc}") from None
    # Runs from before layouts were recorded fed the base and the residual the task's own layout.
    task_layout = get_task(deploy["task"]).observation_layout if deploy["task"] in list_tasks() else None
    layout = deploy.get("obs_layout", task_layout)
    if layout is None:
        raise CheckpointError(f"checkpoint {path}: 'deploy' has no 'obs_layout' (needed to load it)")
    return Deployable(base.eval(), actor, residual, deploy["task"], path, checkpoint["iter"], as_layout(layout))
