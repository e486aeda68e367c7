"""Users' bug reports replayed (issue 17), one kind per section, through every entry point that can meet it:
observation layouts compared by term name and size, checkpoints with missing keys, non-finite weights and
losses, and flag values with any characters."""

from __future__ import annotations

import json

import h5py
import pytest
import torch

from conftest import job_from_argv, load_script
from inril.algos.common.checkpoints import read_checkpoint
from inril.backends.mujoco import make_env
from inril.backends.wrappers import ReorderedObsEnv
from inril.data.demo_reader import load_demos
from inril.export import load_deployable, load_exported
from inril.pipeline.compose import JobFlags, check_demos, compose_job
from inril.pipeline.presets import make_job
from inril.policies.checkpoint import CheckpointError, load_policy, save_policy
from test_export_support import LAYOUT, TASK, build_tiny_runner, tiny_base

SCRIPTS = {name: load_script(name) for name in ("pretrain_bc", "train_residual", "export_policy", "play",
                                                 "bench/crash_resume")}
SMALL_DIFFUSION = ["policy.down_dims=[16,32]", "policy.diffusion_step_embed_dim=16", "policy.pred_horizon=8",
                   "policy.action_horizon=4", "policy.num_inference_steps=4"]
SORTED = sorted(LAYOUT)  # the order a robomimic or Mimic file without our obs_keys attribute loads in


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture(scope="module")
def foreign_demos(tmp_path_factory):
    """Demos of the task's terms as a plain robomimic / Mimic file holds them: no obs_keys attribute."""
    root = tmp_path_factory.mktemp("foreign")
    ours, _ = SCRIPTS["bench/crash_resume"].prepare_inputs(root)
    foreign = root / "foreign.hdf5"
    foreign.write_bytes(ours.read_bytes())
    with h5py.File(foreign, "r+") as f:
        del f["data"].attrs["obs_keys"]
    return ours, foreign


@pytest.fixture(scope="module")
def foreign_diffusion(foreign_demos, tmp_path_factory):
    """A diffusion base pre-trained 10 steps on the foreign file (so it reads the terms in sorted order)."""
    out = tmp_path_factory.mktemp("bc") / "run"
    assert SCRIPTS["pretrain_bc"].main(["--demos", str(foreign_demos[1]), "--policy", "diffusion", "--out", str(out),
                                        "--steps", "10", "--no-progress", *SMALL_DIFFUSION]) == 0
    return out / "policy.pt"


# 1. Observation layouts ------------------------------------------------------------------------------------


def test_a_policy_trained_on_sorted_terms_records_that_layout_and_is_fed_it_by_play(foreign_diffusion, monkeypatch,
                                                                                     capsys):
    assert load_policy(foreign_diffusion).obs_layout == SORTED
    index = load_deployable(foreign_diffusion).check_task(TASK)
    env = make_env(TASK, 2, 0)
    raw = env.get_observations()["policy"]
    starts = {name: sum(d for _, d in LAYOUT[:i]) for i, (name, _) in enumerate(LAYOUT)}
    expected = torch.cat([raw[:, starts[name]:starts[name] + dim] for name, dim in SORTED], dim=1)
    assert torch.equal(ReorderedObsEnv(env, index).get_observations()["policy"], expected)
    assert not torch.equal(expected, raw)  # the two orders really differ
    env.close()

    fed = []
    original = ReorderedObsEnv.get_observations
    monkeypatch.setattr(ReorderedObsEnv, "get_observations", lambda self: fed.append(self.index) or original(self))
    assert SCRIPTS["play"].main(["--checkpoint", str(foreign_diffusion), "--task", TASK, "--num_episodes", "1",
                                 "--num_envs", "1"]) == 0
    assert fed and fed[0].tolist() == index


def test_export_metadata_describes_what_the_policy_reads_and_play_feeds_the_export_that_order(foreign_diffusion,
                                                                                               tmp_path, capsys):
    out = tmp_path / "exported"
    assert SCRIPTS["export_policy"].main(["--checkpoint", str(foreign_diffusion), "--out", str(out)]) == 0
    layout = json.loads((out / "metadata.json").read_text())["observation"]["layout"]
    assert [(t["name"], t["dim"]) for t in layout] == SORTED
    assert load_exported(out).check_task(TASK) == load_deployable(foreign_diffusion).check_task(TASK)
    assert SCRIPTS["play"].main(["--exported", str(out), "--task", TASK, "--num_episodes", "1", "--num_envs", "1"]) == 0


def test_a_runner_checkpoint_records_the_bases_layout_and_the_residual_envs_are_reordered(tmp_path):
    from inril.apps.residual import build_runner

    runner, job = build_tiny_runner(None, "frozen")
    assert runner.obs_layout == LAYOUT and not isinstance(runner.env.env, ReorderedObsEnv)
    sorted_runner = build_runner(job, tiny_base(), None, None, "cpu", obs_layout=SORTED)
    assert isinstance(sorted_runner.env.env, ReorderedObsEnv)
    sorted_runner.save(str(tmp_path / "model_0.pt"))
    assert load_deployable(tmp_path / "model_0.pt").obs_layout == SORTED


