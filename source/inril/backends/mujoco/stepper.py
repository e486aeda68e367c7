"""Physics steppers: advance N FULLPHYSICS states (time, qpos, qvel, act) by a number of substeps with given
per-substep controls. `RolloutStepper` runs C MuJoCo in threads (`mujoco.rollout`); `warp_stepper.WarpStepper`
runs the same model on MuJoCo Warp. The env talks to either through `Stepper`."""

from __future__ import annotations

import os
from typing import Protocol

import mujoco
import numpy as np
from mujoco import rollout


class Stepper(Protocol):
    """What the env needs of a physics stepper (C MuJoCo `RolloutStepper` or MuJoCo Warp `WarpStepper`)."""
    def step(self, state: np.ndarray, ctrl: np.ndarray) -> None:
        """Advance every row of `state` ((N, nstate) float64, updated in place) by ctrl.shape[1] substeps, applying
        ctrl[:, k] ((N, nstep, nu) float64) during substep k."""

    def close(self) -> None: ...


class RolloutStepper:
    """C MuJoCo: one `mujoco.rollout` call per `step`, preallocated output, thread-local MjData."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, nstep: int, num_threads: int = 0) -> None:
        threads = min(num_threads or os.cpu_count() or 1, num_envs)
        self.model, self.num_envs, self.nstep = model, num_envs, nstep
        self._pool = rollout.Rollout(nthread=threads if threads > 1 else 0)
        self._datas = [mujoco.MjData(model) for _ in range(threads)]
        self._models = [model] * num_envs
        nstate = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        self._out = np.zeros((num_envs, nstep, nstate))

    def step(self, state: np.ndarray, ctrl: np.ndarray) -> None:
        """`Stepper.step`: one threaded `mujoco.rollout` over all envs; the final states are written into `state`."""
        self._pool.rollout(self._models, self._datas, state, ctrl, skip_checks=True, nstep=self.nstep,
                           state=self._out)
        state[:] = self._out[:, -1]

    def run(self, state: np.ndarray, control: np.ndarray, control_spec: int) -> np.ndarray:
        """Step k <= N states by control.shape[1] substeps of `control_spec` controls (e.g. ctrl and applied
        forces, as resets need); returns the final states (k, nstate)."""
        k, nstep = control.shape[:2]
        out = np.zeros((k, nstep, state.shape[1]))
        self._pool.rollout(self._models[:k], self._datas, state, control, control_spec=control_spec,
                           skip_checks=True, nstep=nstep, state=out)
        return out[:, -1]

    def close(self) -> None:
        """Shut the rollout thread pool down."""
        self._pool.close()
