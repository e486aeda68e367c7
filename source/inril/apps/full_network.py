"""Full-network PPO with IN-RIL's gradient surgery as a program (scripts/train_full_network.py): the cached
demos and base of the main job's pipeline, then DPPO (diffusion base) or Gaussian PPO on the whole network,
with IL updates combined into RL updates by gradient surgery (inril.algos.gradient_surgery)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from inril.algos.gradient_surgery.actors import ChunkActor, make_full_network_actor
from inril.algos.gradient_surgery.config import FullNetworkILConfig, FullNetworkPPOConfig
from inril.algos.gradient_surgery.dppo import DPPOActor, DPPOConfig
from inril.algos.gradient_surgery.full_network_ppo import FullNetworkPPO
from inril.algos.gradient_surgery.gaussian_actor import GaussianPPOConfig
from inril.data.demos import DemoSet
from inril.data.layout import Layout
from inril.eval import EvalResult, evaluate_policy
from inril.pipeline.compose import JobFlags, compose_job, task_layout
from inril.pipeline.config import TrainJob
from inril.pipeline.envs import evaluation_env, for_base, train_env
from inril.pipeline.stages import split_demos
from inril.policies.checkpoint import LoadedPolicy
from inril.tasks.registry import get_task
from inril.utils.config import ConfigError, apply_overrides


@dataclass
class FullNetworkJob:
    """The full-network part of a run: `full_network.*` (PPO, IL and surgery), `dppo.*`, `gaussian.*` overrides."""

    full_network: FullNetworkPPOConfig = field(default_factory=FullNetworkPPOConfig)
    dppo: DPPOConfig = field(default_factory=DPPOConfig)
    gaussian: GaussianPPOConfig = field(default_factory=GaussianPPOConfig)


OVERRIDE_PREFIXES = tuple(f"{f.name}." for f in fields(FullNetworkJob))


def full_network_defaults(job: TrainJob) -> FullNetworkPPOConfig:
    """Full-network PPO matching the job's residual PPO: the same env steps per iteration, PPO epochs,
    minibatches and discount (converted to decisions of action_horizon steps), interleave schedule,
    IL batch and checkpoint and evaluation intervals, so that the two separation modes differ only in what
    they update. Raises ConfigError when the env steps per iteration are not whole chunks."""
    agent, horizon = job.agent, job.base.policy.action_horizon
    if agent.num_steps_per_env % horizon:
        raise ConfigError(f"agent.num_steps_per_env ({agent.num_steps_per_env}) must be a multiple of the base's "
                          f"action_horizon ({horizon}): full-network PPO decides once per chunk")
    il = FullNetworkILConfig(batch_size=agent.il.batch_size, interleave=copy.deepcopy(agent.interleave))
    return FullNetworkPPOConfig(decisions_per_env=agent.num_steps_per_env // horizon,
                                num_learning_epochs=agent.ppo.num_learning_epochs,
                                num_mini_batches=agent.ppo.num_mini_batches, gamma=agent.ppo.gamma ** horizon,
                                lam=agent.ppo.lam ** horizon, eval_interval=agent.eval_interval,
                                save_interval=agent.save_interval, il=il)


def build_full_network_ppo(job: TrainJob, actor: ChunkActor, cfg: FullNetworkPPOConfig, demos: DemoSet | None,
                           log_dir: str | None, device: str, obs_layout: Layout | None = None) -> FullNetworkPPO:
    """Full-network PPO (DPPO or Gaussian, with IN-RIL's surgery) on the embedded backend, evaluated
    like residual runs: the deterministic policy on the same held-out env seeds. `obs_layout`: the
    base's observation layout (default: the task's); envs are reordered into it and `demos` are in it."""
    num_pairs = len(get_task(job.env.task).pairs)
    obs_layout = obs_layout or task_layout(job)

    def evaluate(trainer: FullNetworkPPO, video: Path | None = None, num_episodes: int | None = None) -> EvalResult:
        """The trainer's periodic and final evaluation: the fine-tuned policy's deterministic sampler in fresh
        evaluation envs (`num_episodes`, default agent.eval_episodes; `video`: an MP4 of the first envs' first
        episode)."""
        with evaluation_env(job, device, obs_layout, video) as env:
            return evaluate_policy(trainer.actor.policy, env, num_episodes or job.agent.eval_episodes, num_pairs)

    train_demos, val_demos = split_demos(job, actor.policy, demos, device)
    return FullNetworkPPO(for_base(train_env(job, device), job, obs_layout), actor, cfg, train_demos, val_demos,
                          log_dir, device, job.env.seed, evaluate, task=job.env.task, obs_layout=obs_layout)


class FullNetworkMode:
    """Gradient surgery: RL and IL updates on the same network, separated by surgery."""

    kind = "full_network"
    run_suffix = "full_network"
    distributed = False

    def compose(self, flags: JobFlags, overrides: list[str]) -> tuple[TrainJob, FullNetworkJob]:
        own = [o for o in overrides if o.startswith(OVERRIDE_PREFIXES)]
        job = compose_job(flags, [o for o in overrides if o not in own])
        full = FullNetworkJob(full_network_defaults(job))
        return job, apply_overrides(full, own, name="inril_full_network")

    def job_dict(self, job: TrainJob, extra: FullNetworkJob) -> dict:
        return {**asdict(job), **asdict(extra)}

    def needs_demos(self, job: TrainJob, extra: FullNetworkJob) -> bool:
        return extra.full_network.il.enabled

    def build(self, job: TrainJob, extra: FullNetworkJob, base: LoadedPolicy, demos: DemoSet | None, run_dir: Path,
              device: str, rank: int) -> FullNetworkPPO:
        actor = make_full_network_actor(base.policy, extra)
        return build_full_network_ppo(job, actor, extra.full_network, demos, str(run_dir), device, base.obs_layout)

    def summary(self, job: TrainJob, extra: FullNetworkJob) -> dict:
        il = extra.full_network.il
        return {"il": {"enabled": il.enabled, "surgery": il.surgery, "m": il.interleave.m}}

    def describe(self, job: TrainJob, extra: FullNetworkJob, trainer: FullNetworkPPO) -> tuple[str, str]:
        il = extra.full_network.il
        algorithm = "DPPO" if isinstance(trainer.actor, DPPOActor) else "Gaussian PPO"
        detail = f"IL every {il.interleave.m} RL updates, surgery {il.surgery}" if il.enabled else "RL only"
        return f"full-network {algorithm}", detail


FULL_NETWORK = FullNetworkMode()
