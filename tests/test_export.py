"""Export: the exported DDIM step against the library's, policy.pt in a process without inril, the ONNX
loop, metadata, and play on the export against play on the checkpoint."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from conftest import load_script
from inril.backends.mujoco import make_env
from inril.export import load_deployable, load_exported
from inril.export.ddim import DenoiserStep
from inril.export.torchscript import script_policy
from inril.policies import make_policy
from inril.policies.checkpoint import save_policy
from inril.policies.chunk_executor import ChunkExecutor
from inril.residual.env import ResidualVecEnv
from test_export_support import LAYOUT, TASK, build_tiny_runner, perturb_residual, tiny_base

STEPS = 50


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-iteration IN-RIL run (base moved by IL updates, residual perturbed off zero), exported by the CLI."""
    root = tmp_path_factory.mktemp("export")
    runner, job = build_tiny_runner(root / "run", "bc")
    runner.learn(1)
    perturb_residual(runner)
    checkpoint = root / "run" / "model_0.pt"
    runner.save(str(checkpoint))
    out = root / "exported"
    assert load_script("export_policy").main(["--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    return checkpoint, out, job


def record_rollout(deployable, num_envs: int = 3, seed: int = 7, episode_length: int = 12) -> dict[str, torch.Tensor]:
    """The library's own run of a deployable for STEPS steps with resets: the raw obs each step's action
    was computed from, the raw actions the env received, and the dones."""
    raw = make_env(TASK, num_envs, seed, episode_length=episode_length)
    log = {"obs": [raw.get_observations()["policy"].clone()], "actions": [], "dones": []}
    original = raw.step

    def step(action):
        log["actions"].append(action.clone())
        obs, rewards, dones, extras = original(action)
        log["obs"].append(obs["policy"].clone())
        log["dones"].append(dones.clone())
        return obs, rewards, dones, extras

    raw.step = step
    with torch.no_grad():
        if deployable.actor is not None:
            env = ResidualVecEnv(raw, deployable.base, deployable.residual)
            obs = env.get_observations()
            for _ in range(STEPS):
                obs, *_ = env.step(deployable.actor(obs))
        else:
            executor = ChunkExecutor(deployable.base, num_envs, deterministic=True)
            obs = raw.get_observations()
            for _ in range(STEPS):
                obs, _, dones, _ = raw.step(executor.act(obs["policy"]))
                executor.reset(dones.nonzero(as_tuple=True)[0])
    return {"obs": torch.stack(log["obs"][:-1]), "actions": torch.stack(log["actions"]),
            "dones": torch.stack(log["dones"])}


def replay(policy, rollout: dict[str, torch.Tensor]) -> torch.Tensor:
    actions = []
    for obs, dones in zip(rollout["obs"], rollout["dones"]):
        actions.append(policy(obs))
        ids = dones.nonzero().flatten()
        if len(ids):
            policy.reset(ids)
    return torch.stack(actions)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample"])
@pytest.mark.parametrize("steps", [1, 4, 7])
def test_exported_ddim_step_is_the_librarys_step(steps, prediction_type):
    """DenoiserStep (what policy.pt and denoiser_step.onnx run) equals the library's DDIM step bit for bit,
    on the same trailing grid, for both prediction types and step counts that do not divide 100."""
    base = tiny_base()
    base.cfg.prediction_type = prediction_type
    tables = base.ddim_tables(steps)
    assert tables.timesteps[0] == base.cfg.num_train_timesteps - 1
    step = DenoiserStep(base.model, tables, prediction_type)
    generator = torch.Generator().manual_seed(steps)
    cond = torch.randn(3, base.cfg.obs_dim, generator=generator)
    for k in range(steps):
        x = 2 * torch.randn(3, 8, 10, generator=generator)
        with torch.no_grad():
            assert torch.equal(step(x, cond, torch.tensor(k)), base.denoise_step(base.model, x, k, cond, tables))


def test_policy_pt_in_a_process_without_inril_reproduces_the_library(run, tmp_path):
    checkpoint, out, _ = run
    deployable = load_deployable(checkpoint)
    rollout = record_rollout(deployable)
    assert rollout["dones"].sum() >= 6  # every env went through several resets
    torch.save(rollout, tmp_path / "rollout.pt")
    script = textwrap.dedent("""
        import sys, torch
        torch.set_num_threads(1)
        policy = torch.jit.load(sys.argv[1])
        rollout = torch.load(sys.argv[2])
        actions = []
        for obs, dones in zip(rollout["obs"], rollout["dones"]):
            actions.append(policy(obs))
            ids = dones.nonzero().flatten()
            if len(ids):
                policy.reset(ids)
        torch.save(torch.stack(actions), sys.argv[3])
        foreign = sorted({m.split(".")[0] for m in sys.modules} & {"inril", "diffusers", "rsl_rl", "mujoco"})
        print("imported:", foreign)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(out / "policy.pt"), str(tmp_path / "rollout.pt"),
                           str(tmp_path / "actions.pt")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "imported: []" in done.stdout
    actions = torch.load(tmp_path / "actions.pt")
    assert torch.equal(actions, rollout["actions"])  # bit for bit
    # the residual really acts: with a zeroed residual actor the same observations give other actions
    zero_actor = copy.deepcopy(deployable.actor)
    for param in zero_actor.parameters():
        param.data.zero_()
    base_only = replay(script_policy(dataclasses.replace(deployable, actor=zero_actor)), rollout)
    assert (base_only - rollout["actions"]).abs().max() > 1e-3


@pytest.mark.parametrize("denoiser,prediction_type", [("unet", "epsilon"), ("mlp", "sample")])
def test_bc_policy_export_matches_the_chunk_executor(tmp_path, denoiser, prediction_type):
    base = tiny_base(seed=3)
    cfg = dataclasses.replace(base.cfg, denoiser=denoiser, prediction_type=prediction_type, mlp_dims=[32, 32])
    torch.manual_seed(3)
    base = make_policy("diffusion", cfg, base.obs_normalizer, base.action_normalizer).eval()
    save_policy(tmp_path / "policy.pt", base, "diffusion", LAYOUT, {"env_name": TASK})
    deployable = load_deployable(tmp_path / "policy.pt")
    assert deployable.actor is None
    rollout = record_rollout(deployable, num_envs=2, seed=3)
    assert torch.equal(replay(script_policy(deployable), rollout), rollout["actions"])


def test_onnx_files_run_the_documented_loop_in_onnxruntime(run):
    ort = pytest.importorskip("onnxruntime")
    checkpoint, out, _ = run
    meta = json.loads((out / "metadata.json").read_text())
    rollout = record_rollout(load_deployable(checkpoint))
    denoiser = ort.InferenceSession(str(out / meta["files"]["denoiser_step_onnx"]))
    residual = ort.InferenceSession(str(out / meta["files"]["residual_onnx"]))
    obs_norm, act_norm, ddim, hz = meta["observation"]["normalizer"], meta["action"]["normalizer"], meta["diffusion"], \
        meta["horizons"]
    to, tp, h = hz["obs_horizon"], hz["pred_horizon"], hz["action_horizon"]
    n, action_dim = rollout["obs"].shape[1], meta["action"]["dim"]
    initial_noise = np.array(ddim["initial_noise"], np.float32)
    history = np.zeros((n, to, meta["observation"]["dim"]), np.float32)
    chunks = np.zeros((n, tp, action_dim), np.float32)
    cursor, has_plan, fresh = np.full(n, h), np.zeros(n, bool), np.ones(n, bool)
    actions = []
    for obs, dones in zip(rollout["obs"].numpy(), rollout["dones"].numpy()):
        clip = np.inf if obs_norm["clip"] is None else obs_norm["clip"]
        nobs = np.clip((obs - obs_norm["center"]) / np.array(obs_norm["half_span"]), -clip, clip).astype(np.float32)
        history = np.where(fresh[:, None, None], nobs[:, None], np.concatenate([history[:, 1:], nobs[:, None]], 1))
        fresh[:] = False
        empty = np.flatnonzero(cursor >= h)
        warm = has_plan[empty] & ddim["warm_start"]
        for ids, is_warm in ((empty[~warm], False), (empty[warm], True)):
            if not len(ids):
                continue
            x = np.broadcast_to(initial_noise, (len(ids), tp, action_dim))
            k0 = 0
            if is_warm:
                tail = np.concatenate([chunks[ids, h:], np.repeat(chunks[ids, -1:], h, axis=1)], axis=1)
                x, k0 = ddim["warm_sqrt_alpha"] * tail + ddim["warm_sqrt_one_minus_alpha"] * x, ddim["warm_start_index"]
            cond = history[ids].reshape(len(ids), -1)
            for k in range(k0, ddim["num_inference_steps"]):
                x = denoiser.run(None, {"sample": x.astype(np.float32), "obs_cond": cond, "step": np.array(k)})[0]
            chunks[ids] = np.clip(x, -1, 1)
        cursor[empty], has_plan[empty] = 0, True
        base = chunks[np.arange(n), cursor]
        cursor += 1
        res = residual.run(None, {"nobs": nobs, "base_action": base})[0]
        action = np.clip(base + meta["residual"]["scale"] * res, -1, 1)
        actions.append(action * np.array(act_norm["half_span"]) + act_norm["center"])
        ids = np.flatnonzero(dones)
        cursor[ids], has_plan[ids], fresh[ids] = h, False, True
    np.testing.assert_allclose(np.stack(actions), rollout["actions"].numpy(), rtol=0, atol=1e-4)


def test_metadata_describes_the_export(run):
    checkpoint, out, job = run
    meta = load_exported(out).metadata
    assert meta["task"] == TASK and meta["source_checkpoint"] == str(checkpoint) and meta["iteration"] == 0
    assert [row["name"] for row in meta["observation"]["layout"]][:2] == ["ee_pos", "ee_quat"]
    assert sum(row["dim"] for row in meta["observation"]["layout"]) == meta["observation"]["dim"] == 35
    assert [row["dim"] for row in meta["action"]["layout"]] == [3, 6, 1]
    assert meta["horizons"] == {"obs_horizon": 1, "pred_horizon": 8, "action_horizon": 4}
    ddim = meta["diffusion"]
    assert ddim["num_inference_steps"] == job.agent.residual.num_inference_steps == len(ddim["timesteps"])
    assert ddim["eta"] == 0.0 and ddim["warm_start"] is True and ddim["prediction_type"] == "epsilon"
    assert ddim["timesteps"][0] == 99 and np.array(ddim["initial_noise"]).shape == (8, 10)
    assert meta["residual"] == {"scale": job.agent.residual.scale}
    assert set(meta["versions"]) >= {"inril", "torch", "diffusers", "rsl-rl-lib", "python"}
    assert meta["versions"]["torch"].startswith(torch.__version__.split("+")[0])
    assert any("denoiser_step" in line for line in meta["onnx_loop"])
    assert sorted(p.name for p in out.iterdir()) == ["denoiser_step.onnx", "metadata.json", "policy.pt",
                                                     "residual.onnx"]


def test_play_on_the_export_equals_play_on_the_checkpoint(run, capsys):
    checkpoint, out, _ = run
    play = load_script("play")
    from_checkpoint = play.play_checkpoint(checkpoint, TASK, num_episodes=2, num_envs=2, seed=11)
    assert play.main(["--exported", str(out), "--task", TASK, "--num_episodes", "2", "--num_envs", "2",
                      "--seed", "11"]) == 0
    printed = capsys.readouterr().out
    assert from_checkpoint.summary() in printed, printed  # same episodes: same success, return and length
