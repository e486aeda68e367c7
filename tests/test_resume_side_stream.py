"""A resume may switch the IL side stream (the same updates), also for runs from before the switch existed."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from conftest import load_script
from inril.apps.residual import RESIDUAL
from inril.apps.training import check_resume
from inril.pipeline.compose import JobFlags, compose_job
from inril.utils.config import ConfigError


def job(*overrides: str):
    args, rest = load_script("train_residual").parse_args(["--task", "PegInHole-Low", *overrides])
    return compose_job(JobFlags.from_args(args), rest)


def test_resume_ignores_the_side_stream_switch_but_not_other_changes(tmp_path):
    saved = json.loads(json.dumps(asdict(job())))
    del saved["agent"]["il_side_stream"]  # a run written before the switch existed
    (tmp_path / "job.json").write_text(json.dumps(saved))
    check_resume(tmp_path, RESIDUAL, job(), None)
    check_resume(tmp_path, RESIDUAL, job("agent.il_side_stream=false"), None)
    with pytest.raises(ConfigError, match="agent.interleave.m"):
        check_resume(tmp_path, RESIDUAL, job("agent.interleave.m=3"), None)
