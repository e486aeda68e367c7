"""Fault injection across the command-line scripts: every bad input gives exit code 2, one `error:` line on
stderr that names the problem, and leaves no output behind (scripts are called in-process via main(argv))."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from conftest import load_script
from inril.export.bundle import EXPORT_FORMAT
from inril.pipeline.compose import JobFlags, compose_job
from inril.policies import make_policy, make_policy_config
from inril.policies.checkpoint import save_policy
from inril.policies.normalizer import MinMaxNormalizer
from test_export_support import LAYOUT, OBS_DIM, TASK, build_tiny_runner, tiny_base

SCRIPTS = {name: load_script(name) for name in
           ("pretrain_bc", "train_residual", "export_policy", "play", "collect_demos", "bench/crash_resume")}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Good and bad inputs, built once; every case writes its outputs under its own tmp_path."""
    root = tmp_path_factory.mktemp("inputs")
    demos, base = SCRIPTS["bench/crash_resume"].prepare_inputs(root)
    nan_demos = root / "nan_demos.hdf5"
    nan_demos.write_bytes(demos.read_bytes())
    with h5py.File(nan_demos, "r+") as f:
        f["data/demo_3/actions"][5, 2] = np.nan
    other_task = root / "med.pt"
    save_policy(other_task, tiny_base(), "diffusion", LAYOUT, {"env_name": "PegInHole-Med"})
    small_obs = root / "obs20.pt"
    save_policy(small_obs, tiny_base(obs_dim=20), "diffusion", [("x", 20)], {})
    gaussian = root / "gaussian.pt"
    cfg = make_policy_config("gaussian", OBS_DIM, 10, hidden_dims=[8])
    policy = make_policy("gaussian", cfg, MinMaxNormalizer(-torch.ones(OBS_DIM), torch.ones(OBS_DIM)),
                         MinMaxNormalizer(-torch.ones(10), torch.ones(10)))
    save_policy(gaussian, policy, "gaussian", LAYOUT, {"env_name": TASK})
    runner, _ = build_tiny_runner(None, "frozen")
    checkpoint = root / "model_0.pt"
    runner.save(str(checkpoint))
    truncated = root / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:2000])
    payload = torch.load(checkpoint, weights_only=True)
    payload["critic_state_dict"][next(iter(payload["critic_state_dict"]))].fill_(float("nan"))
    nan_checkpoint = root / "nan.pt"
    torch.save(payload, nan_checkpoint)
    garbage = root / "garbage.pt"
    garbage.write_text("this is not a checkpoint\n")
    not_a_dir = root / "a_file"
    not_a_dir.write_text("x")
    full_dir = root / "full"
    full_dir.mkdir()
    (full_dir / "keep.txt").write_text("x")
    bad_export = root / "bad_export"
    bad_export.mkdir()
    (bad_export / "metadata.json").write_text(json.dumps({"format": EXPORT_FORMAT, "task": TASK,
                                                          "observation": {"dim": OBS_DIM, "layout": None}}))
    (bad_export / "policy.pt").write_bytes(b"\x00" * 100)
    no_checkpoint_run = root / "run_without_checkpoints"
    no_checkpoint_run.mkdir()
    corrupt_run = root / "run_with_a_corrupt_checkpoint"
    corrupt_run.mkdir()
    train = SCRIPTS["train_residual"]
    args, overrides = train.parse_args(train_argv({"demos": demos, "base": base}, Path("unused")))
    (corrupt_run / "job.json").write_text(json.dumps(asdict(compose_job(JobFlags.from_args(args), overrides))))
    (corrupt_run / "model_4.pt").write_bytes(truncated.read_bytes())
    return dict(demos=demos, base=base, nan_demos=nan_demos, other_task=other_task, small_obs=small_obs,
                gaussian=gaussian, checkpoint=checkpoint, truncated=truncated, nan_checkpoint=nan_checkpoint,
                garbage=garbage, not_a_dir=not_a_dir, full_dir=full_dir, bad_export=bad_export,
                no_checkpoint_run=no_checkpoint_run, corrupt_run=corrupt_run, missing=root / "missing.pt")


