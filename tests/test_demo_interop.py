"""Demo files exchanged with robomimic 0.3.0 and Isaac Lab 3.0.0 (issue 17, kind 6): our files in their layout
(read by robomimic's own SequenceDataset, which `./inril.sh setup` installs from requirements-interop.txt), their
files (Isaac Lab's recorder and Mimic layouts, written here by a faithful writer of
isaaclab.utils.datasets.HDF5DatasetFileHandler's layout) read by ours with the right values, filter keys, failed
episodes, quaternion conventions, locked files."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import load_script, make_episodes
from inril.data.demo_reader import load_demos, read_episodes
from inril.data.demos import DemoError, Episode, write_demos

pretrain_bc = load_script("pretrain_bc")


def isaaclab_file(path, episodes: list[dict], format_version: int = 1, env_name: str = "Isaac-Stack-Cube-Franka"):
    """A file as Isaac Lab 3.0.0's HDF5DatasetFileHandler writes it: root attrs format_version (1 = x, y, z, w
    quaternions), data attrs total and env_args {"env_name", "type": 2, "sim_args"} (the recorder manager adds
    its episode metadata), demo_<i> attrs num_samples, seed, success, every entry of the episode's (nested) data
    dict as a gzip dataset or a group. tests_isaaclab/test_isaaclab_datasets.py checks the same reads on files
    Isaac Lab's own writer makes."""

    def write(group, key, value):
        if isinstance(value, dict):
            sub = group.create_group(key)
            for sub_key, sub_value in value.items():
                write(sub, sub_key, sub_value)
        else:
            group.create_dataset(key, data=np.asarray(value), compression="gzip", compression_opts=2)

    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = format_version
        data = f.create_group("data")
        data.attrs["total"] = 0
        data.attrs["env_args"] = json.dumps({"env_name": env_name, "type": 2, "sim_args": {
            "dt": 0.01, "decimation": 2, "render_interval": 2, "num_envs": 1}})
        for i, episode in enumerate(episodes):
            demo = data.create_group(f"demo_{i}")
            demo.attrs["num_samples"] = len(episode["data"]["actions"])
            demo.attrs["seed"] = 7 + i
            demo.attrs["success"] = episode["success"]
            for key, value in episode["data"].items():
                write(demo, key, value)
            data.attrs["total"] += demo.attrs["num_samples"]
    return path


def recorded_episode(rng, length: int, success: bool, flat: bool) -> dict:
    """Isaac Lab's default recorders: actions, flat policy obs (or grouped terms), initial_state and states."""
    quat_xyzw = np.tile([0.0, 0.0, 0.6, 0.8], (length, 1))  # (x, y, z, w)
    terms = {"eef_pos": rng.normal(size=(length, 3)), "eef_quat": quat_xyzw}
    obs = np.concatenate([terms["eef_pos"], terms["eef_quat"]], axis=1) if flat else terms
    return {"success": success, "data": {
        "actions": rng.normal(size=(length, 7)), "obs": obs,
        "initial_state": {"articulation": {"robot": {"joint_position": rng.normal(size=(1, 9))}}},
        "states": {"articulation": {"robot": {"joint_position": rng.normal(size=(length, 9))}}}}}


# Our files in robomimic's layout ----------------------------------------------------------------------------


def test_our_files_carry_next_obs_masks_env_type_and_our_quaternion_convention(demo_file):
    episodes, _, keys = read_episodes(demo_file)
    with h5py.File(demo_file) as f:
        assert f.attrs["format_version"] == 0  # Isaac Lab's code for (w, x, y, z)
        assert f["data"].attrs["quat_order"] == "wxyz"
        assert json.loads(f["data"].attrs["env_args"])["type"] == 2  # robomimic's GYM_TYPE (1 is robosuite)
        for i, episode in enumerate(episodes):
            for key in keys:
                next_obs = f[f"data/demo_{i}/next_obs/{key}"][()]
                assert np.array_equal(next_obs[:-1], episode.obs[key][1:])
                assert np.array_equal(next_obs[-1], episode.obs[key][-1])
        train = [n.decode() for n in f["mask/train"][()]]
        valid = [n.decode() for n in f["mask/valid"][()]]
    assert sorted(train + valid) == sorted(f"demo_{i}" for i in range(4)) and len(valid) == 1


def test_robomimics_own_sequence_dataset_reads_our_files_with_its_defaults_and_filter_keys(demo_file):
    import robomimic.utils.obs_utils as ObsUtils
    from robomimic.utils.dataset import SequenceDataset

    ObsUtils.initialize_obs_modality_mapping_from_dict({"low_dim": ["pos", "vel"]})
    everything = SequenceDataset(hdf5_path=str(demo_file), obs_keys=("pos", "vel"),
                                 dataset_keys=("actions", "rewards", "dones"), seq_length=1)  # load_next_obs=True
    ours = load_demos(demo_file)
    assert len(everything) == ours.num_samples
    item = everything[1]
    assert np.allclose(item["obs"]["pos"][0], ours.obs[0][1, :2])
    assert np.allclose(item["next_obs"]["pos"][0], ours.obs[0][2, :2])
    for key in ("train", "valid"):
        subset = SequenceDataset(hdf5_path=str(demo_file), obs_keys=("pos", "vel"), dataset_keys=("actions",),
                                 seq_length=1, filter_by_attribute=key)
        assert sorted(subset.demos) == sorted(load_demos(demo_file, filter_key=key).names)


# Their files read by ours -------------------------------------------------------------------------------


