"""scripts/train_full_network.py end to end on a tiny config: cached pipeline -> full-network PPO with surgery."""

from __future__ import annotations

import json

import pytest

from conftest import load_script
from test_train_residual import TINY

train_full_network = load_script("train_full_network")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))


def test_full_network_run_with_pcgrad_writes_its_run_directory(tmp_path, cache, capsys):
    logs = tmp_path / "logs"
    argv = ["--task", "PegInHole-Low", "--log_root", str(logs), "--max_iterations", "2", *TINY,
            "full_network.il.surgery=pcgrad", "full_network.il.interleave.m=2", "full_network.il.batch_size=8", "gaussian.std=0.05"]
    assert train_full_network.main(argv) == 0
    out = capsys.readouterr().out
    assert "full-network Gaussian PPO (IL every 2 RL updates, surgery pcgrad)" in out
    assert "base policy alone: success" in out and "after full-network Gaussian PPO: success" in out
    assert "rho=" in out
    (run,) = (logs / "inril" / "PegInHole-Low").iterdir()
    assert {"config.yaml", "model_1.pt", "summary.json"} <= {p.name for p in run.iterdir()}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 2 and [row["iteration"] for row in summary["eval_history"]] == [0, 1]
    assert "surgery: pcgrad" in (run / "config.yaml").read_text()


@pytest.mark.parametrize("extra, message", [
    (["full_network.il.surgery=orthogonal"], "il.surgery must be one of"),
    (["agent.num_steps_per_env=6"], "must be a multiple of the base's action_horizon"),
    (["dppo.min_sampling_std=0"], "std floors > 0"),
])
def test_bad_full_network_configs_fail_before_any_training(tmp_path, cache, capsys, extra, message):
    argv = ["--task", "PegInHole-Low", "--log_root", str(tmp_path / "logs"), *TINY, *extra]
    assert train_full_network.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "logs").exists() and not (tmp_path / "cache").exists()
