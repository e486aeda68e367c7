"""The embedded branch of scripts/train_residual.py: compose, validate, run the cached pipeline.

Every input is checked before any stage starts (task, preset, overrides, base checkpoint, demo
file, resume directory), so a bad command fails in a second with one line and writes nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

import torch
from rsl_rl.env import VecEnv

from inril.algos.bc import NonFiniteLossError, PretrainJob, build_pretraining, split_samplers
from inril.algos.gradient_surgery.full_network_ppo import ChunkActor, ChunkPPO, ChunkPPOConfig, FullNetworkILConfig
from inril.algos.gradient_surgery.dppo import DPPOActor, DPPOConfig, DPPOPolicy
from inril.algos.gradient_surgery.gaussian_actor import GaussianChunkActor, GaussianPPOConfig
from inril.algos.common.checkpoints import (latest_checkpoint, newest_valid_checkpoint, remove_partial_checkpoints,
                                         set_aside_newer)
from inril.algos.network_separation.runner import AgentConfig, InrilRunner, NonFiniteTrainingError
from inril.data.demos import DemoError, DemoSet, load_demos
from inril.data.layout import LayoutError, column_index
from inril.data.windows import WindowSampler
from inril.residual.env import ResidualVecEnv
from inril.backends.wrappers import in_layout
from inril.eval import EvalResult, compare, evaluate_policy, evaluate_residual
from inril.pipeline import TrainJob, base_dir, demos_path, make_job
from inril.policies import make_policy_config
from inril.policies.base import Policy
from inril.policies.checkpoint import CheckpointError, LoadedPolicy, load_policy
from inril.policies.diffusion import DiffusionPolicy
from inril.policies.gaussian import GaussianPolicy
from inril.tasks.registry import get_task
from inril.utils.cli import fail
from inril.utils.config import ConfigError, apply_overrides, set_fields, to_yaml
from inril.utils.distributed import from_rank0, init_distributed, rank0_first
from inril.utils.io import atomic_write

ACTION_DIM = 10  # absolute end-effector pose: position 3, rotation 6-D, gripper 1


def compose_job(args: argparse.Namespace, overrides: list[str]) -> TrainJob:
    bad = [o for o in overrides if o.startswith("-")]
    if bad:
        raise ConfigError(f"unknown option(s) {bad}; overrides look like env.num_envs=64")
    job = make_job(args.preset, args.task, get_task(args.task).obs_dim, ACTION_DIM, args.base_policy)
    flags = {"env.num_envs": args.num_envs, "env.seed": args.seed, "agent.max_iterations": args.max_iterations,
             "base.checkpoint": args.base_checkpoint, "base.filter_key": args.filter_key,
             "base.val_filter_key": args.val_filter_key, "base.keep_failed_demos": args.keep_failures or None}
    job = apply_overrides(job, overrides, name="inril_train_residual")
    # Flags win over overrides and never go through the override grammar: any path works as --base_checkpoint.
    job = set_fields(job, {key: value for key, value in flags.items() if value is not None})
    if job.env.task != args.task:
        raise ConfigError("set the task with --task, not env.task")
    if not isinstance(job.base.policy, type(make_policy_config(job.base.policy_name, 1, 1))):
        raise ConfigError("set the base policy with --base_policy, not base.policy_name")
    return job


def check_base_checkpoint(job: TrainJob, obs_dim: int) -> LoadedPolicy | None:
    if job.base.checkpoint is None:
        return None
    loaded = load_policy(job.base.checkpoint)
    if loaded.task is not None and loaded.task != job.env.task:
        raise CheckpointError(f"base checkpoint {job.base.checkpoint} was trained on {loaded.task}, not {job.env.task}")
    cfg = loaded.policy.cfg
    if (cfg.obs_dim, cfg.action_dim) != (obs_dim, ACTION_DIM):
        raise CheckpointError(f"base checkpoint {job.base.checkpoint} expects obs {cfg.obs_dim} / action "
                              f"{cfg.action_dim} dims; {job.env.task} has {obs_dim} / {ACTION_DIM}")
    try:  # the same terms in another order are fine: the envs are reordered into the base's layout
        column_index(task_layout(job), loaded.obs_layout, f"task {job.env.task}",
                     f"base checkpoint {job.base.checkpoint}")
    except LayoutError as exc:
        raise CheckpointError(str(exc)) from None
    return loaded


def task_layout(job: TrainJob) -> list[tuple[str, int]]:
    return list(get_task(job.env.task).observation_layout)


def base_reads(job: TrainJob, loaded: LoadedPolicy | None) -> tuple[list[tuple[str, int]], str]:
    """The observation layout the base reads, and how to name it: the base checkpoint's, or the task's for a
    base pre-trained here (its demos are put in the task's layout first)."""
    if loaded is None:
        return task_layout(job), f"task {job.env.task}"
    return loaded.obs_layout, f"base checkpoint {job.base.checkpoint}"


def check_demos(path: Path, job: TrainJob, layout: list[tuple[str, int]], reader: str) -> DemoSet:
    """The demos at `path` with their observation terms in `layout` (what `reader`, the base, reads),
    reordered by name. Raises DemoError naming both layouts when a term is missing or differs in size."""
    demos = load_demos(path, only_success=not job.base.keep_failed_demos, filter_key=job.base.filter_key,
                       val_filter_key=job.base.val_filter_key).in_layout(layout, reader)
    if demos.action_dim != ACTION_DIM:
        raise DemoError(f"{path}: demos have {demos.action_dim}-D actions but {job.env.task} has {ACTION_DIM}")
    return demos


def check_log_root(log_root: Path) -> None:
    """Fail before any stage (demos and pre-training can take long) if runs cannot be written under log_root."""
    anchor = next(p for p in (log_root.absolute(), *log_root.absolute().parents) if p.exists())
    if not anchor.is_dir() or not os.access(anchor, os.W_OK):
        raise ValueError(f"cannot write runs under {log_root}: {anchor} is not a writable directory")


def find_resume_dir(args: argparse.Namespace) -> Path | None:
    if args.resume is None:
        return None
    if args.resume != "latest":
        run = Path(args.resume)
        if latest_checkpoint(str(run)) is None:
            raise ValueError(f"cannot resume: {run} holds no model_<it>.pt checkpoint")
        return run
    task_dir = Path(args.log_root) / "inril" / args.task
    runs = sorted(p for p in task_dir.glob("*") if latest_checkpoint(str(p)) is not None) if task_dir.is_dir() else []
    if not runs:
        raise ValueError(f"cannot resume: no run with a checkpoint under {task_dir}")
    return runs[-1]


def check_resume_matches(run: Path, job: TrainJob) -> None:
    try:
        saved = json.loads((run / "job.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot resume {run}: its job.json is missing or unreadable ({exc})") from None
    current = json.loads(json.dumps(asdict(job)))
    saved["agent"]["max_iterations"] = current["agent"]["max_iterations"]  # a resume may extend the run
    # and may move the IL updates on or off the side stream (the same updates; runs older than the switch lack it)
    saved["agent"]["il_side_stream"] = current["agent"]["il_side_stream"]
    saved_flat, current_flat = _flatten(saved), _flatten(current)
    # Options added after the run was made are absent from its job.json: they must be at their defaults.
    defaults = _flatten(json.loads(json.dumps(asdict(TrainJob()))))
    diff = sorted(k for k in {*saved_flat, *current_flat}
                  if saved_flat.get(k, defaults.get(k)) != current_flat.get(k))
    if diff:
        raise ConfigError(f"cannot resume {run}: the config differs from the run's in {diff}")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def ensure_demos(job: TrainJob, layout: list[tuple[str, int]], reader: str) -> DemoSet:
    """The demos for pre-training and IL updates, in `layout` (what `reader` reads): a given file, or cached
    scripted demos."""
    if job.base.demos is not None:
        return check_demos(Path(job.base.demos), job, layout, reader)
    path = demos_path(job)
    if not path.exists():
        from inril.backends.mujoco.collect import collect_demos

        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"[inril] stage 1/3: collecting {job.base.num_demos} scripted demos of {job.env.task} -> {path}")
        collect_demos(job.env.task, job.base.num_demos, job.base.demo_seed, path)
    else:
        print(f"[inril] stage 1/3: cached demos {path}")
    return check_demos(path, job, layout, reader)


def ensure_base(job: TrainJob, demos: DemoSet, device: str) -> LoadedPolicy:
    """The base policy: the given checkpoint, or a cached BC pre-training on the demos."""
    out = base_dir(job, Path(demos.path))
    checkpoint = out / "policy.pt"
    if not checkpoint.exists():
        print(f"[inril] stage 2/3: pre-training the {job.base.policy_name} base for {job.base.pretrain.steps} steps -> {out}")
        run = build_pretraining(PretrainJob(job.base.policy, job.base.pretrain), job.base.policy_name, demos,
                                device=device)
        result = run.fit(out)  # the cache entry appears only once complete
        val = "none held out" if result.val_loss is None else f"{result.val_loss:.4f}"
        print(f"[inril] base BC loss: train {result.train_loss:.4f}, val {val}")
    else:
        print(f"[inril] stage 2/3: cached base {checkpoint}")
    return load_policy(checkpoint, map_location=device)


def prepare_base(job: TrainJob, loaded: LoadedPolicy | None, device: str) -> tuple[LoadedPolicy, DemoSet | None]:
    """Stages 1 and 2: the demos (when IL updates or pre-training need them), in the base's observation layout
    (the task's for a base pre-trained here), and the base policy."""
    demos = ensure_demos(job, *base_reads(job, loaded)) if loaded is None or job.agent.base == "bc" else None
    if loaded is None:
        loaded = ensure_base(job, demos, device)
    loaded.policy.to(device).eval()
    return loaded, demos


def split_demos(job: TrainJob, policy: Policy, demos: DemoSet | None,
                device: str) -> tuple[WindowSampler | None, WindowSampler | None]:
    """Train and held-out windows on the policy's horizons, split by episode with the job's seed, so
    that every rank of a multi-process run, and every separation mode, holds out the same demos."""
    if demos is None:
        return None, None
    return split_samplers(demos, policy.cfg.obs_horizon, policy.cfg.pred_horizon, job.base.val_fraction,
                          job.env.seed, device)


def eval_env(job: TrainJob, device: str) -> VecEnv:
    """A fresh embedded env for evaluation, with seeds disjoint from training and the same every time,
    so that every evaluation of a job (and every mode a benchmark compares) sees the same episodes."""
    from inril.backends.mujoco import make_env

    return make_env(job.env.task, job.env.eval_num_envs, job.env.seed + 10_000, device)


def train_env(job: TrainJob, device: str, rank: int = 0) -> VecEnv:
    """The embedded training env of a job: the env seed plus the process rank, and the job's reward shaping
    (evaluation envs keep the sparse reward)."""
    from inril.backends.mujoco import make_env

    return make_env(job.env.task, job.env.num_envs, job.env.seed + rank, device, shaping_weight=job.env.shaping_weight)


def limit_cpu_threads(device: str) -> None:
    """Our networks are small and MuJoCo's rollout threads use every core during RL: a second torch
    thread mostly spin-waits (BC steps measured 15x slower with 2 threads on 2 busy cores). So one
    thread on CPU, unless OMP_NUM_THREADS says otherwise."""
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def new_run_dir(args: argparse.Namespace, task: str, kind: str = "") -> Path:
    """logs/inril/<task>/<date>[_<kind>][_<run_name>]."""
    name = "_".join(part for part in (datetime.now().strftime("%Y-%m-%d_%H-%M-%S"), kind, args.run_name) if part)
    return Path(args.log_root) / "inril" / task / name


def paired_with_base(base: EvalResult | None, final: EvalResult) -> dict | None:
    """Print and return how the final policy fares against the base on the same episodes (None after a
    resume, whose base evaluation belongs to the first process)."""
    if base is None:
        return None
    paired = compare(base, final)
    print(f"[inril] against the base on the same {final.episodes} episodes: {paired.summary()}")
    return paired.as_dict()


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write(run_dir / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
    print(f"[inril] done in {summary['wall_time_s'] / 60:.1f} min; summary: {run_dir / 'summary.json'}")


def for_base(env: VecEnv, job: TrainJob, obs_layout: list[tuple[str, int]]) -> VecEnv:
    """A task env whose policy observations are in the base's layout `obs_layout` (reordered by term name
    where the base orders the task's terms differently; checked by check_base_checkpoint)."""
    return in_layout(env, task_layout(job), obs_layout, f"task {job.env.task}", "the base policy")


def runner_on(env: VecEnv, job: TrainJob, agent: AgentConfig, base: Policy, demos: DemoSet | None,
              log_dir: str | None, device: str, seed: int, evaluate=None,
              obs_layout: list[tuple[str, int]] | None = None) -> InrilRunner:
    """rsl-rl-lib's runner with IN-RIL attached, over the residual wrapper of any backend's env. `obs_layout`
    is the base's observation layout (default: the task's); the env is reordered into it and `demos` are in it."""
    obs_layout = obs_layout or task_layout(job)
    train_demos, val_demos = split_demos(job, base, demos, device)
    return InrilRunner(ResidualVecEnv(for_base(env, job, obs_layout), base, agent.residual), agent, train_demos,
                       val_demos, log_dir, device, evaluate, seed, task=job.env.task, obs_layout=obs_layout)


def build_runner(job: TrainJob, base: Policy, demos: DemoSet | None, log_dir: str | None, device: str,
                 rank: int = 0, obs_layout: list[tuple[str, int]] | None = None) -> InrilRunner:
    """Stage 3 on the embedded backend, with the evaluation the runner runs (fresh envs with seeds
    disjoint from training, the same every time). `obs_layout`: as for runner_on."""
    num_pairs = len(get_task(job.env.task).pairs)
    obs_layout = obs_layout or task_layout(job)

    def evaluate(runner: InrilRunner, video: Path | None = None, num_episodes: int | None = None) -> EvalResult:
        env = eval_env(job, device)
        if video is not None:  # the first envs' first episode, tiled
            from inril.backends.mujoco.render import RecordingVecEnv, VideoRecorder

            recorder = VideoRecorder(env, video, env_ids=range(min(4, env.num_envs)))
            env = RecordingVecEnv(env, recorder, int(env.max_episode_length))
        env = for_base(env, job, obs_layout)
        try:
            residual_env = ResidualVecEnv(env, runner.env.base, job.agent.residual)
            return evaluate_residual(runner.alg.get_policy(), residual_env, num_episodes or job.agent.eval_episodes,
                                     num_pairs)
        finally:
            env.close()

    # Each process of a multi-process run steps its own envs: seed + rank.
    return runner_on(train_env(job, device, rank), job, job.agent, base, demos, log_dir, device, job.env.seed + rank,
                     evaluate, obs_layout)


def make_chunk_actor(base: Policy, dppo: DPPOConfig | None = None,
                     gaussian: GaussianPPOConfig | None = None) -> ChunkActor:
    """The full-network RL actor for a base: DPPO on a diffusion policy, Gaussian PPO on a Gaussian one.
    The actor fine-tunes a copy; `base` itself is left untouched."""
    if isinstance(base, DiffusionPolicy):
        return DPPOActor(DPPOPolicy(base, dppo or DPPOConfig()))
    if isinstance(base, GaussianPolicy):
        return GaussianChunkActor(copy.deepcopy(base), gaussian or GaussianPPOConfig())
    raise TypeError(f"no full-network RL algorithm for a {type(base).__name__} base")


@dataclass
class FullNetworkJob:
    """The full-network RL part of a run (`fn.*`, `dppo.*`, `gaussian.*` overrides)."""

    fn: ChunkPPOConfig
    dppo: DPPOConfig = field(default_factory=DPPOConfig)
    gaussian: GaussianPPOConfig = field(default_factory=GaussianPPOConfig)


FULL_NETWORK_PREFIXES = tuple(f"{f.name}." for f in fields(FullNetworkJob))


def full_network_defaults(job: TrainJob) -> ChunkPPOConfig:
    """Full-network PPO matching the job's residual PPO: the same env steps per iteration, PPO epochs,
    minibatches and discount (converted to decisions of action_horizon steps), interleave schedule
    and IL batch, so that the two separation modes differ only in what they update."""
    agent, horizon = job.agent, job.base.policy.action_horizon
    if agent.num_steps_per_env % horizon:
        raise ConfigError(f"agent.num_steps_per_env ({agent.num_steps_per_env}) must be a multiple of the base's "
                          f"action_horizon ({horizon}): full-network PPO decides once per chunk")
    il = FullNetworkILConfig(batch_size=agent.il.batch_size, interleave=copy.deepcopy(agent.interleave))
    return ChunkPPOConfig(decisions_per_env=agent.num_steps_per_env // horizon,
                          num_learning_epochs=agent.ppo.num_learning_epochs, num_mini_batches=agent.ppo.num_mini_batches,
                          gamma=agent.ppo.gamma ** horizon, lam=agent.ppo.lam ** horizon,
                          eval_interval=agent.eval_interval, il=il)


def build_chunk_ppo(job: TrainJob, actor: ChunkActor, cfg: ChunkPPOConfig, demos: DemoSet | None,
                    log_dir: str | None, device: str, obs_layout: list[tuple[str, int]] | None = None) -> ChunkPPO:
    """Full-network PPO (DPPO or Gaussian, with IN-RIL's surgery) on the embedded backend, evaluated
    like `build_runner`'s runs: the deterministic policy on the same held-out env seeds. `obs_layout`: the
    base's observation layout (default: the task's); envs are reordered into it and `demos` are in it."""
    num_pairs = len(get_task(job.env.task).pairs)
    obs_layout = obs_layout or task_layout(job)

    def evaluate(trainer: ChunkPPO, num_episodes: int | None = None) -> EvalResult:
        env = for_base(eval_env(job, device), job, obs_layout)
        try:
            return evaluate_policy(trainer.actor.policy, env, num_episodes or job.agent.eval_episodes, num_pairs)
        finally:
            env.close()

    train_demos, val_demos = split_demos(job, actor.policy, demos, device)
    return ChunkPPO(for_base(train_env(job, device), job, obs_layout), actor, cfg, train_demos, val_demos, log_dir,
                    device, job.env.seed, evaluate)


def isaaclab_train_fn(args: argparse.Namespace, overrides: list[str]):
    """The backend-independent part of the Isaac Lab branch: given Isaac Lab's wrapped env and its
    rsl-rl agent dict, build the base, the residual env and the runner, and train. Raises ValueError
    (ConfigError, CheckpointError) for a bad task, override or base checkpoint before Isaac Lab starts."""
    from inril_isaac.agent_values import apply_runner_dict

    job = compose_job(args, overrides)
    obs_dim = get_task(job.env.task).obs_dim
    loaded = check_base_checkpoint(job, obs_dim)

    def train(env, runner_cfg: dict, log_dir: str, seed: int) -> None:
        agent = apply_runner_dict(job.agent, runner_cfg)
        base, demos = prepare_base(job, loaded, str(env.device))
        runner = runner_on(env, job, agent, base.policy, demos, log_dir, str(env.device), seed,
                           obs_layout=base.obs_layout)
        runner.learn(agent.max_iterations)

    return train


def run_embedded(args: argparse.Namespace, overrides: list[str]) -> int:
    started = time.perf_counter()
    args.device = args.device or "cpu"
    try:
        job = compose_job(args, overrides)
        obs_dim = get_task(job.env.task).obs_dim
        loaded = check_base_checkpoint(job, obs_dim)
        if job.base.demos is not None:
            check_demos(Path(job.base.demos), job, *base_reads(job, loaded))
        check_log_root(Path(args.log_root))
        resume = find_resume_dir(args)
        resume_checkpoint = None
        if resume is not None:
            check_resume_matches(resume, job)
            # On the job's device: a run written on a GPU resumes on a CPU. Skips corrupt newer ones with a warning.
            resume_checkpoint = newest_valid_checkpoint(str(resume), map_location=args.device)
    except (ValueError, ConfigError, DemoError, CheckpointError) as exc:
        return fail(str(exc))

    rank = 0
    if args.distributed:
        try:
            rank, world, args.device = init_distributed(args.device)
        except ValueError as exc:
            return fail(str(exc))
        print(f"[inril] rank {rank} of {world} on {args.device}")
    limit_cpu_threads(args.device)
    torch.manual_seed(job.env.seed)
    try:
        loaded, demos = rank0_first(lambda: prepare_base(job, loaded, args.device))  # rank 0 fills the cache
    except NonFiniteLossError as exc:
        return fail(str(exc), code=1)
    run_dir = from_rank0(resume or new_run_dir(args, job.env.task))
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        # Atomic: a run killed while rewriting them on resume must stay resumable.
        atomic_write(run_dir / "config.yaml", lambda tmp: tmp.write_text(to_yaml(job)))
        atomic_write(run_dir / "job.json", lambda tmp: tmp.write_text(json.dumps(asdict(job), indent=1)))
    print(f"[inril] stage 3/3: residual PPO (base: {job.agent.base}) with {job.env.num_envs} envs -> {run_dir}")
    runner = build_runner(job, loaded.policy, demos, str(run_dir), args.device, rank, loaded.obs_layout)
    if resume is not None:
        for partial in remove_partial_checkpoints(str(resume)):
            print(f"[inril] removed {partial}, a checkpoint the interrupted run did not finish writing")
        for aside in set_aside_newer(str(resume), resume_checkpoint):
            print(f"[inril] moved a checkpoint that does not verify to {aside}; the resumed run writes new files")
        runner.load(resume_checkpoint, map_location=args.device)
        print(f"[inril] resumed {resume_checkpoint} at iteration {runner.current_learning_iteration}")
        base_result = None
    elif rank == 0:
        base_result = runner.evaluate_fn(runner, num_episodes=job.agent.final_eval_episodes)
        print(f"[inril] base policy alone: {base_result.summary()}")
    remaining = job.agent.max_iterations - runner.current_learning_iteration
    if remaining > 0:
        try:
            runner.learn(remaining)
        except NonFiniteTrainingError as exc:
            return fail(str(exc), code=1)
    # After learn() current_learning_iteration is the last completed iteration; after a load that is
    # not followed by learning (the run had already finished) it is the next one to run.
    completed = runner.current_learning_iteration + (1 if remaining > 0 else 0)
    if rank != 0:
        return 0
    video = run_dir / "videos" / "final_eval.mp4" if args.video else None
    final = runner.evaluate_fn(runner, video, num_episodes=job.agent.final_eval_episodes)
    print(f"[inril] after residual PPO: {final.summary()}" + (f"; video {video}" if video else ""))
    summary = {
        "task": job.env.task, "preset": args.preset, "base_mode": job.agent.base,
        "base": None if base_result is None else base_result.as_dict(), "final": final.as_dict(),
        "vs_base": paired_with_base(base_result, final), "eval_history": runner.eval_history,
        "iterations": completed, "wall_time_s": time.perf_counter() - started,
    }
    write_summary(run_dir, summary)
    return 0


def run_full_network(args: argparse.Namespace, overrides: list[str]) -> int:
    """scripts/train_full_network.py on the embedded backend: the cached demos and base of the main job's
    pipeline, then DPPO (diffusion base) or Gaussian PPO with IN-RIL's IL updates and gradient surgery."""
    started = time.perf_counter()
    args.device = args.device or "cpu"
    fn_overrides = [o for o in overrides if o.startswith(FULL_NETWORK_PREFIXES)]
    try:
        job = compose_job(args, [o for o in overrides if o not in fn_overrides])
        obs_dim = get_task(job.env.task).obs_dim
        loaded = check_base_checkpoint(job, obs_dim)
        full = apply_overrides(FullNetworkJob(full_network_defaults(job)), fn_overrides, name="inril_full_network")
        check_log_root(Path(args.log_root))
    except (ValueError, ConfigError, DemoError, CheckpointError) as exc:
        return fail(str(exc))
    limit_cpu_threads(args.device)
    torch.manual_seed(job.env.seed)
    try:
        loaded, demos = prepare_base(job, loaded, args.device)
    except NonFiniteLossError as exc:
        return fail(str(exc), code=1)
    if full.fn.il.enabled and demos is None:
        demos = ensure_demos(job, loaded.obs_layout, "the base policy")
    run_dir = new_run_dir(args, job.env.task, "full_network")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "config.yaml", lambda tmp: tmp.write_text(to_yaml(job) + "---\n" + to_yaml(full)))
    actor = make_chunk_actor(loaded.policy, full.dppo, full.gaussian)
    algo = "DPPO" if isinstance(actor, DPPOActor) else "Gaussian PPO"
    il = f"IL every {full.fn.il.interleave.m} RL updates, surgery {full.fn.il.surgery}" if full.fn.il.enabled else "RL only"
    print(f"[inril] stage 3/3: full-network {algo} ({il}) with {job.env.num_envs} envs -> {run_dir}")
    trainer = build_chunk_ppo(job, actor, full.fn, demos, str(run_dir), args.device, loaded.obs_layout)
    base_result = trainer.evaluate_fn(trainer, job.agent.final_eval_episodes)
    print(f"[inril] base policy alone: {base_result.summary()}")
    trainer.learn(job.agent.max_iterations)
    trainer.save(str(run_dir / f"model_{trainer.iteration - 1}.pt"))
    final = trainer.evaluate_fn(trainer, job.agent.final_eval_episodes)
    print(f"[inril] after full-network {algo}: {final.summary()}")
    summary = {"task": job.env.task, "preset": args.preset, "algorithm": algo, "il": il, "base": base_result.as_dict(),
               "final": final.as_dict(), "vs_base": paired_with_base(base_result, final),
               "eval_history": trainer.eval_history, "iterations": trainer.iteration,
               "wall_time_s": time.perf_counter() - started}
    write_summary(run_dir, summary)
    return 0