def test_il_demos_are_reordered_into_the_bases_layout(foreign_demos):
    ours, foreign = foreign_demos
    job = make_job("laptop", TASK, sum(d for _, d in LAYOUT), 10)
    reference = load_demos(ours)  # written with obs_keys in the task's order
    assert load_demos(foreign).obs_layout == SORTED
    reordered = check_demos(foreign, job, LAYOUT, f"task {TASK}")
    assert reordered.obs_layout == LAYOUT
    assert all(torch.equal(torch.from_numpy(a), torch.from_numpy(b)) for a, b in zip(reordered.obs, reference.obs))


def test_a_missing_or_resized_term_is_one_error_line_naming_both_layouts(foreign_demos, tmp_path, capsys):
    _, foreign = foreign_demos
    renamed = tmp_path / "renamed.hdf5"
    renamed.write_bytes(foreign.read_bytes())
    with h5py.File(renamed, "r+") as f:
        for demo in f["data"].values():
            demo.move("obs/ee_pos", "obs/tool_pos")
    argv = ["--task", TASK, "--log_root", str(tmp_path / "logs"), "--max_iterations", "1",
            f"base.demos={renamed}"]
    assert SCRIPTS["train_residual"].main(argv) == 2
    line = one_error_line(capsys)
    assert "ee_pos is missing" in line and "has [ee_angvel:3" in line and f"task {TASK} reads [ee_pos:3" in line
    assert not (tmp_path / "logs").exists()

    policy = tmp_path / "resized.pt"
    save_policy(policy, tiny_base(), "diffusion", [("ee_pos", 4 + 3), *LAYOUT[2:]], {"env_name": TASK})
    assert SCRIPTS["play"].main(["--checkpoint", str(policy), "--task", TASK, "--num_episodes", "1"]) == 2
    assert "ee_pos has 3 dims, not 7" in one_error_line(capsys)


# 3. Missing keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["policy_name", "policy_cfg", "state_dict", "obs_keys", "env_meta", "extra"])
def test_a_policy_checkpoint_without_a_key_is_one_error_line_naming_file_and_key(key, tmp_path, capsys):
    path = tmp_path / "policy.pt"
    save_policy(path, tiny_base(), "diffusion", LAYOUT, {"env_name": TASK})
    payload = torch.load(path, weights_only=True)
    del payload[key]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path} has no '{key}'"):
        load_policy(path)
    assert SCRIPTS["play"].main(["--checkpoint", str(path), "--task", TASK]) == 2
    assert f"{path} has no '{key}'" in one_error_line(capsys)
    assert SCRIPTS["export_policy"].main(["--checkpoint", str(path), "--out", str(tmp_path / "out")]) == 2
    assert f"{path} has no '{key}'" in one_error_line(capsys)
    argv = ["--task", TASK, "--base_checkpoint", str(path), "--log_root", str(tmp_path / "logs")]
    assert SCRIPTS["train_residual"].main(argv) == 2
    assert f"{path} has no '{key}'" in one_error_line(capsys)
    assert not (tmp_path / "out").exists() and not (tmp_path / "logs").exists()


def test_a_policy_checkpoint_from_before_layouts_were_stored_gets_its_sizes_from_its_task_or_is_refused(tmp_path):
    path = tmp_path / "policy.pt"
    save_policy(path, tiny_base(), "diffusion", SORTED, {"env_name": TASK})
    payload = torch.load(path, weights_only=True)
    del payload["obs_layout"]  # as written before this change: obs_keys only
    torch.save(payload, path)
    assert load_policy(path).obs_layout == SORTED
    payload["env_meta"] = {"env_name": "Elsewhere-v0"}  # no registered task to take the sizes from
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path} has no 'obs_layout'"):
        load_policy(path)


@pytest.mark.parametrize("key", ["task", "policy_name", "policy_cfg", "residual", "actor", "actor_obs_groups"])
def test_a_runner_checkpoint_without_a_deploy_key_is_one_error_line(key, tmp_path, capsys):
    runner, _ = build_tiny_runner(None, "frozen")
    path = tmp_path / "model_0.pt"
    runner.save(str(path))
    payload = torch.load(path, weights_only=True)
    del payload["deploy"][key]
    torch.save(payload, path)
    assert SCRIPTS["play"].main(["--checkpoint", str(path), "--task", TASK]) == 2
    assert f"checkpoint {path}: 'deploy' has no '{key}'" in one_error_line(capsys)


