"""Offscreen rendering of a rollout to MP4: the file decodes to one frame per capture, showing each env's scene."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from inril.backends.mujoco import make_env
from inril.backends.mujoco.render import VideoRecorder, gl_backend
from inril.utils.rotations import quat_to_rot6d


def read_frames(path) -> np.ndarray:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return np.stack([np.frombuffer(f, dtype=np.uint8).reshape(height, width, 3) for f in reader])


def test_rollout_video_has_one_nonblank_frame_per_capture(tmp_path):
    env = make_env("PegInHole-Low", 3, seed=0)
    path = tmp_path / "videos" / "rollout.mp4"
    with VideoRecorder(env, path, env_ids=(0, 2), fps=10, width=96, height=64) as video:
        video.capture()
        for t in range(4):
            terms = env.obs_terms()
            lift = torch.tensor([0.0, 0.0, 0.03 * (t + 1)])
            env.step(torch.cat((terms["ee_pos"] + lift, quat_to_rot6d(terms["ee_quat"]), -torch.ones(3, 1)), -1))
            video.capture()
    frames = read_frames(path)
    assert frames.shape == (5, 64, 2 * 96, 3)  # two tiles side by side
    assert video.frames == 5
    for frame in frames:
        assert frame.std() > 10  # a lit scene, not a blank or uniform image
    left, right = frames[0, :, :96].astype(float), frames[0, :, 96:].astype(float)
    assert np.abs(left - right).mean() > 0.5  # the two envs' parts start at different random poses
    assert np.abs(frames[-1].astype(float) - frames[0].astype(float)).mean() > 0.5  # the arm moved up


def test_bad_arguments_raise_clear_errors(tmp_path):
    env = make_env("PegInHole-Low", 2, seed=0)
    with pytest.raises(ValueError, match="env_ids"):
        VideoRecorder(env, tmp_path / "a.mp4", env_ids=(2,))
    with pytest.raises(ValueError, match="even"):
        VideoRecorder(env, tmp_path / "a.mp4", width=101)
    with pytest.raises(ValueError, match="unknown camera 'top'"):
        VideoRecorder(env, tmp_path / "a.mp4", camera="top")
    assert gl_backend() in ("egl", "osmesa", "glfw")
