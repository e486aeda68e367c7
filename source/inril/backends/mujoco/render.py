"""Offscreen rendering of a MuJoCo VecEnv rollout to an MP4.

    with VideoRecorder(env, "play.mp4", env_ids=(0, 1, 2, 3)) as video:
        video.capture()
        for _ in range(steps):
            env.step(policy(obs))
            video.capture()

Each capture renders the selected envs' current physics states from the scene's camera with MuJoCo's OpenGL
renderer (MjrContext) and writes them as one frame, tiled in a grid, through imageio-ffmpeg (H.264).

OpenGL platform: MUJOCO_GL when set (egl, osmesa or glfw), else the first of EGL, OSMesa and (with a display)
GLFW that can render here. The platform is probed in a child process because PyOpenGL binds one platform per
process, so a failed attempt in this process would rule out the others. Headless Debian needs either
libegl1 + libgl1-mesa-dri (EGL, GPU or Mesa's software rasteriser) or libosmesa6 (OSMesa).
"""

from __future__ import annotations

import copy
import functools
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import imageio_ffmpeg
import mujoco
import numpy as np
import torch
from tensordict import TensorDict

from inril.backends.mujoco.vec_env import MujocoVecEnv
from inril.backends.wrappers import VecEnvWrapper

GL_BACKENDS = ("egl", "osmesa", "glfw")

_PROBE = """
import sys
import mujoco
from mujoco.{backend} import GLContext
context = GLContext(16, 16)
context.make_current()
model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='0.1'/></worldbody></mujoco>")
mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150).free()
context.free()
"""


def _probe(backend: str) -> str | None:
    """None when `backend` renders in a fresh process, else the reason it does not."""
    env = {**os.environ, "MUJOCO_GL": backend}
    env.pop("PYOPENGL_PLATFORM", None)
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE.format(backend=backend)], env=env,
                                capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "timed out"
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


@functools.cache
def gl_backend() -> str:
    """The OpenGL platform offscreen rendering uses in this process (see the module notes)."""
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested:
        if requested not in GL_BACKENDS:
            raise RuntimeError(f"MUJOCO_GL={requested!r} cannot render offscreen here; use one of {GL_BACKENDS}")
        return requested
    candidates = [b for b in GL_BACKENDS if b != "glfw" or os.environ.get("DISPLAY")]
    failures = {}
    for backend in candidates:
        failure = _probe(backend)
        if failure is None:
            return backend
        failures[backend] = failure
    reasons = "; ".join(f"{b}: {why}" for b, why in failures.items())
    raise RuntimeError(
        f"no OpenGL platform can render offscreen ({reasons}). On Debian/Ubuntu install libegl1 and "
        "libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa), or set MUJOCO_GL to a working platform."
    )


def _gl_context(width: int, height: int):
    backend = gl_backend()
    if backend == "egl":
        from mujoco.egl import GLContext
    elif backend == "osmesa":
        from mujoco.osmesa import GLContext
    else:
        from mujoco.glfw import GLContext
    return GLContext(width, height)


class VideoRecorder:
    """Writes frames of `env_ids` (a grid of tiles, each width x height pixels) to an MP4 at `path`."""

    def __init__(
        self,
        env: MujocoVecEnv,
        path: str | Path,
        env_ids: Sequence[int] = (0,),
        fps: int = 10,
        width: int = 320,
        height: int = 240,
        camera: str = "front",
    ) -> None:
        ids = [int(i) for i in env_ids]
        if not ids or any(not 0 <= i < env.num_envs for i in ids):
            raise ValueError(f"env_ids must be a non-empty list of envs in [0, {env.num_envs}), got {list(env_ids)}")
        if width < 16 or height < 16 or width % 2 or height % 2:
            raise ValueError(f"width and height must be even and >= 16 (H.264), got {width}x{height}")
        if fps < 1:
            raise ValueError(f"fps must be >= 1, got {fps}")
        cameras = [env.model.camera(i).name for i in range(env.model.ncam)]
        if camera not in cameras:
            raise ValueError(f"unknown camera {camera!r}; the scene has {cameras}")
        self.env, self.env_ids, self.path = env, ids, Path(path)
        self.width, self.height = width, height
        self.cols = math.ceil(math.sqrt(len(ids)))
        self.rows = math.ceil(len(ids) / self.cols)
        self.frames = 0

        # A private model copy with an offscreen buffer large enough for the tile size.
        self._model = copy.copy(env.model)
        self._model.vis.global_.offwidth = max(width, self._model.vis.global_.offwidth)
        self._model.vis.global_.offheight = max(height, self._model.vis.global_.offheight)
        self._data = mujoco.MjData(self._model)
        self._context = _gl_context(width, height)
        self._context.make_current()
        self._mjr = mujoco.MjrContext(self._model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._mjr)
        self._scene = mujoco.MjvScene(self._model, maxgeom=1000)
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = self._model.camera(camera).id
        self._viewport = mujoco.MjrRect(0, 0, width, height)
        self._tile = np.empty((height, width, 3), dtype=np.uint8)
        self._frame = np.zeros((self.rows * height, self.cols * width, 3), dtype=np.uint8)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = imageio_ffmpeg.write_frames(
            str(self.path), (self.cols * width, self.rows * height), fps=fps, macro_block_size=2,
        )
        self._writer.send(None)  # starts ffmpeg

    def render(self, env_id: int) -> np.ndarray:
        """(height, width, 3) uint8 image of one env's current physics state."""
        state = self.env.physics_state[env_id]
        mujoco.mj_setState(self._model, self._data, state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        mujoco.mj_forward(self._model, self._data)
        self._context.make_current()
        mujoco.mjv_updateScene(self._model, self._data, self._option, None, self._camera,
                               mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        mujoco.mjr_render(self._viewport, self._scene, self._mjr)
        mujoco.mjr_readPixels(self._tile, None, self._viewport, self._mjr)
        return np.flipud(self._tile)  # OpenGL's rows run bottom-up

    def capture(self) -> None:
        """Append one frame showing every selected env now."""
        for k, env_id in enumerate(self.env_ids):
            row, col = divmod(k, self.cols)
            self._frame[row * self.height : (row + 1) * self.height, col * self.width : (col + 1) * self.width] = (
                self.render(env_id)
            )
        self._writer.send(np.ascontiguousarray(self._frame))
        self.frames += 1

    def close(self) -> None:
        """Finish the MP4 and free the rendering context; calling it again does nothing."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        self._context.make_current()
        self._mjr.free()
        self._context.free()

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class RecordingVecEnv(VecEnvWrapper):
    """A MujocoVecEnv that writes a frame to `recorder` after the start and after every step, for the
    first `max_frames` frames: evaluation code runs on it unchanged (play --video, train --video)."""

    def __init__(self, env: MujocoVecEnv, recorder: VideoRecorder, max_frames: int):
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        super().__init__(env)
        self.recorder, self.max_frames = recorder, max_frames
        self._capture()

    def _capture(self) -> None:
        if self.recorder.frames < self.max_frames:
            self.recorder.capture()

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """The inner env's step, then one frame (until `max_frames` are written)."""
        result = self.env.step(actions)
        self._capture()
        return result

    def close(self) -> None:
        """Finish the MP4, then close the env."""
        self.recorder.close()
        self.env.close()
