"""scripts/bench/main_job_seeds.py: the main job run once per seed in fresh processes, then aggregated."""

from __future__ import annotations

import json

import pytest

from conftest import load_script
from test_train_residual import TINY

bench = load_script("bench/main_job_seeds")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))  # inherited by the seeds' processes


@pytest.mark.timeout(600)  # two tiny main jobs in fresh interpreters (about a minute on 2 idle cores)
def test_each_seed_runs_in_its_own_process_and_the_spread_is_over_seeds(tmp_path, cache, capsys):
    out = tmp_path / "out"
    tiny = ["--task", "PegInHole-Low", "--max_iterations", "1", *TINY]  # the last --task wins over the main job's
    assert bench.main(["--seeds", "3", "5", "--out", str(out), *tiny]) == 0
    record = json.loads((out / "seeds.json").read_text())
    rows = record["runs"]
    assert [r["seed"] for r in rows] == [3, 5] and all(r["task"] == "PegInHole-Low" for r in rows)
    assert all(f"seed{r['seed']}" in r["run"] and r["episodes"] == 3 for r in rows)
    finals = [r["final"] for r in rows]
    assert record["over_seeds"]["final"]["mean"] == pytest.approx(sum(finals) / 2)
    assert record["over_seeds"]["final"]["std"] == pytest.approx(abs(finals[0] - finals[1]) / 2 ** 0.5)
    assert "over 2 seeds" in capsys.readouterr().out
    assert all(len(r["curve"]) == 1 for r in rows) and (out / "seeds.png").stat().st_size > 0

    # The same finished runs, read back, give the same record.
    again = tmp_path / "again"
    assert bench.main(["--runs", *(r["run"] for r in rows), "--out", str(again)]) == 0
    assert json.loads((again / "seeds.json").read_text()) == record


def test_bad_inputs_give_one_error_line_and_write_nothing(tmp_path, capsys):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    assert bench.main(["--runs", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {empty} is not a finished run")
    assert bench.main(["--runs", str(empty), "--base_policy", "diffusion"]) == 2
    assert "would not apply" in capsys.readouterr().err
    assert bench.main(["--seeds", "1", "1"]) == 2
    assert "must differ" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