@pytest.mark.parametrize("key", ["rng_states.torch", "rng_states.numpy", "logger_state.tot_time", "nonfinite_skips.il"])
def test_a_runner_checkpoint_without_a_key_a_resume_reads_is_refused_naming_it(key, tmp_path):
    runner, _ = build_tiny_runner(None, "frozen")
    path = tmp_path / "model_0.pt"
    runner.save(str(path))
    payload = torch.load(path, weights_only=True)
    outer, inner = key.split(".")
    del payload[outer][inner]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}: '{outer}' has no '{inner}'"):
        read_checkpoint(path)


@pytest.mark.parametrize("key", ["task", "observation", "observation.layout"])
def test_export_metadata_without_a_key_is_one_error_line(key, foreign_diffusion, tmp_path, capsys):
    out = tmp_path / "exported"
    assert SCRIPTS["export_policy"].main(["--checkpoint", str(foreign_diffusion), "--out", str(out)]) == 0
    metadata = json.loads((out / "metadata.json").read_text())
    *parents, last = key.split(".")
    holder = metadata
    for parent in parents:
        holder = holder[parent]
    del holder[last]
    (out / "metadata.json").write_text(json.dumps(metadata))
    assert SCRIPTS["play"].main(["--exported", str(out), "--task", TASK]) == 2
    assert f"has no '{last}'" in one_error_line(capsys)


# 4. Non-finite values ------------------------------------------------------------------------------------


def test_bc_stops_at_a_non_finite_loss_with_one_error_line_and_writes_nothing(foreign_demos, tmp_path, capsys):
    out = tmp_path / "run"
    code = SCRIPTS["pretrain_bc"].main(["--demos", str(foreign_demos[0]), "--policy", "gaussian", "--out", str(out),
                                        "--steps", "200", "--no-progress", "train.bc.lr=1e3",
                                        "train.bc.warmup_steps=0", "train.val_every=10"])
    assert code == 1
    line = one_error_line(capsys)
    assert "BC loss is nan" in line or "BC loss is inf" in line
    assert list(tmp_path.iterdir()) == []  # no run directory, no staging directory


def test_every_loader_refuses_non_finite_weights(tmp_path, capsys):
    base = tiny_base()
    with torch.no_grad():
        next(base.parameters()).view(-1)[0] = float("inf")
    path = tmp_path / "policy.pt"
    save_policy(path, base, "diffusion", LAYOUT, {"env_name": TASK})
    with pytest.raises(CheckpointError, match=r"non-finite values \(NaN or inf\)"):
        load_policy(path)
    for script, argv in (("play", ["--checkpoint", str(path), "--task", TASK]),
                         ("export_policy", ["--checkpoint", str(path), "--out", str(tmp_path / "out")]),
                         ("train_residual", ["--task", TASK, "--base_checkpoint", str(path),
                                             "--log_root", str(tmp_path / "logs")])):
        assert SCRIPTS[script].main(argv) == 2
        assert "non-finite values (NaN or inf)" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.pt"]


def test_an_export_with_nan_weights_is_refused(foreign_diffusion, tmp_path, capsys):
    out = tmp_path / "exported"
    assert SCRIPTS["export_policy"].main(["--checkpoint", str(foreign_diffusion), "--out", str(out)]) == 0
    module = torch.jit.load(str(out / "policy.pt"))
    with torch.no_grad():
        next(iter(module.parameters())).view(-1)[0] = float("nan")
    module.save(str(out / "policy.pt"))
    assert SCRIPTS["play"].main(["--exported", str(out), "--task", TASK]) == 2
    assert "non-finite values (NaN or inf)" in one_error_line(capsys)


# 5. Flag values with any characters ----------------------------------------------------------------------

ODD_NAMES = ["ünicode", "with space", "a=b", "quo'te", 'dq"uote', "[brackets]", "{braces}", "${interp}", "back\\slash"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_paths_in_flags_pass_through_whatever_their_characters(name, tmp_path, capsys):
    train = SCRIPTS["train_residual"]
    weird = tmp_path / name / "policy.pt"
    weird.parent.mkdir()
    save_policy(weird, tiny_base(), "diffusion", LAYOUT, {"env_name": "PegInHole-Med"})
    args, overrides = train.parse_args(["--task", TASK, "--base_checkpoint", str(weird)])
    assert compose_job(JobFlags.from_args(args), overrides).base.checkpoint == str(weird)
    assert train.main(["--task", TASK, "--base_checkpoint", str(weird), "--log_root", str(tmp_path / "logs")]) == 2
    assert f"base checkpoint {weird} was trained on PegInHole-Med" in one_error_line(capsys)

    crash_resume = SCRIPTS["bench/crash_resume"]
    argv = crash_resume.train_args(tmp_path / name, tmp_path / name / "demos.hdf5", weird, 3, 1)
    job = job_from_argv(train, argv)
    assert job.base.demos == str(tmp_path / name / "demos.hdf5") and job.base.checkpoint == str(weird)
