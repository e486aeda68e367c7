"""Demo files written by Isaac Lab 3.0.0's own dataset writer, read by our loader (issue 17, kind 6).

`isaaclab.utils.datasets.HDF5DatasetFileHandler` + `EpisodeData` are driven as Isaac Lab's recorder manager drives
them: one `EpisodeData.add` per step and recorder term (a tensor, or a dict of tensors the episode nests), the
success flag from a bool tensor's `.item()`, `pre_export()`, the recorder's episode metadata (`sim_args`) added to
env_args, `write_episode`. No simulation is needed. tests/test_demo_interop.py checks the same reads on files
of a hand-written writer of this layout, in the embedded environment.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from isaaclab.utils.datasets import EpisodeData, HDF5DatasetFileHandler

from inril.data.demo_reader import load_demos

LENGTH = 5
QUAT_XYZW = (0.0, 0.0, 0.6, 0.8)  # a rotation about z, in Isaac Lab 3's (x, y, z, w) convention
QUAT_WXYZ = (0.8, 0.0, 0.0, 0.6)  # the same rotation, (w, x, y, z)


def recorded_episode(seed: int, success: bool, flat: bool, quat=QUAT_XYZW) -> EpisodeData:
    """One episode as the recorder manager collects it: initial_state after reset, then per step the actions
    and the policy observations (`PreStepFlatPolicyObservationsRecorder`'s flat group, or a dict of terms)."""
    gen = torch.Generator().manual_seed(seed)
    episode = EpisodeData()
    episode.seed = seed
    episode.add("initial_state", {"articulation": {"robot": {"joint_position": torch.randn(9, generator=gen)}}})
    for _ in range(LENGTH):
        terms = {"eef_pos": torch.randn(3, generator=gen), "eef_quat": torch.tensor(quat),
                 "gripper": torch.randn(1, generator=gen)}
        episode.add("actions", torch.randn(7, generator=gen))
        episode.add("obs", torch.cat(list(terms.values())) if flat else terms)
        episode.add("states", {"articulation": {"robot": {"joint_position": torch.randn(9, generator=gen)}}})
    episode.success = torch.tensor([success]).item()
    episode.pre_export()
    return episode


def write_file(path, episodes: list[EpisodeData], env_name: str, compression: bool = True) -> str:
    handler = HDF5DatasetFileHandler()
    handler.create(str(path), env_name=env_name)
    handler.add_env_args({"sim_args": {"dt": 0.01, "decimation": 2, "render_interval": 2, "num_envs": 1}})
    for episode in episodes:
        handler.write_episode(episode, None, compression)
    handler.flush()
    handler.close()
    return str(path)


def test_the_writer_stamps_format_version_1_gym_type_and_per_demo_success(tmp_path):
    path = write_file(tmp_path / "demos.hdf5", [recorded_episode(0, True, flat=False),
                                                  recorded_episode(1, False, flat=False)], "Isaac-Stack-Cube-Franka")
    with h5py.File(path) as f:
        assert f.attrs["format_version"] == 1  # (x, y, z, w) quaternions
        env_args = json.loads(f["data"].attrs["env_args"])
        assert env_args["env_name"] == "Isaac-Stack-Cube-Franka" and env_args["type"] == 2
        assert f["data"].attrs["total"] == 2 * LENGTH and "obs_keys" not in f["data"].attrs
        assert [bool(f[f"data/demo_{i}"].attrs["success"]) for i in range(2)] == [True, False]
        assert f["data/demo_0/obs/eef_quat"].shape == (LENGTH, 4) and "mask" not in f


def test_obs_terms_by_name_with_xyzw_quaternions_converted_and_failures_left_out(tmp_path):
    episodes = [recorded_episode(i, success, flat=False) for i, success in enumerate((True, False, True))]
    path = write_file(tmp_path / "terms.hdf5", episodes, "Isaac-Stack-Cube-Franka")
    demos = load_demos(path, only_success=True)
    assert demos.names == ["demo_0", "demo_2"]  # demo_1 failed
    assert demos.obs_layout == [("eef_pos", 3), ("eef_quat", 4), ("gripper", 1)]  # no obs_keys: sorted by name
    recorded = episodes[2].data["obs"]
    assert np.allclose(demos.obs[1][:, :3], recorded["eef_pos"].numpy())
    assert np.allclose(demos.obs[1][:, 3:7], QUAT_WXYZ)
    assert np.allclose(demos.obs[1][:, 7:], recorded["gripper"].numpy())
    assert np.allclose(demos.actions[1], episodes[2].data["actions"].numpy())
    kept = load_demos(path, obs_keys=["gripper", "eef_pos"])  # an order asked for, failures kept
    assert kept.names == ["demo_0", "demo_1", "demo_2"] and kept.success == [True, False, True]
    assert np.allclose(kept.obs[1][:, 0], episodes[1].data["obs"]["gripper"].numpy()[:, 0])


@pytest.mark.parametrize("compression", [True, False])
def test_flat_policy_obs_is_one_term_as_recorded(tmp_path, compression):
    episodes = [recorded_episode(i, True, flat=True) for i in range(2)]
    path = write_file(tmp_path / "flat.hdf5", episodes, "Isaac-Stack-Cube-Franka", compression)
    demos = load_demos(path)
    assert demos.obs_layout == [("policy", 8)]
    assert np.allclose(demos.obs[1], episodes[1].data["obs"].numpy())  # the whole group, not converted


def test_a_file_recorded_from_an_inril_task_keeps_its_wxyz_quaternions(tmp_path):
    # Our extension's observation terms are (w, x, y, z); Isaac Lab's writer still stamps format_version 1.
    # The recorder manager names the file's env by `env.cfg.env_name`, which our task configs set.
    from inril_isaac.tasks.assembly.env_cfg import PegInHoleLowEnvCfg

    env_name = getattr(PegInHoleLowEnvCfg(), "env_name", None)
    assert env_name == "PegInHole-Low"
    ours = write_file(tmp_path / "ours.hdf5", [recorded_episode(0, True, flat=False, quat=QUAT_WXYZ)], env_name)
    foreign = write_file(tmp_path / "foreign.hdf5", [recorded_episode(0, True, flat=False, quat=QUAT_XYZW)],
                         "Isaac-Stack-Cube-Franka")
    with h5py.File(ours) as f:
        assert f.attrs["format_version"] == 1
    assert np.allclose(load_demos(ours).obs[0][:, 3:7], QUAT_WXYZ)  # as recorded
    assert np.allclose(load_demos(foreign).obs[0][:, 3:7], QUAT_WXYZ)  # converted from (x, y, z, w)
