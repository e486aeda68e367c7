from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import load_script
from inril.data.demos import Episode, write_demos
from inril.pipeline.presets import base_preset
from inril.policies.checkpoint import CheckpointError, load_policy

pretrain_bc = load_script("pretrain_bc")
SMALL_DIFFUSION = ["policy.down_dims=[16,32]", "policy.diffusion_step_embed_dim=16", "policy.pred_horizon=8",
                   "policy.action_horizon=4", "policy.num_inference_steps=4"]


@pytest.fixture
def line_demos(tmp_path):
    """A task BC can learn in a few hundred steps: action = -0.5 * obs, per step."""
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(6):
        obs = rng.uniform(-1, 1, size=(20, 2)).astype(np.float32)
        episodes.append(Episode({"state": obs}, -0.5 * obs, success=True))
    path = tmp_path / "line.hdf5"
    write_demos(path, episodes, {"env_name": "Line-v0"})
    return path


def test_gaussian_pretraining_learns_and_round_trips(tmp_path, line_demos, capsys):
    out = tmp_path / "run"
    code = pretrain_bc.main(["--demos", str(line_demos), "--policy", "gaussian", "--out", str(out), "--steps", "400",
                             "--no-progress", "train.bc.lr=3e-3", "train.bc.warmup_steps=10", "train.val_every=200"])
    assert code == 0
    assert "done: 400 steps" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"policy.pt", "config.yaml", "tb"}
    assert "lr: 0.003" in (out / "config.yaml").read_text()
    loaded = load_policy(out / "policy.pt")
    assert loaded.name == "gaussian" and loaded.obs_keys == ["state"] and loaded.task == "Line-v0"
    obs = torch.tensor([[[0.8, -0.4]]])
    action = loaded.policy.predict_action(obs, deterministic=True)
    assert torch.allclose(action[0, 0], torch.tensor([-0.4, 0.2]), atol=0.08)


def test_presets_pick_the_policy_size_and_budget(tmp_path, line_demos, capsys):
    """--preset laptop (the default) is the small MLP-denoiser base; full is ResiP's UNet, with a hint on CPU."""
    out = tmp_path / "run"
    assert pretrain_bc.main(["--demos", str(line_demos), "--policy", "diffusion", "--out", str(out), "--steps", "2",
                             "--no-progress"]) == 0
    config = (out / "config.yaml").read_text()
    assert "denoiser: mlp" in config and "prediction_type: sample" in config and "steps: 2" in config
    laptop, laptop_bc = base_preset("laptop", "diffusion", 2, 2)
    full, full_bc = base_preset("full", "diffusion", 2, 2)
    assert (laptop.denoiser, laptop.obs_horizon, laptop.pred_horizon, laptop.action_horizon, laptop_bc.steps) == (
        "mlp", 2, 8, 4, 5000)
    assert (full.denoiser, full.down_dims, full.pred_horizon, full_bc.steps) == ("unet", [256, 512, 1024], 32, 100_000)
    assert base_preset("laptop", "gaussian", 2, 2)[0].pred_horizon == 1
    assert pretrain_bc.main(["--demos", str(line_demos), "--policy", "diffusion", "--out", str(tmp_path / "full"),
                             "--preset", "full", "--steps", "1", "--no-progress", "policy.down_dims=[8,16]",
                             "policy.diffusion_step_embed_dim=8", "policy.pred_horizon=8"]) == 0
    assert "--preset laptop trains in minutes" in capsys.readouterr().err


def test_diffusion_checkpoint_reproduces_actions_exactly(tmp_path, line_demos):
    out = tmp_path / "run"
    assert pretrain_bc.main(["--demos", str(line_demos), "--policy", "diffusion", "--out", str(out), "--steps", "20",
                             "--no-progress", *SMALL_DIFFUSION]) == 0
    first, second = load_policy(out / "policy.pt"), load_policy(out / "policy.pt")
    obs = torch.rand(5, first.policy.cfg.obs_horizon, 2)
    a = first.policy.predict_action(obs, generator=torch.Generator().manual_seed(7))
    b = second.policy.predict_action(obs, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (5, 8, 2)
    assert first.extra["bc_step"] == 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policy", "transformer"], "unknown policy 'transformer'; known policies: diffusion, gaussian, gaussian_chunked"),
        (["--demos", "MISSING"], "does not exist"),
        (["train.bc.nope=1"], "bad config override"),
        (["train.bc.lr=-1"], "bc lr must be > 0"),
        (["policy.action_horizon=40"], "action_horizon"),
        (["--steps", "0"], "steps must be >= 1"),
        (["--preset", "huge"], "unknown preset 'huge'; known presets: laptop, full"),
        (["--obs-keys", "state,joint"], "unknown obs keys"),
        (["--bogus"], "unknown option"),
    ],
)
def test_bad_inputs_fail_clearly_and_write_nothing(tmp_path, line_demos, capsys, args, message):
    out = tmp_path / "run"
    argv = {"--demos": str(line_demos), "--policy": "gaussian_chunked", "--out": str(out), "--steps": "5"}
    extra = []
    it = iter(args)
    for a in it:
        if a in argv:
            argv[a] = next(it) if a != "--demos" else str(tmp_path / next(it))
        else:
            extra.append(a)
    flat = [x for kv in argv.items() for x in kv] + ["--no-progress", *extra]
    assert pretrain_bc.main(flat) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_non_empty_output_dir_is_refused(tmp_path, line_demos, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert pretrain_bc.main(["--demos", str(line_demos), "--policy", "gaussian", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_corrupt_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an inril policy checkpoint"):
        load_policy(tmp_path / "foreign.pt")
