"""MuJoCo Warp stepper: the env's MJCF model on `mujoco_warp` with one world per env.

Needs the optional packages `mujoco-warp` and `warp-lang`. On CUDA the substeps of a control step are captured
once into a CUDA graph and replayed, ordered against torch's current stream by stream waits, so torch tensors go
in and come out on the GPU without host copies or host syncs (`step_torch`). Warp's `cpu` device runs the same
kernels single-threaded (slow, but it lets CPU-only machines test this path; the first use compiles the kernels,
about 30 s to 2 min, cached in ~/.cache/warp). Warp computes in float32. Contact and constraint capacities are
per world (`nconmax`, `njmax`): above MuJoCo Warp's defaults; raise them if it reports an overflow.
"""

from __future__ import annotations

import mujoco
import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp


@wp.kernel
def _copy_substep_ctrl(seq: wp.array3d(dtype=float), substep: int, ctrl: wp.array2d(dtype=float)):
    world, actuator = wp.tid()
    ctrl[world, actuator] = seq[world, substep, actuator]


class WarpStepper:
    """`Stepper` on MuJoCo Warp. `device` is a torch/warp device string: "cuda:0" or Warp's "cpu"."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, nstep: int, device: str = "cuda:0",
                 nconmax: int = 64, njmax: int = 256) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.model, self.num_envs, self.nstep = model, num_envs, nstep
        self._wp_device = wp.get_device(str(self.device))
        with wp.ScopedDevice(self._wp_device):
            self._m = mjw.put_model(model)
            self._d = mjw.make_data(model, nworld=num_envs, nconmax=nconmax, njmax=njmax)
            self._ctrl_seq = wp.zeros((num_envs, nstep, model.nu), dtype=float)
        # Torch views of the Warp buffers (shared memory): writing them sets the simulation state.
        d = self._d
        self._time, self._qpos, self._qvel, self._act = (wp.to_torch(a) for a in (d.time, d.qpos, d.qvel, d.act))
        self._ctrl_view = wp.to_torch(self._ctrl_seq)
        self._graph = None

    def _substeps(self) -> None:
        for k in range(self.nstep):
            wp.launch(_copy_substep_ctrl, dim=(self.num_envs, self.model.nu), inputs=[self._ctrl_seq, k, self._d.ctrl])
            mjw.step(self._m, self._d)

    def step_torch(self, state: torch.Tensor, ctrl: torch.Tensor) -> torch.Tensor:
        """state (N, nstate) FULLPHYSICS and ctrl (N, nstep, nu), any float dtype and device -> the states after
        nstep substeps, (N, nstate) float32 on this stepper's device."""
        nq, nv = self.model.nq, self.model.nv
        state = state.to(self.device, torch.float32)
        self._time.copy_(state[:, 0])
        self._qpos.copy_(state[:, 1 : 1 + nq])
        self._qvel.copy_(state[:, 1 + nq : 1 + nq + nv])
        self._act.copy_(state[:, 1 + nq + nv :])
        self._ctrl_view.copy_(ctrl)
        if self.device.type == "cuda":
            # Warp runs on its own stream (graphs cannot be captured on torch's legacy default stream); stream
            # waits order the copies above before the graph and its results before the read below, without a
            # host sync.
            torch_stream, warp_stream = wp.stream_from_torch(self.device), wp.get_stream(self._wp_device)
            warp_stream.wait_stream(torch_stream)
            with wp.ScopedDevice(self._wp_device):
                if self._graph is None:
                    with wp.ScopedCapture() as capture:
                        self._substeps()
                    self._graph = capture.graph
                wp.capture_launch(self._graph)
            torch_stream.wait_stream(warp_stream)
        else:
            with wp.ScopedDevice(self._wp_device):
                self._substeps()
        return torch.cat((self._time[:, None], self._qpos, self._qvel, self._act), dim=-1)

    def step(self, state: np.ndarray, ctrl: np.ndarray) -> None:
        """`Stepper.step` on numpy arrays, through `step_torch` (copies to the Warp device and back)."""
        state[:] = self.step_torch(torch.from_numpy(state), torch.from_numpy(ctrl)).cpu().numpy()

    def close(self) -> None:
        """Drop the captured CUDA graph."""
        self._graph = None
