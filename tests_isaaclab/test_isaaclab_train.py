"""`scripts/train_residual.py` on the real Isaac Lab end to end (kit-less Newton, CPU), its checkpoint in
`play.py` and `export_policy.py`, and the train script's one-line errors. Each run is a fresh process, as a
user's would be; the base policy is a tiny BC checkpoint built here from embedded expert demos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASK = "OneLeg-Low"


def run(*args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> tuple[Path, Path]:
    """4 scripted demos on the embedded backend and a tiny diffusion base trained for 10 BC steps on them (export
    needs a diffusion base: its TorchScript holds the DDIM sampler)."""
    out = tmp_path_factory.mktemp("base")
    demos = out / "demos.hdf5"
    done = run("scripts/collect_demos.py", "--task", TASK, "--num-demos", "4", "--num-envs", "4", "--out", str(demos))
    assert done.returncode == 0, done.stderr
    done = run("scripts/pretrain_bc.py", "--demos", str(demos), "--policy", "diffusion", "--steps", "10",
               "--out", str(out / "bc"), "--no-progress", "policy.down_dims=[16,32]",
               "policy.diffusion_step_embed_dim=16", "policy.num_inference_steps=4")
    assert done.returncode == 0, done.stderr
    return demos, out / "bc" / "policy.pt"


@pytest.mark.timeout(600)  # three fresh Isaac Lab processes: 90-110 s on 2 idle cores, past the 120 s default under load
def test_train_play_export_on_isaaclab(tiny_base, tmp_path):
    demos, base = tiny_base
    logs = tmp_path / "logs"
    done = run("scripts/train_residual.py", "--task", TASK, "--headless", "--num_envs", "2", "--max_iterations", "2",
               "--device", "cpu", "--log_root", str(logs), "agent.num_steps_per_env=4", "agent.save_interval=1",
               f"inril.base.checkpoint={base}", f"inril.base.demos={demos}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Isaac Lab found" in done.stdout
    assert "physics falls back to newton_mjwarp" in done.stdout  # no Isaac Sim here
    runs = list((logs / "rsl_rl" / "inril_residual").iterdir())
    assert len(runs) == 1
    run_dir = runs[0]
    for name in ("params/env.yaml", "params/agent.yaml", "model_0.pt", "model_1.pt"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))
    checkpoint = run_dir / "model_1.pt"

    played = run("scripts/play.py", "--checkpoint", str(checkpoint), "--task", TASK, "--num_episodes", "2",
                 "--num_envs", "2")
    assert played.returncode == 0, played.stderr
    assert "success" in played.stdout.lower()
    exported = tmp_path / "exported"
    done = run("scripts/export_policy.py", "--checkpoint", str(checkpoint), "--out", str(exported))
    assert done.returncode == 0, done.stderr
    assert (exported / "policy.pt").is_file() and (exported / "metadata.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--task", "Nope-Low"], "unknown task"),
    (["--task", TASK, "agent.no_such_field=1"], "no_such_field"),  # fails if the agent config gains a stray field
])
def test_bad_input_gives_one_error_line(args, message):
    done = run("scripts/train_residual.py", *args, "--headless")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_defaults_and_checks_before_the_simulation(tmp_path, capsys):
    """In-process: the checks `inril_isaac.train.main` runs before Isaac Lab starts."""
    from inril_isaac.layout import asset_root
    from inril_isaac.train import check_task_assets, check_usd_path, resolve_device, select_physics

    assert select_physics(["env.x=1"], have_isaac_sim=False) == ["env.x=1", "physics=newton_mjwarp"]
    assert capsys.readouterr().out.count("\n") == 1  # one notice line
    assert select_physics(["env.x=1"], have_isaac_sim=True) == ["env.x=1"]  # PhysX, the tasks' default
    assert select_physics(["physics=newton_mjwarp"], have_isaac_sim=True) == ["physics=newton_mjwarp"]
    for overrides, have_sim, message in ((["physics=bogus"], False, "unknown physics preset"),
                                         (["physics=physx"], False, "needs Isaac Sim"),
                                         (["physics=physx", "physics=physx"], True, "2 times")):
        with pytest.raises(ValueError, match=message):
            select_physics(overrides, have_sim)
    assert resolve_device(None, cuda_count=0) == "cpu" and resolve_device(None, cuda_count=2) == "cuda:0"
    assert resolve_device("cuda", cuda_count=1) == "cuda:0" and resolve_device("cuda:1", cuda_count=2) == "cuda:1"
    for device, count, message in (("cuda:3", 2, "2 CUDA device"), ("cuda", 0, "0 CUDA device"),
                                   ("tpu", 0, "--device must be")):
        with pytest.raises(ValueError, match=message):
            resolve_device(device, count)
    check_task_assets(TASK, asset_root())
    with pytest.raises(ValueError, match="asset .*franka_panda.usda not found"):
        check_task_assets(TASK, tmp_path)
    with pytest.raises(ValueError, match="unknown task"):
        check_task_assets("Nope-Low", asset_root())
    check_usd_path("https://omniverse-content-production.s3.amazonaws.com/Assets/Isaac/franka.usd")  # Isaac Lab's
    with pytest.raises(ValueError, match="robot USD"):
        check_usd_path(str(tmp_path / "franka.usd"))


def test_registered_agent_config_is_the_embedded_runner_dict():
    """In-process: the registered `@configclass` runner config, as Isaac Lab's train script resolves it (the
    deprecated-field handling applied), is `runner_dict(AgentConfig())` key for key, its literal numbers and the
    Isaac Lab defaults it leaves in place alike, and folds back into `AgentConfig()`."""
    import importlib

    from isaaclab_rl.rsl_rl import handle_deprecated_rsl_rl_cfg
    from isaaclab_rl.rsl_rl.utils import check_rsl_rl_version

    from inril.algos.network_separation.runner import AgentConfig
    from inril_isaac.agent_values import GAUSSIAN_STD_RANGE, IGNORED_RUNNER_KEYS, apply_runner_dict, runner_dict
    from inril_isaac.registration import RSL_RL_CFG_ENTRY_POINT

    module, name = RSL_RL_CFG_ENTRY_POINT.split(":")
    cfg = handle_deprecated_rsl_rl_cfg(getattr(importlib.import_module(module), name)(), check_rsl_rl_version())
    resolved = cfg.to_dict()
    assert set(resolved) - set(runner_dict()) <= IGNORED_RUNNER_KEYS
    # Isaac Lab's Gaussian config always carries rsl-rl-lib's std clamp, which inril keeps and does not list.
    assert tuple(resolved["actor"]["distribution_cfg"].pop("std_range")) == GAUSSIAN_STD_RANGE
    assert {key: resolved[key] for key in runner_dict()} == runner_dict(AgentConfig())
    assert apply_runner_dict(AgentConfig(), resolved) == AgentConfig()
