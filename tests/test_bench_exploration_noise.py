"""The exploration-noise bench on a tiny base: zero noise reproduces the deterministic base episode by episode."""

from __future__ import annotations

import json

import pytest

from conftest import load_script
from test_train_residual import TINY

bench = load_script("bench/exploration_noise")


def test_zero_noise_changes_no_episode_and_noise_is_compared_episode_by_episode(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "noise.jsonl"
    assert bench.main(["--task", "PegInHole-Low", "--stds", "0", "5", "--episodes", "4", "--out", str(out), *TINY]) == 0
    row = json.loads(out.read_text())
    zero, large = row["noisy"]
    assert (zero["std"], zero["gained"], zero["lost"]) == (0.0, 0, 0)
    assert zero["success_rate"] == row["deterministic_success"]
    successes = round(row["deterministic_success"] * 4)
    assert 0 <= large["gained"] <= 4 - successes and 0 <= large["lost"] <= successes
    assert large["success_rate"] * 4 == pytest.approx(successes + large["gained"] - large["lost"])
    assert "ratio" in capsys.readouterr().out


def test_negative_std_is_rejected_before_any_work(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--stds", "-0.1", "--out", str(tmp_path / "x.jsonl")])
    assert not (tmp_path / "x.jsonl").exists()
