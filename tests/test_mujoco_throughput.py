"""The env's fast per-step path: numpy rotation twins agree with inril.utils.rotations, the torch thread count
survives a step, and the throughput bench runs end to end and writes its row."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import torch

from inril.backends.mujoco import make_env
from inril.backends.mujoco import rotations_np as rnp
from inril.utils import rotations as rt

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench" / "env_throughput.py"


def random_rotations(n: int, seed: int) -> np.ndarray:
    """Rotation matrices including angles near 0 and near pi, where the conversions switch branches."""
    rng = np.random.default_rng(seed)
    axis = rnp.normalize(rng.standard_normal((n, 3)))
    angle = np.concatenate((rng.uniform(0, math.pi, n - 4), [0.0, 1e-9, math.pi - 1e-7, math.pi]))[:, None]
    return rnp.axis_angle_to_matrix(axis * angle)


def test_numpy_rotations_agree_with_torch():
    rng = np.random.default_rng(0)
    mats = random_rotations(64, 1)
    quats, rot6d = rng.standard_normal((64, 4)), rng.standard_normal((64, 6))
    vecs = rng.standard_normal((64, 3)) * rng.uniform(0, 3, (64, 1))
    t = torch.from_numpy
    pairs = [
        (rnp.matrix_to_quat(mats), rt.matrix_to_quat(t(mats))),
        (rnp.quat_to_matrix(quats), rt.quat_to_matrix(t(quats))),
        (rnp.rot6d_to_matrix(rot6d), rt.rot6d_to_matrix(t(rot6d))),
        (rnp.axis_angle_to_matrix(vecs), rt.axis_angle_to_matrix(t(vecs))),
        (rnp.quat_to_axis_angle(quats), rt.quat_to_axis_angle(t(quats))),
        (rnp.clip_norm(vecs, 0.5), rt.clip_norm(t(vecs), 0.5)),
        (rnp.cross(vecs, quats[:, :3]), torch.linalg.cross(t(vecs), t(quats[:, :3]), dim=-1)),
    ]
    for ours, reference in pairs:
        np.testing.assert_allclose(ours, reference.numpy(), atol=1e-12, rtol=0)
    # Near pi the axis-angle sign is a branch choice; compare the rotations they stand for.
    np.testing.assert_allclose(rnp.axis_angle_to_matrix(rnp.matrix_to_axis_angle(mats)), mats, atol=1e-6)


def test_step_keeps_the_torch_thread_count():
    env = make_env("PegInHole-Low", 2, seed=0)
    threads = torch.get_num_threads()
    terms = env.obs_terms()
    env.step(torch.cat((terms["ee_pos"], rt.quat_to_rot6d(terms["ee_quat"]), torch.ones(2, 1)), -1))
    assert torch.get_num_threads() == threads


def test_bench_replays_the_envs_physics_and_writes_a_row(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("env_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.jsonl"
    assert bench.main(["--num_envs", "4", "--blocks", "1", "--steps", "2", "--out", str(out)]) == 0
    row = json.loads(out.read_text().splitlines()[-1])
    assert row["bench"] == "env_throughput" and row["num_envs"] == 4 and row["physics"] == "c"
    assert row["env_steps_per_s"] > 0 and row["raw_steps_per_s"] > 0
    assert math.isclose(row["ratio"], row["env_steps_per_s"] / row["raw_steps_per_s"])
    assert "ratio" in capsys.readouterr().out
