"""The embedded branch of scripts/train_residual.py: compose, validate, run the cached pipeline.

Every input is checked before any stage starts (task, preset, overrides, base checkpoint, demo
file, resume directory), so a bad command fails in a second with one line and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import torch

from inril.algos.bc import build_pretraining, default_pretrain_job, split_samplers
from inril.algos.runner import InrilRunner, latest_checkpoint
from inril.data.demos import DemoError, DemoSet, load_demos
from inril.envs.residual_wrapper import ResidualVecEnv
from inril.eval import EvalResult, evaluate_residual
from inril.pipeline import TrainJob, base_dir, demos_path, make_job
from inril.policies.base import Policy
from inril.policies.checkpoint import CheckpointError, LoadedPolicy, load_policy
from inril.tasks.registry import get_task
from inril.utils.cli import fail
from inril.utils.config import ConfigError, apply_overrides, to_yaml

ACTION_DIM = 10  # absolute end-effector pose: position 3, rotation 6-D, gripper 1


def compose_job(args: argparse.Namespace, overrides: list[str]) -> TrainJob:
    bad = [o for o in overrides if o.startswith("-")]
    if bad:
        raise ConfigError(f"unknown option(s) {bad}; overrides look like env.num_envs=64")
    spec = get_task(args.task)
    obs_dim = sum(dim for _, dim in spec.observation_layout)
    job = make_job(args.preset, args.task, obs_dim, ACTION_DIM)
    flags = {"env.num_envs": args.num_envs, "env.seed": args.seed, "agent.max_iterations": args.max_iterations,
             "base.checkpoint": args.base_checkpoint}
    overrides = list(overrides) + [f"{key}={value}" for key, value in flags.items() if value is not None]
    job = apply_overrides(job, overrides, name="inril_train_residual")
    if job.env.task != args.task:
        raise ConfigError("set the task with --task, not env.task")
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
    return loaded


def check_demos(path: Path, job: TrainJob, obs_dim: int) -> DemoSet:
    demos = load_demos(path)
    if (demos.obs_dim, demos.action_dim) != (obs_dim, ACTION_DIM):
        raise DemoError(f"{path}: demos have obs {demos.obs_dim} / action {demos.action_dim} dims but "
                        f"{job.env.task} has {obs_dim} / {ACTION_DIM}")
    return demos


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
    saved = json.loads((run / "job.json").read_text())
    current = json.loads(json.dumps(asdict(job)))
    saved["agent"]["max_iterations"] = current["agent"]["max_iterations"]  # a resume may extend the run
    if saved != current:
        diff = sorted(k for k in _flatten(current) if _flatten(saved).get(k) != _flatten(current)[k])
        raise ConfigError(f"cannot resume {run}: the config differs from the run's in {diff}")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def ensure_demos(job: TrainJob, obs_dim: int) -> DemoSet:
    """The demos for pre-training and IL updates: a given file, or cached scripted demos."""
    if job.base.demos is not None:
        return check_demos(Path(job.base.demos), job, obs_dim)
    path = demos_path(job)
    if not path.exists():
        from inril.envs.mujoco.collect import collect_demos

        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"[inril] stage 1/3: collecting {job.base.num_demos} scripted demos of {job.env.task} -> {path}")
        collect_demos(job.env.task, job.base.num_demos, job.base.demo_seed, path)
    else:
        print(f"[inril] stage 1/3: cached demos {path}")
    return check_demos(path, job, obs_dim)


def ensure_base(job: TrainJob, demos: DemoSet, device: str) -> LoadedPolicy:
    """The base policy: the given checkpoint, or a cached BC pre-training on the demos."""
    out = base_dir(job, Path(demos.path))
    checkpoint = out / "policy.pt"
    if not checkpoint.exists():
        print(f"[inril] stage 2/3: pre-training the {job.base.policy_name} base for {job.base.pretrain.steps} steps -> {out}")
        pretrain_job = default_pretrain_job(job.base.policy, job.base.policy_name)
        pretrain_job.train = job.base.pretrain
        run = build_pretraining(pretrain_job, job.base.policy_name, demos, device=device)
        staging = out.with_name(out.name + ".partial")
        result = run.fit(staging)
        staging.rename(out)  # the cache entry appears only once complete
        print(f"[inril] base BC loss: train {result.train_loss:.4f}, val {result.val_loss}")
    else:
        print(f"[inril] stage 2/3: cached base {checkpoint}")
    return load_policy(checkpoint, map_location=device)


def prepare_base(job: TrainJob, loaded: LoadedPolicy | None, device: str) -> tuple[LoadedPolicy, DemoSet | None]:
    """Stages 1 and 2: the demos (when IL updates or pre-training need them) and the base policy."""
    obs_dim = sum(dim for _, dim in get_task(job.env.task).observation_layout)
    demos = ensure_demos(job, obs_dim) if loaded is None or job.agent.base == "bc" else None
    if loaded is None:
        loaded = ensure_base(job, demos, device)
    loaded.policy.to(device).eval()
    return loaded, demos


def build_runner(job: TrainJob, base: Policy, demos: DemoSet | None, log_dir: str | None, device: str) -> InrilRunner:
    """Stage 3: the residual env over the embedded backend, rsl-rl-lib's runner with IN-RIL attached,
    and the evaluation it runs (fresh envs with seeds disjoint from training, same every time)."""
    from inril.envs.mujoco import make_env

    train_demos = val_demos = None
    if demos is not None:
        train_demos, val_demos = split_samplers(demos, base.cfg.obs_horizon, base.cfg.pred_horizon,
                                                job.base.val_fraction, job.env.seed, device)
    env = ResidualVecEnv(make_env(job.env.task, job.env.num_envs, job.env.seed, device), base, job.agent.residual)
    num_pairs = len(get_task(job.env.task).pairs)

    def evaluate(runner: InrilRunner) -> EvalResult:
        eval_env = ResidualVecEnv(make_env(job.env.task, job.env.eval_num_envs, job.env.seed + 10_000, device),
                                  runner.env.base, job.agent.residual)
        return evaluate_residual(runner.alg.get_policy(), eval_env, job.agent.eval_episodes, num_pairs)

    return InrilRunner(env, job.agent, train_demos, val_demos, log_dir, device, evaluate, job.env.seed)


def isaaclab_train_fn(args: argparse.Namespace, overrides: list[str]):
    """The backend-independent part of the Isaac Lab branch: given Isaac Lab's wrapped env and its
    rsl-rl agent dict, build the base, the residual env and the runner, and train. Not run here:
    Isaac Lab cannot be installed on our machines (see exts/inril_isaac/README.md)."""
    from inril_isaac.agent_values import apply_runner_dict

    job = compose_job(args, overrides)
    obs_dim = sum(dim for _, dim in get_task(job.env.task).observation_layout)
    loaded = check_base_checkpoint(job, obs_dim)

    def train(env, runner_cfg: dict, log_dir: str, seed: int) -> None:
        agent = apply_runner_dict(job.agent, runner_cfg)
        base, demos = prepare_base(job, loaded, str(env.device))
        train_demos = val_demos = None
        if demos is not None:
            train_demos, val_demos = split_samplers(demos, base.policy.cfg.obs_horizon, base.policy.cfg.pred_horizon,
                                                    job.base.val_fraction, seed, str(env.device))
        residual_env = ResidualVecEnv(env, base.policy, agent.residual)
        runner = InrilRunner(residual_env, agent, train_demos, val_demos, log_dir, str(env.device), seed=seed)
        runner.learn(agent.max_iterations)

    return train


def run_embedded(args: argparse.Namespace, overrides: list[str]) -> int:
    started = time.perf_counter()
    args.device = args.device or "cpu"
    try:
        job = compose_job(args, overrides)
        obs_dim = sum(dim for _, dim in get_task(job.env.task).observation_layout)
        loaded = check_base_checkpoint(job, obs_dim)
        if job.base.demos is not None:
            check_demos(Path(job.base.demos), job, obs_dim)
        resume = find_resume_dir(args)
        if resume is not None:
            check_resume_matches(resume, job)
    except (ValueError, ConfigError, DemoError, CheckpointError) as exc:
        return fail(str(exc))

    torch.manual_seed(job.env.seed)
    loaded, demos = prepare_base(job, loaded, args.device)
    run_dir = resume or Path(args.log_root) / "inril" / job.env.task / (
        datetime.now().strftime("%Y-%m-%d_%H-%M-%S") + (f"_{args.run_name}" if args.run_name else ""))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(to_yaml(job))
    (run_dir / "job.json").write_text(json.dumps(asdict(job), indent=1))
    print(f"[inril] stage 3/3: residual PPO (base: {job.agent.base}) with {job.env.num_envs} envs -> {run_dir}")
    runner = build_runner(job, loaded.policy, demos, str(run_dir), args.device)
    if resume is not None:
        checkpoint = latest_checkpoint(str(resume))
        runner.load(checkpoint)
        print(f"[inril] resumed {checkpoint} at iteration {runner.current_learning_iteration}")
        base_result = None
    else:
        base_result = runner.evaluate_fn(runner)
        print(f"[inril] base policy alone: {base_result.summary()}")
    remaining = job.agent.max_iterations - runner.current_learning_iteration
    if remaining > 0:
        runner.learn(remaining)
    final = runner.evaluate_fn(runner)
    print(f"[inril] after residual PPO: {final.summary()}")
    summary = {
        "task": job.env.task, "preset": args.preset, "base_mode": job.agent.base,
        "base": None if base_result is None else base_result.as_dict(), "final": final.as_dict(),
        "eval_history": runner.eval_history, "iterations": runner.current_learning_iteration + 1,
        "wall_time_s": time.perf_counter() - started,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"[inril] done in {summary['wall_time_s'] / 60:.1f} min; summary: {run_dir / 'summary.json'}")
    return 0
