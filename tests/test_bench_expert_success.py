"""bench/expert_success.py and play.py --expert: the scripted expert's success through the one evaluation path."""

from __future__ import annotations

import json

from conftest import load_script

bench = load_script("bench/expert_success")
play = load_script("play")


def test_the_bench_prints_a_row_per_task_and_appends_json(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert bench.main(["--tasks", "MugRack-Low", "--episodes", "3", "--num_envs", "3", "--out", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| task |") and table[2].startswith("| MugRack-Low | 3/3 |")
    row = json.loads(out.read_text())
    assert row["task"] == "MugRack-Low" and row["episodes"] == 3.0 and row["success_rate"] == 1.0
    assert bench.main(["--tasks", "Nope-Low"]) == 2 and "known tasks" in capsys.readouterr().err


def test_play_runs_the_expert_and_wants_one_source(capsys):
    assert play.main(["--expert", "--task", "MugRack-Low", "--num_episodes", "2", "--num_envs", "2"]) == 0
    assert "scripted expert on MugRack-Low" in capsys.readouterr().out
    assert play.main(["--expert", "--exported", "x", "--task", "MugRack-Low"]) == 2
    assert "exactly one of" in capsys.readouterr().err
