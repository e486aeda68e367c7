from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import make_episodes
from inril.data.demo_reader import load_demos, read_episodes
from inril.data.demos import DemoError, Episode, write_demos


def test_write_read_round_trip(tmp_path):
    episodes = make_episodes(num=3, length=7)
    path = tmp_path / "d.hdf5"
    write_demos(path, episodes, {"env_name": "Toy-v0", "env_kwargs": {"level": "low"}}, obs_keys=["vel", "pos"])
    read, meta, keys = read_episodes(path)
    assert keys == ["vel", "pos"]  # recorded order, not HDF5's alphabetical order
    assert meta == {"env_name": "Toy-v0", "type": 2, "env_kwargs": {"level": "low"}}
    assert len(read) == 3
    for a, b in zip(episodes, read):
        np.testing.assert_array_equal(a.actions, b.actions)
        for k in keys:
            np.testing.assert_array_equal(a.obs[k], b.obs[k])
        assert (a.success, a.seed) == (b.success, b.seed)


def test_robomimic_layout_attributes(demo_file):
    with h5py.File(demo_file) as f:
        assert f["data"].attrs["total"] == 4 * 12
        demo = f["data/demo_0"]
        assert demo.attrs["num_samples"] == 12 and bool(demo.attrs["success"]) is True
        assert demo["actions"].shape == (12, 2) and demo["obs/pos"].shape == (12, 2)
        assert demo["dones"][-1] == 1 and demo["dones"][:-1].sum() == 0


def test_load_concatenates_in_recorded_order_and_selects_keys(demo_file):
    demos = load_demos(demo_file)
    assert demos.obs_keys == ["pos", "vel"] and demos.obs_key_dims == [2, 1]
    assert (demos.obs_dim, demos.action_dim, demos.num_episodes, demos.num_samples) == (3, 2, 4, 48)
    only_vel = load_demos(demo_file, obs_keys=["vel"])
    np.testing.assert_array_equal(only_vel.obs[1], demos.obs[1][:, 2:])
    assert load_demos(demo_file, only_success=True).num_episodes == 2


def test_plain_robomimic_file_without_our_attributes(tmp_path):
    """A file written by another tool (no obs_keys, no env_args, demo_10 after demo_2) loads."""
    path = tmp_path / "foreign.hdf5"
    with h5py.File(path, "w") as f:
        for i in (2, 10, 0):
            f.create_dataset(f"data/demo_{i}/actions", data=np.full((5, 3), i, np.float64))
            f.create_dataset(f"data/demo_{i}/obs/zeta", data=np.zeros(5))  # (T,) scalar term
            f.create_dataset(f"data/demo_{i}/obs/alpha", data=np.ones((5, 2)))
    demos = load_demos(path)
    assert demos.names == ["demo_0", "demo_2", "demo_10"]
    assert demos.obs_keys == ["alpha", "zeta"] and demos.obs_dim == 3
    assert demos.actions[2][0, 0] == 10


def _write_raw(path, mutate):
    episodes = make_episodes(num=2, length=6)
    write_demos(path, episodes, {"env_name": "Toy-v0"})
    with h5py.File(path, "a") as f:
        mutate(f)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.move("data", "other"), "no 'data' group"),
        (lambda f: [f["data"].pop(k) for k in list(f["data"])], "no demo_<i> groups"),
        (lambda f: (f["data/demo_1"].pop("actions"), f["data/demo_1"].create_dataset("actions", data=np.zeros((6, 5)))), "action dim 5"),
        (lambda f: (f["data/demo_1/obs"].pop("pos"), f["data/demo_1/obs"].create_dataset("pos", data=np.zeros((6, 4)))), "dim 4"),
        (lambda f: f["data/demo_0/obs/vel"].__setitem__((3, 0), np.nan), "NaN"),
        (lambda f: f["data/demo_1/actions"].__setitem__((0, 1), np.inf), "NaN or inf"),
        (lambda f: (f["data/demo_1"].pop("actions"),), "has no 'actions'"),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path, mutate, message):
    path = tmp_path / "bad.hdf5"
    _write_raw(path, mutate)
    with pytest.raises(DemoError, match=message):
        load_demos(path)


def test_empty_demo_is_rejected(tmp_path):
    path = tmp_path / "empty.hdf5"
    write_demos(path, make_episodes(num=2, length=6), {"env_name": "Toy-v0"})
    with h5py.File(path, "a") as f:
        for key in ("actions", "obs/pos", "obs/vel"):
            del f[f"data/demo_1/{key}"]
            f.create_dataset(f"data/demo_1/{key}", data=np.zeros((0, 2 if key != "obs/vel" else 1)))
    with pytest.raises(DemoError, match="demo_1 is empty"):
        load_demos(path)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DemoError, match="does not exist"):
        load_demos(tmp_path / "nope.hdf5")
    corrupt = tmp_path / "corrupt.hdf5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 100)
    with pytest.raises(DemoError, match="not a readable HDF5"):
        load_demos(corrupt)


def test_unknown_obs_key_lists_available(demo_file):
    with pytest.raises(DemoError, match=r"unknown obs keys \['nope'\].*available: \['pos', 'vel'\]"):
        load_demos(demo_file, obs_keys=["nope"])


def test_writer_rejects_bad_episodes_and_leaves_nothing(tmp_path):
    good = make_episodes(num=2, length=5)
    nan = make_episodes(num=1, length=5)[0]
    nan.actions[2, 0] = np.nan
    cases = [
        ([], "no episodes"),
        ([good[0], nan], "episode 1 actions: contains NaN"),
        ([good[0], Episode(good[1].obs, good[1].actions[:, :1], True)], "action dim 1"),
        ([Episode({k: v[:0] for k, v in good[0].obs.items()}, good[0].actions[:0], True)], "episode 0 is empty"),
        ([Episode({"pos": good[0].obs["pos"]}, good[0].actions, True), good[1]], "obs keys"),
    ]
    for episodes, message in cases:
        with pytest.raises(DemoError, match=message):
            write_demos(tmp_path / "out.hdf5", episodes, {"env_name": "Toy-v0"})
    assert list(tmp_path.iterdir()) == []  # no partial or temporary files left behind
