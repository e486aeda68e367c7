"""scripts/collect_demos.py: expert demos written in the project's HDF5 format, failures filtered, clear errors."""

from __future__ import annotations

import numpy as np
import torch

from conftest import load_script
from inril.backends.mujoco import make_env
from inril.data.demo_reader import read_episodes
from inril.tasks import get_task
from inril.utils.rotations import rot6d_to_matrix

collect_demos = load_script("collect_demos")


def test_collects_successful_demos_in_the_demo_format(tmp_path, capsys):
    out = tmp_path / "peg.hdf5"
    args = ["--task", "PegInHole-Low", "--num-demos", "3", "--num-envs", "3", "--out", str(out)]
    assert collect_demos.main(args) == 0
    assert "expert success rate on PegInHole-Low" in capsys.readouterr().out
    episodes, env_meta, obs_keys = read_episodes(out)
    spec = get_task("PegInHole-Low")
    assert env_meta["env_name"] == "PegInHole-Low" and env_meta["env_kwargs"]["seed"] == 0
    assert obs_keys == [name for name, _ in spec.observation_layout]
    assert len(episodes) == 3
    for ep in episodes:
        assert ep.success and ep.rewards.sum() == 1.0 and ep.rewards[-1] == 1.0  # the last action seats the peg
        assert ep.actions.shape == (ep.num_samples, 10)
        for name, dim in spec.observation_layout:
            assert ep.obs[name].shape == (ep.num_samples, dim)
        rot = rot6d_to_matrix(torch.from_numpy(ep.actions[:, 3:9]).double())
        np.testing.assert_allclose(ep.actions[:, 3:9], rot[..., :2].transpose(-1, -2).reshape(-1, 6), atol=1e-5)
        assert set(np.sign(ep.actions[:, 9])) == {-1.0, 1.0}  # opens, then closes to grasp

    # Row 0 is the observation the first action was taken from. The first demo to finish is some env's first
    # episode, so its row 0 is that env's observation right after the initial reset.
    env = make_env("PegInHole-Low", 3, seed=0)
    reset_rows = env.obs_terms()["parts_poses"].numpy()
    assert np.abs(reset_rows - episodes[0].obs["parts_poses"][0]).max(axis=1).min() < 1e-6


def test_reports_bad_requests(tmp_path, capsys):
    out = tmp_path / "x.hdf5"
    assert collect_demos.main(["--task", "Nope-Low", "--num-demos", "1", "--out", str(out)]) == 2
    assert "known tasks" in capsys.readouterr().err
    assert collect_demos.main(["--task", "PegInHole-Low", "--num-demos", "0", "--out", str(out)]) == 2
    missing_dir = tmp_path / "no" / "x.h5"
    assert collect_demos.main(["--task", "PegInHole-Low", "--num-demos", "1", "--out", str(missing_dir)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()