def train_argv(f: dict[str, Path], out: Path, base: str = "base", demos: str = "demos") -> list[str]:
    return ["--task", TASK, "--base_checkpoint", str(f[base]), "--log_root", str(out), f"base.demos={f[demos]}",
            "--max_iterations", "1"]


# (script, argv from (input files, output path), message regex). The output path must not appear.
CASES = {
    # pretrain_bc.py
    "bc: missing demo file": ("pretrain_bc", lambda f, o: ["--demos", str(f["missing"]), "--policy", "diffusion",
                                                           "--out", str(o)], "does not exist"),
    "bc: corrupt demo file": ("pretrain_bc", lambda f, o: ["--demos", str(f["garbage"]), "--policy", "diffusion",
                                                           "--out", str(o)], "not a readable HDF5 file"),
    "bc: NaN in demos": ("pretrain_bc", lambda f, o: ["--demos", str(f["nan_demos"]), "--policy", "diffusion",
                                                      "--out", str(o)], "demo_3.*NaN"),
    "bc: unknown policy": ("pretrain_bc", lambda f, o: ["--demos", str(f["demos"]), "--policy", "transformer",
                                                        "--out", str(o)], "unknown policy 'transformer'"),
    "bc: bad hydra override": ("pretrain_bc", lambda f, o: ["--demos", str(f["demos"]), "--policy", "diffusion",
                                                            "--out", str(o), "policy.no_such_field=1"],
                               "no_such_field"),
    "bc: output dir not empty": ("pretrain_bc", lambda f, o: ["--demos", str(f["demos"]), "--policy", "diffusion",
                                                              "--out", str(f["full_dir"])], "is not empty"),
    "bc: unwritable output dir": ("pretrain_bc", lambda f, o: ["--demos", str(f["demos"]), "--policy", "diffusion",
                                                               "--out", str(f["not_a_dir"] / "out")], "not writable"),
    # train_residual.py
    "train: unknown task": ("train_residual", lambda f, o: [*train_argv(f, o), "--task", "Nope-Low"],
                            "unknown task 'Nope-Low'"),
    "train: bad hydra override": ("train_residual", lambda f, o: [*train_argv(f, o), "agent.no_such_field=1"],
                                  "no_such_field"),
    "train: invalid config value": ("train_residual", lambda f, o: [*train_argv(f, o), "agent.base=both"],
                                    "base must be one of"),
    "train: unknown preset": ("train_residual", lambda f, o: [*train_argv(f, o), "--preset", "huge"],
                              "unknown preset 'huge'"),
    "train: unknown option": ("train_residual", lambda f, o: [*train_argv(f, o), "--bogus"], "unknown option"),
    "train: missing base checkpoint": ("train_residual", lambda f, o: train_argv(f, o, base="missing"),
                                       "does not exist"),
    "train: corrupt base checkpoint": ("train_residual", lambda f, o: train_argv(f, o, base="garbage"),
                                       "corrupt or not a torch file"),
    "train: base checkpoint of another task": ("train_residual", lambda f, o: train_argv(f, o, base="other_task"),
                                               "trained on PegInHole-Med, not PegInHole-Low"),
    "train: base with the wrong observation size": ("train_residual", lambda f, o: train_argv(f, o, base="small_obs"),
                                                    "expects obs 20"),
    "train: NaN in demos": ("train_residual", lambda f, o: train_argv(f, o, demos="nan_demos"), "NaN"),
    "train: unwritable log root": ("train_residual", lambda f, o: train_argv(f, f["not_a_dir"] / "logs"),
                                   "not a writable directory"),
    "train: resume without checkpoints": ("train_residual", lambda f, o: [*train_argv(f, o), "--resume",
                                                                         str(f["no_checkpoint_run"])],
                                          "holds no model_<it>.pt"),
    "train: resume with only a corrupt checkpoint": ("train_residual", lambda f, o: [
        *train_argv(f, o), "--resume", str(f["corrupt_run"])], "no valid model_<it>.pt checkpoint.*corrupt"),
    # export_policy.py
    "export: missing checkpoint": ("export_policy", lambda f, o: ["--checkpoint", str(f["missing"]), "--out", str(o)],
                                   "does not exist"),
    "export: truncated checkpoint": ("export_policy", lambda f, o: ["--checkpoint", str(f["truncated"]),
                                                                    "--out", str(o)], "corrupt or not a torch file"),
    "export: not a checkpoint": ("export_policy", lambda f, o: ["--checkpoint", str(f["garbage"]), "--out", str(o)],
                                 "corrupt or not a torch file"),
    "export: NaN weights": ("export_policy", lambda f, o: ["--checkpoint", str(f["nan_checkpoint"]), "--out", str(o)],
                            r"non-finite values \(NaN or inf\) in critic_state_dict"),
    "export: output dir not empty": ("export_policy", lambda f, o: ["--checkpoint", str(f["checkpoint"]),
                                                                    "--out", str(f["full_dir"])], "is not empty"),
    "export: unwritable output dir": ("export_policy", lambda f, o: ["--checkpoint", str(f["checkpoint"]), "--out",
                                                                     str(f["not_a_dir"] / "out")], "not writable"),
    "export: bad DDIM step count": ("export_policy", lambda f, o: ["--checkpoint", str(f["checkpoint"]), "--out",
                                                                   str(o), "--num_inference_steps", "0"],
                                    "num_inference_steps must be in"),
    "export: non-diffusion policy": ("export_policy", lambda f, o: ["--checkpoint", str(f["gaussian"]),
                                                                    "--out", str(o)], "needs a diffusion base"),
    # play.py
    "play: no policy given": ("play", lambda f, o: ["--task", TASK], "exactly one of --checkpoint"),
    "play: unknown task": ("play", lambda f, o: ["--checkpoint", str(f["checkpoint"]), "--task", "Nope-Low"],
                           "unknown task 'Nope-Low'"),
    "play: checkpoint of another task": ("play", lambda f, o: ["--checkpoint", str(f["checkpoint"]), "--task",
                                                               "PegInHole-Med"], "trained on PegInHole-Low"),
    "play: wrong observation size": ("play", lambda f, o: ["--checkpoint", str(f["small_obs"]), "--task", TASK],
                                     "expects 20-D observations but PegInHole-Low has 35"),
    "play: corrupt checkpoint": ("play", lambda f, o: ["--checkpoint", str(f["truncated"]), "--task", TASK],
                                 "corrupt or not a torch file"),
    "play: missing export dir": ("play", lambda f, o: ["--exported", str(o), "--task", TASK],
                                 "metadata.json is missing"),
    "play: corrupt exported policy.pt": ("play", lambda f, o: ["--exported", str(f["bad_export"]), "--task", TASK],
                                         "corrupt or not TorchScript"),
    "play: zero episodes": ("play", lambda f, o: ["--checkpoint", str(f["checkpoint"]), "--task", TASK,
                                                  "--num_episodes", "0"], "must be >= 1"),
    # collect_demos.py
    "collect: unknown task": ("collect_demos", lambda f, o: ["--task", "Nope-Low", "--num-demos", "2", "--out",
                                                             str(o.parent / "demos.hdf5")], "unknown task 'Nope-Low'"),
    "collect: missing output directory": ("collect_demos", lambda f, o: ["--task", TASK, "--num-demos", "2", "--out",
                                                                         str(o / "demos.hdf5")], "does not exist"),
    "collect: zero demos": ("collect_demos", lambda f, o: ["--task", TASK, "--num-demos", "0", "--out",
                                                           str(o.parent / "demos.hdf5")], "must be >= 1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_clear_error_and_no_output(case, files, tmp_path, capsys):
    script, make_argv, message = CASES[case]
    out = tmp_path / "out"
    before = {p: p.stat().st_mtime_ns for p in files["full_dir"].parent.rglob("*")}
    code = SCRIPTS[script].main(make_argv(files, out))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert re.search(message, err[0]), err[0]
    assert list(tmp_path.iterdir()) == []  # no output, no staging directory, no run directory
    assert {p: p.stat().st_mtime_ns for p in files["full_dir"].parent.rglob("*")} == before  # inputs untouched


def test_the_list_covers_every_cli_with_at_least_twenty_cases():
    assert len(CASES) >= 20
    assert {script for script, _, _ in CASES.values()} == set(SCRIPTS) - {"bench/crash_resume"}
