"""Stages 1 and 2 of a job, cached (inril.pipeline.cache): the demos and the BC-pre-trained base policy."""

from __future__ import annotations

from pathlib import Path

from inril.algos.bc import PretrainJob, build_pretraining, split_samplers
from inril.data.demos import DemoSet
from inril.data.layout import Layout
from inril.data.windows import WindowSampler
from inril.pipeline.cache import base_dir, demos_path
from inril.pipeline.compose import base_reads, check_demos
from inril.pipeline.config import TrainJob
from inril.policies.base import Policy
from inril.policies.checkpoint import LoadedPolicy, load_policy


def ensure_demos(job: TrainJob, layout: Layout, reader: str) -> DemoSet:
    """The demos for pre-training and IL updates, in `layout` (what `reader` reads): the job's file
    (`base.demos`), or scripted demos collected once into the cache. Raises DemoError."""
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
    """The base policy BC-pre-trained on `demos`, from the cache or trained into it (the cache entry appears
    only once complete). Raises NonFiniteLossError when the BC loss diverges."""
    out = base_dir(job, Path(demos.path))
    checkpoint = out / "policy.pt"
    if not checkpoint.exists():
        print(f"[inril] stage 2/3: pre-training the {job.base.policy_name} base for {job.base.pretrain.steps} steps -> {out}")
        run = build_pretraining(PretrainJob(job.base.policy, job.base.pretrain), job.base.policy_name, demos,
                                device=device)
        result = run.fit(out)
        val = "none held out" if result.val_loss is None else f"{result.val_loss:.4f}"
        print(f"[inril] base BC loss: train {result.train_loss:.4f}, val {val}")
    else:
        print(f"[inril] stage 2/3: cached base {checkpoint}")
    return load_policy(checkpoint, map_location=device)


def prepare_base(job: TrainJob, loaded: LoadedPolicy | None, device: str,
                 need_demos: bool | None = None) -> tuple[LoadedPolicy, DemoSet | None]:
    """Stages 1 and 2: the base policy (`loaded`, the job's checkpoint, or pre-trained here) in eval mode on
    `device`, and the demos when pre-training or IL updates need them (`need_demos`, default: the residual
    job's `agent.base == "bc"`), in the base's observation layout (the task's for a base pre-trained here)."""
    need_demos = job.agent.base == "bc" if need_demos is None else need_demos
    demos = ensure_demos(job, *base_reads(job, loaded)) if loaded is None or need_demos else None
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
