"""Crash safety: checkpoints verified on load with fallback, resume restores the whole training state,
tensorboard logs are appended, and train_residual.py --resume survives a corrupt newest checkpoint."""

from __future__ import annotations

import json
import random
from unittest import mock

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import load_script
from inril.algos.common.checkpoints import newest_valid_checkpoint, read_checkpoint
from inril.policies.checkpoint import CheckpointError, CheckpointUnreadable
from test_export_support import build_tiny_runner

crash_resume = load_script("bench/crash_resume")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two IN-RIL iterations with a checkpoint after each (model_0.pt, model_1.pt)."""
    run_dir = tmp_path_factory.mktemp("run")
    runner, _ = build_tiny_runner(run_dir, "bc")
    runner.learn(2)
    return runner, run_dir


def test_checkpoints_are_verified_and_a_corrupt_newest_falls_back_with_a_warning(trained, tmp_path):
    _, run_dir = trained
    good = (run_dir / "model_1.pt").read_bytes()
    (tmp_path / "model_0.pt").write_bytes((run_dir / "model_0.pt").read_bytes())
    (tmp_path / "model_1.pt").write_bytes(good[: len(good) // 2])  # a torn write
    with pytest.warns(RuntimeWarning, match="model_1.pt is corrupt"):
        assert newest_valid_checkpoint(str(tmp_path)) == str(tmp_path / "model_0.pt")

    payload = torch.load(run_dir / "model_1.pt", weights_only=True)
    payload["actor_state_dict"][next(iter(payload["actor_state_dict"]))].fill_(float("nan"))
    torch.save(payload, tmp_path / "model_2.pt")
    with pytest.raises(CheckpointError, match=r"non-finite values \(NaN or inf\) in actor_state_dict"):
        read_checkpoint(tmp_path / "model_2.pt")
    torch.save({"iter": 3}, tmp_path / "model_3.pt")
    with pytest.raises(CheckpointError, match="not an inril residual-PPO checkpoint"):
        read_checkpoint(tmp_path / "model_3.pt")
    (tmp_path / "model_0.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"no valid model_<it>.pt checkpoint .*model_3.pt is not an inril"):
        newest_valid_checkpoint(str(tmp_path))


def test_resume_restores_models_optimizers_schedule_rng_states_and_counters(trained, tmp_path):
    original, run_dir = trained
    resumed, _ = build_tiny_runner(tmp_path, "bc", seed=0)
    random.random(), np.random.rand(), torch.rand(1)  # move the global RNGs away from the saved states
    resumed.load(str(run_dir / "model_1.pt"))
    assert resumed.current_learning_iteration == 2  # continues after the last completed iteration
    for name in ("actor", "critic"):
        a, b = getattr(original.alg, name).state_dict(), getattr(resumed.alg, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert str(original.alg.optimizer.state_dict()) == str(resumed.alg.optimizer.state_dict())
    assert original.alg.learning_rate == resumed.alg.learning_rate  # the KL-adaptive schedule's state
    updater_a, updater_b = original.alg.interleaving.updater, resumed.alg.interleaving.updater
    assert updater_a.num_updates == updater_b.num_updates > 0
    for a, b in ((updater_a.acting, updater_b.acting), (updater_a.learner, updater_b.learner)):
        sa, sb = a.state_dict(), b.state_dict()  # weights and the frozen normalizers
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert str(updater_a.bc.optimizer.state_dict()) == str(updater_b.bc.optimizer.state_dict())
    assert original.alg.interleaving.scheduler.state_dict() == resumed.alg.interleaving.scheduler.state_dict()
    saved = read_checkpoint(run_dir / "model_1.pt")["rng_states"]
    assert torch.equal(torch.get_rng_state(), saved["torch"]) and random.getstate() == saved["python"]
    assert np.array_equal(np.random.get_state()[1], saved["numpy"][1].numpy())
    assert torch.equal(updater_b.bc.generator.get_state(), updater_a.bc.generator.get_state())
    assert resumed.logger.tot_timesteps == original.logger.tot_timesteps == 2 * 6 * 4


def test_tensorboard_logs_are_appended_not_overwritten(trained, tmp_path):
    _, run_dir = trained
    for path in run_dir.glob("model_*.pt"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    for path in run_dir.glob("events.out.tfevents.*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.glob("events.out.tfevents.*")}
    resumed, _ = build_tiny_runner(tmp_path, "bc")
    resumed.load(str(tmp_path / "model_1.pt"))
    resumed.learn(1)
    after = {p.name: p.read_bytes() for p in tmp_path.glob("events.out.tfevents.*")}
    assert len(after) == len(before) + 1 and all(after[name] == data for name, data in before.items())
    events = EventAccumulator(str(tmp_path)).Reload()
    assert [e.step for e in events.Scalars("Loss/value")] == [0, 1, 2]


@pytest.mark.parametrize("script", ["train_residual", "train_full_network"])
def test_a_resume_skips_a_corrupt_newest_checkpoint_and_cleans_partial_files(tmp_path, capsys, script):
    """Both separation modes: one checkpoint format, one resume path."""
    train = load_script(script)
    demos, base = crash_resume.prepare_inputs(tmp_path)
    argv = crash_resume.train_args(tmp_path, demos, base, max_iterations=2, save_interval=1)
    assert train.main(argv) == 0
    (run_dir,) = (tmp_path / "logs" / "inril" / "PegInHole-Low").iterdir()
    newest = run_dir / "model_1.pt"
    torn = newest.read_bytes()[:1000]
    newest.write_bytes(torn)  # as if the disk lost the end of the file
    (run_dir / ".model_2.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # left by a kill mid-save
    capsys.readouterr()
    resume = [a if a != "2" else "3" for a in argv] + ["--resume", str(run_dir)]
    with pytest.warns(RuntimeWarning, match="model_1.pt is corrupt"):
        assert train.main(resume) == 0
    out = capsys.readouterr().out
    assert f"resumed {run_dir / 'model_0.pt'} at iteration 1" in out and "removed" in out
    assert not list(run_dir.glob(".*.tmp"))
    assert crash_resume.logged_iterations(out) == [1, 2]  # the iteration count continues
    assert json.loads((run_dir / "summary.json").read_text())["iterations"] == 3
    assert read_checkpoint(run_dir / "model_1.pt")["iter"] == 1 and read_checkpoint(run_dir / "model_2.pt")["iter"] == 2
    assert (run_dir / "model_1.pt.corrupt").read_bytes() == torn  # set aside, not written over


def save_with_cuda_storage_tags(path) -> None:
    """Re-save a checkpoint as a run on a GPU writes it: every storage tagged 'cuda:0' (no GPU needed)."""
    payload = torch.load(path, weights_only=True)
    with mock.patch("torch.serialization.location_tag", lambda storage: "cuda:0"):
        torch.save(payload, path)


def test_a_run_written_on_a_gpu_resumes_on_a_cpu_from_its_newest_checkpoint_and_overwrites_nothing(tmp_path, capsys):
    train = load_script("train_residual")
    demos, base = crash_resume.prepare_inputs(tmp_path)
    argv = crash_resume.train_args(tmp_path, demos, base, max_iterations=2, save_interval=1)
    assert train.main(argv) == 0
    (run_dir,) = (tmp_path / "logs" / "inril" / "PegInHole-Low").iterdir()
    for name in ("model_0.pt", "model_1.pt"):
        save_with_cuda_storage_tags(run_dir / name)
    if not torch.cuda.is_available():  # the files really need a map_location here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(run_dir / "model_1.pt", weights_only=True)
    before = {path.name: path.read_bytes() for path in run_dir.glob("model_*.pt")}
    capsys.readouterr()
    resume = [a if a != "2" else "3" for a in argv] + ["--resume", str(run_dir)]
    assert train.main(resume) == 0
    out = capsys.readouterr().out
    assert f"resumed {run_dir / 'model_1.pt'} at iteration 2" in out
    assert crash_resume.logged_iterations(out) == [2]
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    assert read_checkpoint(run_dir / "model_2.pt")["iter"] == 2 and not list(run_dir.glob("*.corrupt*"))


def test_a_checkpoint_this_machine_cannot_read_is_never_called_corrupt_or_skipped(trained, tmp_path):
    _, run_dir = trained
    for name in ("model_0.pt", "model_1.pt"):
        (tmp_path / name).write_bytes((run_dir / name).read_bytes())
    save_with_cuda_storage_tags(tmp_path / "model_1.pt")
    assert newest_valid_checkpoint(str(tmp_path)) == str(tmp_path / "model_1.pt")  # mapped to the CPU
    # A device this machine lacks: the search stops there instead of falling back to model_0.pt.
    with pytest.raises(CheckpointUnreadable, match="model_1.pt cannot be loaded on cuda:99") as raised:
        newest_valid_checkpoint(str(tmp_path), map_location="cuda:99")
    assert "corrupt" not in str(raised.value)
