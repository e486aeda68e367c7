"""scripts/bench/pretraining_table.py end to end at a tiny size: real demos, BC, MuJoCo evaluation, JSON, resume."""

from __future__ import annotations

import json

import pytest

from conftest import load_script

bench = load_script("bench/pretraining_table")
TASKS = ["PegInHole-Low", "PegInHole-Med"]
TINY = ["--episodes", "2", "--num_envs", "2", "--env_threads", "1", "base.num_demos=3", "base.pretrain.steps=5",
        "base.pretrain.val_every=5"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cells_json_markdown_and_resume(tmp_path, cache, monkeypatch, capsys):
    out = tmp_path / "table.json"
    assert bench.main(["--tasks", *TASKS, "--bases", "gaussian", "--out", str(out), *TINY]) == 0
    cells = json.loads(out.read_text())["cells"]
    assert [(c["task"], c["base"]) for c in cells] == [(t, "gaussian") for t in TASKS]
    for c in cells:
        assert c["n_demos"] == 3 and c["episodes"] == 2 and len(c["outcomes"]) == 2
        assert c["successes"] == sum(c["outcomes"]) and c["rate"] == c["successes"] / 2
        assert 0 <= c["ci_low"] <= c["rate"] <= c["ci_high"] <= 1 and c["ci_high"] - c["ci_low"] > 0.3  # n = 2
        assert c["base_cached"] is False and c["bc_wall_s"] > 0 and c["eval_seed"] == 20_000
        assert c["bc_steps"] == 5 and "--bases gaussian" in c["command"]
        assert (cache / "bases").exists() and c["checkpoint"].startswith(str(cache))
    printed = capsys.readouterr().out
    table = printed[printed.index("| task |"):].strip().splitlines()
    assert table[0] == "| task | Gaussian |" and table[1] == "|---|---|"
    assert [line.split(" | ")[0] for line in table[2:]] == [f"| {t}" for t in TASKS]
    assert all(line.endswith(" (2) |") and "% [" in line for line in table[2:])

    # Resume: every cell is in the JSON, so nothing is pre-trained, evaluated or added.
    def no_training(*args, **kwargs):
        raise AssertionError("a cell already in the JSON was measured again")

    monkeypatch.setattr(bench, "measure_cell", no_training)
    before = out.read_text()
    assert bench.main(["--tasks", *TASKS, "--bases", "gaussian", "--out", str(out), *TINY]) == 0
    assert out.read_text() == before
    printed = capsys.readouterr().out
    assert printed.count("skipped") == 2 and "\n".join(table) in printed

    assert bench.main(["--markdown", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "\n".join(table)


def test_markdown_puts_tasks_in_rows_and_bases_in_columns_with_gaps():
    cell = {"task": "Lamp-Low", "base": "diffusion", "rate": 0.25, "ci_low": 0.1, "ci_high": 0.5, "episodes": 8}
    table = bench.markdown_table([cell, {**cell, "task": "PegInHole-Low", "base": "gaussian", "rate": 0.5}])
    assert table.splitlines() == ["| task | Gaussian | diffusion |", "|---|---|---|",
                                  "| PegInHole-Low | 50.0% [10.0, 50.0] (8) | - |",
                                  "| Lamp-Low | - | 25.0% [10.0, 50.0] (8) |"]


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "Nope-Low"], "unknown task"),
    (["--bases", "unet"], "unknown base"),
    (["--episodes", "0"], "--episodes"),
    (["base.checkpoint=x.pt", "--tasks", "PegInHole-Low"], "base.checkpoint cannot be set"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, argv, message, capsys):
    out = tmp_path / "table.json"
    assert bench.main([*argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_paired_lines_compare_each_base_with_the_chunked_gaussian_on_the_same_episodes():
    cell = {"task": "Lamp-Low", "base": "gaussian_chunked", "outcomes": [1, 1, 0, 0]}
    lines = bench.paired_lines([cell, {**cell, "base": "diffusion", "outcomes": [0, 1, 1, 1]},
                                {**cell, "task": "Lamp-Med", "base": "gaussian"}])
    assert lines == ["Lamp-Low diffusion vs gaussian_chunked: 2 episodes gained, 1 lost (exact McNemar p = 1)"]


def test_a_foreign_json_is_refused(tmp_path, capsys):
    out = tmp_path / "table.json"
    out.write_text('{"rows": []}')
    assert bench.main(["--out", str(out)]) == 2
    assert "not a pretraining_table JSON" in capsys.readouterr().err and out.read_text() == '{"rows": []}'
