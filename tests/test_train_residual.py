"""The main job end to end on a tiny config: scripted demos -> BC base -> residual PPO -> resume."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from conftest import job_from_argv, load_script
from inril.backends.mujoco.controller import ACTION_DIM
from inril.pipeline.envs import eval_env, train_env
from inril.pipeline.presets import make_job
from inril.tasks import get_task
from inril.utils.io import reserve_dir

train_residual = load_script("train_residual")

TINY = ["env.num_envs=4", "env.eval_num_envs=2", "agent.eval_episodes=2", "agent.final_eval_episodes=3",
        "agent.num_steps_per_env=8",
        "agent.save_interval=1", "agent.eval_interval=1", "base.num_demos=4", "base.pretrain.steps=10",
        "base.policy.hidden_dims=[32,32]"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.timeout(300)
def test_runs_started_in_the_same_second_get_their_own_run_directories(tmp_path, cache, monkeypatch):
    """Two seeds launched side by side (or an array job on a cluster) must not write into one directory."""
    import inril.pipeline.runs as runs

    frozen = datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(runs, "datetime", type("FrozenClock", (), {"now": staticmethod(lambda: frozen)}))
    logs = tmp_path / "logs"
    for seed in (1, 2):
        argv = ["--task", "PegInHole-Low", "--log_root", str(logs), "--max_iterations", "1", "--seed", str(seed)]
        assert train_residual.main([*argv, *TINY]) == 0
    first, second = sorted((logs / "inril" / "PegInHole-Low").iterdir())
    assert (first.name, second.name) == ("2026-01-02_03-04-05", "2026-01-02_03-04-05_1")
    assert [json.loads((run / "job.json").read_text())["env"]["seed"] for run in (first, second)] == [1, 2]
    assert all((run / "summary.json").exists() for run in (first, second))


def test_reserve_dir_never_hands_out_a_directory_twice(tmp_path):
    """What both branches name their runs with (the Isaac Lab branch under rsl_rl/<experiment>/)."""
    names = [reserve_dir(tmp_path / "rsl_rl" / "exp", "2026-01-02_03-04-05_run").name for _ in range(3)]
    assert names == ["2026-01-02_03-04-05_run", "2026-01-02_03-04-05_run_1", "2026-01-02_03-04-05_run_2"]
    assert all((tmp_path / "rsl_rl" / "exp" / name).is_dir() for name in names)


@pytest.mark.timeout(300)  # the whole pipeline twice (demos, BC, PPO, resume with video): about a minute
def test_pipeline_runs_caches_its_stages_and_resumes_with_the_same_iteration_count(tmp_path, cache, capsys):
    logs = tmp_path / "logs"
    argv = ["--task", "PegInHole-Low", "--log_root", str(logs), "--max_iterations", "2", *TINY]
    assert train_residual.main(argv) == 0
    out = capsys.readouterr().out
    assert "stage 1/3: collecting 4 scripted demos" in out and "stage 2/3: pre-training" in out
    assert "base policy alone: success" in out and "after residual PPO: success" in out
    assert "against the base on the same 3 episodes:" in out
    (run,) = (logs / "inril" / "PegInHole-Low").iterdir()
    assert {"config.yaml", "job.json", "model_0.pt", "model_1.pt", "summary.json"} <= {p.name for p in run.iterdir()}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 2 and summary["base_mode"] == "bc"
    base, final, paired = summary["base"], summary["final"], summary["vs_base"]
    assert base["episodes"] == final["episodes"] == 3  # the periodic evaluations run agent.eval_episodes = 2
    assert round(3 * (final["success_rate"] - base["success_rate"])) == paired["gained"] - paired["lost"]
    assert [row["iteration"] for row in summary["eval_history"]] == [0, 1]
    assert len(list((cache / "demos").iterdir())) == 1 and len(list((cache / "bases").iterdir())) == 1

    # Resume the same run for one more iteration, with a video of the final evaluation.
    assert train_residual.main([*argv[:-len(TINY)], "--resume", "latest", "--max_iterations", "3", "--video",
                                *TINY]) == 0
    out = capsys.readouterr().out
    assert "cached demos" in out and "cached base" in out
    assert f"resumed {run / 'model_1.pt'} at iteration 2" in out
    assert (run / "model_2.pt").exists() and not (run / "model_3.pt").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 3
    assert [row["iteration"] for row in summary["eval_history"]] == [0, 1, 2]
    assert (run / "videos" / "final_eval.mp4").stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["agent.interleave.m=0"], "interleave m must be an integer >= 1"),
    (["agent.residual.scale=-0.1"], "residual scale must be > 0"),
    (["agent.final_eval_episodes=0"], "final_eval_episodes must be >= 1"),
    (["env.shaping_weight=-1"], "env.shaping_weight must be >= 0"),
    (["env.shaping_weight=inf"], "env.shaping_weight must be >= 0 and finite"),
    (["--base_checkpoint", "/nonexistent/policy.pt"], "does not exist"),
    (["base.demos=/nonexistent/demos.hdf5"], "does not exist"),
    (["--task", "TwoLegs-Low"], "unknown task"),
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--base_policy", "transformer"], "unknown base policy 'transformer'"),
    (["base.policy_name=diffusion"], "set the base policy with --base_policy"),
])
def test_bad_configs_fail_before_any_training(tmp_path, cache, capsys, extra, message):
    argv = ["--task", "PegInHole-Low", "--log_root", str(tmp_path / "logs"), *TINY, *extra]
    assert train_residual.main(argv) == 2
    assert message.lower() in capsys.readouterr().err.lower()
    assert not (tmp_path / "logs").exists() and not cache.exists()


def test_demos_of_another_task_are_rejected_before_training(tmp_path, cache, capsys, demo_file):
    argv = ["--task", "PegInHole-Low", "--log_root", str(tmp_path / "logs"), *TINY, f"base.demos={demo_file}"]
    assert train_residual.main(argv) == 2
    err = capsys.readouterr().err
    assert f"demo file {demo_file} has [pos:2, vel:1], task PegInHole-Low reads [ee_pos:3, ee_quat:4" in err
    assert not (tmp_path / "logs").exists()


def test_training_envs_get_the_jobs_shaping_and_evaluation_envs_keep_the_sparse_reward():
    job = make_job("laptop", "PegInHole-Low", get_task("PegInHole-Low").obs_dim, ACTION_DIM)
    job.env.num_envs, job.env.eval_num_envs, job.env.shaping_weight = 2, 1, 1.5
    for env, weight in ((train_env(job, "cpu"), 1.5), (eval_env(job, "cpu"), 0.0)):
        assert env.cfg.shaping_weight == weight
        env.close()


def test_every_tiny_run_the_tests_build_overrides_the_laptop_presets_evaluation_sizes(tmp_path):
    """The kind behind a 42-minute CI: tiny runs composed from the laptop preset that kept its 512-episode
    base and final evaluations. Every helper that builds a tiny train_residual.py run is checked here."""
    from test_export_support import tiny_job

    crash_resume = load_script("bench/crash_resume")
    argvs = {"TINY": ["--task", "PegInHole-Low", *TINY],
             "crash_resume.train_args": crash_resume.train_args(tmp_path, tmp_path / "d.hdf5", tmp_path / "b.pt", 3, 1)}
    jobs = {name: job_from_argv(train_residual, argv) for name, argv in argvs.items()}
    jobs["test_export_support.tiny_job"] = tiny_job()
    for name, job in jobs.items():
        sizes = (job.agent.eval_episodes, job.agent.final_eval_episodes, job.env.num_envs, job.env.eval_num_envs)
        assert max(sizes) <= 4, f"{name}: evaluation/env sizes {sizes}"
