"""The cached stages' outputs, keyed by everything that determines them, so that a second run (or a second seed
of a benchmark) reuses the demos and the pre-trained base:

    <cache>/demos/<task>-n<num_demos>-s<seed>-r<observation revision>.hdf5
    <cache>/bases/<task>-<hash of demos name + policy + pretrain config>/policy.pt

<cache> is $INRIL_CACHE_DIR, default ~/.cache/inril.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from inril.pipeline.config import BaseJobConfig, TrainJob
from inril.tasks.spec import OBSERVATION_REVISION


def cache_dir() -> Path:
    """The cache root: $INRIL_CACHE_DIR, default ~/.cache/inril (not created here)."""
    return Path(os.environ.get("INRIL_CACHE_DIR", Path.home() / ".cache" / "inril"))


def demos_path(job: TrainJob) -> Path:
    """Where the scripted demos of `job` are cached: keyed by task, number of demos, demo seed and
    OBSERVATION_REVISION (module docstring)."""
    name = f"{job.env.task}-n{job.base.num_demos}-s{job.base.demo_seed}-r{OBSERVATION_REVISION}.hdf5"
    return cache_dir() / "demos" / name


def demos_key(demos: Path) -> str:
    """How a demo file enters the base's cache key: the cached scripted demos by their name, which says everything
    that made them (`demos_path`); any other file also by a hash of its content, so that two different files with
    one name never share a cached base."""
    if demos.parent.resolve() == (cache_dir() / "demos").resolve():
        return demos.name
    digest = hashlib.sha256()
    with demos.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{demos.name}@{digest.hexdigest()[:16]}"


def base_dir(job: TrainJob, demos: Path) -> Path:
    """Where the BC base pre-trained on `demos` is cached: keyed by the demos (`demos_key`), the policy name and
    config, the pre-training config, and the demo selection keys when set."""
    selection = {name: getattr(job.base, name) for name in ("filter_key", "val_filter_key", "keep_failed_demos")
                 if getattr(job.base, name) != getattr(BaseJobConfig, name)}  # only when set: older keys stay valid
    key = json.dumps({"demos": demos_key(demos), "policy_name": job.base.policy_name, "policy": asdict(job.base.policy),
                      "pretrain": asdict(job.base.pretrain), **selection}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir() / "bases" / f"{job.env.task}-{digest}"