def test_isaaclab_recorders_flat_obs_is_one_policy_term_and_failures_are_left_out_by_default(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [recorded_episode(rng, 6, success, flat=True) for success in (True, False, True)]
    path = isaaclab_file(tmp_path / "recorded.hdf5", episodes)
    demos = load_demos(path, only_success=True)
    assert demos.obs_layout == [("policy", 7)] and demos.names == ["demo_0", "demo_2"]
    assert np.allclose(demos.obs[1], episodes[2]["data"]["obs"])  # flat: as recorded, no conversion
    assert load_demos(path).num_episodes == 3


def test_mimic_datagen_info_groups_are_left_out_and_xyzw_quaternions_become_wxyz(tmp_path):
    rng = np.random.default_rng(1)
    episodes = [recorded_episode(rng, 5, True, flat=False) for _ in range(2)]
    for episode in episodes:  # Mimic's annotation: nested groups under obs
        episode["data"]["obs"]["datagen_info"] = {"eef_pose": {"franka": rng.normal(size=(5, 4, 4))},
                                                  "subtask_term_signals": {"grasp": np.zeros(5, bool)}}
    path = isaaclab_file(tmp_path / "annotated.hdf5", episodes)
    demos = load_demos(path)
    assert demos.obs_layout == [("eef_pos", 3), ("eef_quat", 4)]
    assert np.allclose(demos.obs[0][:, 3:], [0.8, 0.0, 0.0, 0.6])  # (w, x, y, z)
    legacy = isaaclab_file(tmp_path / "legacy.hdf5", episodes, format_version=0)  # Isaac Lab <= 2: (w, x, y, z)
    assert np.allclose(load_demos(legacy).obs[0][:, 3:], [0.0, 0.0, 0.6, 0.8])


def test_isaaclab_files_recorded_from_an_inril_task_keep_its_wxyz_quaternions(tmp_path):
    # Isaac Lab's writer stamps format_version 1 on every file, also one recorded from our extension's env,
    # whose ee_quat term is (w, x, y, z); the task name in env_args says so, a foreign task's file is converted.
    rng = np.random.default_rng(3)
    episodes = [recorded_episode(rng, 4, True, flat=False)]
    ours = load_demos(isaaclab_file(tmp_path / "ours.hdf5", episodes, env_name="PegInHole-Low"))
    foreign = load_demos(isaaclab_file(tmp_path / "foreign.hdf5", episodes, env_name="Isaac-Stack-Cube-Franka"))
    assert np.allclose(ours.obs[0][:, 3:], [0.0, 0.0, 0.6, 0.8])  # as recorded
    assert np.allclose(foreign.obs[0][:, 3:], [0.8, 0.0, 0.0, 0.6])  # (x, y, z, w) -> (w, x, y, z)


def test_filter_keys_select_the_demos_they_list_in_the_loader_and_the_script(tmp_path, capsys):
    rng = np.random.default_rng(2)
    episodes = [Episode({"state": (x := rng.uniform(-1, 1, size=(12, 2)).astype(np.float32))}, -0.5 * x, True)
                for _ in range(5)]
    path = tmp_path / "five.hdf5"
    write_demos(path, episodes, {"env_name": "Line-v0"})
    with h5py.File(path, "r+") as f:
        del f["mask"]
        f["mask/train"] = np.array([b"demo_0", b"demo_2", b"demo_4"])
        f["mask/valid"] = np.array([b"demo_3"])
    assert load_demos(path, filter_key="train").names == ["demo_0", "demo_2", "demo_4"]
    both = load_demos(path, filter_key="train", val_filter_key="valid")
    assert both.names == ["demo_0", "demo_2", "demo_3", "demo_4"] and both.held_out == [2]
    with pytest.raises(DemoError, match=r"no filter key mask/nope \(the file has \['train', 'valid'\]\)"):
        load_demos(path, filter_key="nope")

    out = tmp_path / "bc"
    assert pretrain_bc.main(["--demos", str(path), "--policy", "gaussian", "--out", str(out), "--steps", "5",
                             "--no-progress", "--filter-key", "train", "--val-filter-key", "valid"]) == 0
    assert "val loss n/a" not in capsys.readouterr().out  # demo_3 was held out by its key
    assert pretrain_bc.main(["--demos", str(path), "--policy", "gaussian", "--out", str(tmp_path / "bc2"),
                             "--filter-key", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no filter key mask/nope" in err[0] and not (tmp_path / "bc2").exists()


def test_failed_episodes_are_left_out_by_the_scripts_unless_kept(demo_file, tmp_path, capsys):
    # conftest's demo_file: episodes 0 and 2 succeeded, 1 and 3 failed
    assert load_demos(demo_file, only_success=True).names == ["demo_0", "demo_2"]
    common = ["--demos", str(demo_file), "--policy", "gaussian", "--steps", "2", "--no-progress",
              "train.val_fraction=0"]
    assert pretrain_bc.main([*common, "--out", str(tmp_path / "a")]) == 0
    assert pretrain_bc.main([*common, "--out", str(tmp_path / "b"), "--keep-failures"]) == 0
    from inril.policies.checkpoint import load_policy
    ranges = [load_policy(tmp_path / run / "policy.pt").policy.action_normalizer.high[0].item() for run in "ab"]
    assert ranges == [2.0, 3.0]  # action[0] is the episode index: the failed demo_3 only counts when kept


# Smaller -------------------------------------------------------------------------------------------------


def test_a_file_held_open_by_another_writer_is_reported_as_locked(tmp_path):
    path = tmp_path / "demos.hdf5"
    write_demos(path, make_episodes(), {"env_name": "Toy-v0"})
    script = "import h5py, sys, time; f = h5py.File(sys.argv[1], 'a'); print('open', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(DemoError, match="is locked by another process") as raised:
            load_demos(path)
        assert "not a readable HDF5 file" not in str(raised.value)
    finally:
        holder.kill()
        holder.wait()
