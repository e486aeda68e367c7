"""The GPU suite's code path at --tiny size on CPU, its refusals and budget, and the wheel list it travels with."""

from __future__ import annotations

import json
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import torch

from conftest import load_script

suite = load_script("bench/gpu_suite")
WHEELS = Path(__file__).resolve().parents[1] / "scripts" / "bench" / "gpu_wheels.txt"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))


def test_tiny_run_measures_every_part_side_by_side(tmp_path, cache, capsys):
    out = tmp_path / "suite.json"
    assert suite.main(["--tiny", "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["complete"] and result["size"] == "tiny" and result["device"] == "cpu"
    assert result["wall_s"] < result["budget_s"]

    bc = result["bc_step"]
    assert bc["steps_timed"] == 2 and bc["median_ms"] > 0 and bc["peak_mib"] is None and not bc["stopped_early"]

    p1 = result["p1"]
    modes = p1["modes"]
    assert set(modes) == {"frozen", "side_stream", "in_line"} and not p1["stopped_early"]
    for row in modes.values():
        assert row["iterations"] == 1 and row["env_steps_per_s"] > 0 and row["ppo_update_s"] > 0
    # 5 PPO updates per iteration at m = 2: IL updates only in the two IN-RIL modes, the same count in both.
    assert modes["frozen"]["il_updates_per_iteration"] == 0
    assert modes["side_stream"]["il_updates_per_iteration"] == modes["in_line"]["il_updates_per_iteration"] > 0
    rate = {mode: row["env_steps_per_s"] for mode, row in modes.items()}
    assert p1["ratio_side_stream"] == pytest.approx(rate["side_stream"] / rate["frozen"])
    assert p1["overlap_gain"] == pytest.approx(rate["side_stream"] / rate["in_line"])
    assert p1["side_stream_present"] is False  # CPU: both IN-RIL modes run in line

    p4 = result["p4"]
    combos = {(r["num_envs"], r["unet"], r["ddim_steps"]) for r in p4["rows"]}
    assert combos == {(n, unet, k) for n in (4, 8) for unet in ("laptop", "full") for k in (2, 4)}
    for row in p4["rows"]:
        assert not row["skipped"] and row["cycles"] == 1
        assert 0 < row["base_s"] < row["loop_s"] and row["share"] == pytest.approx(row["base_s"] / row["loop_s"])
    params = {r["unet"]: r["params"] for r in p4["rows"]}
    assert params["full"] > params["laptop"]

    printed = capsys.readouterr().out
    assert "[gpu_suite] P1 round 1" in printed and "P4 base inference share" in printed
    assert "IN-RIL (side stream) / frozen" in printed and "goal <= 30% at 4 envs" in printed


def test_a_spent_budget_skips_the_parts_and_says_so(tmp_path, cache, capsys):
    out = tmp_path / "suite.json"
    assert suite.main(["--tiny", "--device", "cpu", "--budget", "0.01", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert not result["complete"] and not {"bc_step", "p1", "p4"} & set(result)
    printed = capsys.readouterr().out
    assert all(f"{part}: not run (the budget was spent)" in printed for part in ("bc_step", "p1", "p4"))


def test_parts_past_their_deadline_stop_after_one_unit_and_say_so(cache, capsys):
    size = suite.SIZES["tiny"]
    job, full, demos = suite.job_and_base(size.task, "full", [*size.base_overrides, *size.full_overrides])
    dev, past = suite.Device("cpu"), 0.0  # a deadline long gone

    bc = suite.bc_step_part(job, full.policy, demos, dev, size, past)
    assert bc["steps_timed"] == 1 and bc["stopped_early"]

    p1 = suite.p1_part(job, full.policy, demos, dev, size, past)
    assert p1["stopped_early"] and p1["from_warmup"]
    assert all(row["iterations"] == 1 and row["env_steps_per_s"] > 0 for row in p1["modes"].values())

    p4 = suite.p4_part(size.task, 0, {"full": full.policy}, dev, size, past)
    first, *rest = p4["rows"]
    assert not first["skipped"] and first["cycles"] == 1 and rest and all(row["skipped"] for row in rest)
    printed = capsys.readouterr().out
    assert "P1: stopped early after 0 of 1 timed rounds" in printed and "skipped (P4's time share was spent)" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_in_one_line_before_any_work(tmp_path, cache, capsys):
    out = tmp_path / "suite.json"
    assert suite.main(["--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda asked for") and "--tiny --device cpu" in err[0]
    assert not out.exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("argv, message", [(["--budget", "0"], "--budget must be > 0"),
                                           (["--device", "tpu"], "--device must be")])
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert suite.main([*argv, "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")
    assert not (tmp_path / "x.json").exists()


def test_wheel_list_is_exact_unique_installed_here_and_under_60_mib():
    rows = [line.split() for line in WHEELS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    names = []
    for row in rows:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", row[0]) and row[1].isdigit(), row
        assert row[2:] in ([], ["sdist"]), row
        name, pinned = row[0].split("==")
        names.append(name.lower())
        try:  # the suite's tests here run with the listed packages; a typo or a dropped one fails here
            version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} is listed in gpu_wheels.txt but not installed in the test environment")
    assert len(names) == len(set(names))
    assert {"mujoco", "rsl-rl-lib", "diffusers", "tensordict", "hydra-core", "omegaconf"} <= set(names)
    assert sum(int(row[1]) for row in rows) < 60 * 2**20
