"""Batched MuJoCo environment implementing rsl-rl-lib's VecEnv contract.

All N copies share one MjModel; their full physics states live in one (N, nstate) array that `mujoco.rollout`
steps in C threads (one call per control step, preallocated buffers, no per-env Python). Observations, the IK
controller and the assembly check run batched in torch on the state array. Actions and observations are in raw
task units; normalization belongs to the policy side.

Episodes end on success or when a part falls off the table (terminal), or on the time limit (truncation, flagged
in extras["time_outs"]). An env whose state turns non-finite or explodes is reset on its own, reported as a
truncation and counted in extras["log"]["/nan_resets"]; the other envs are unaffected.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields

import mujoco
import numpy as np
import torch
from mujoco import rollout
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.envs.mujoco.controller import ACTION_DIM, DiffIKConfig, DiffIKController, split_action
from inril.envs.mujoco.franka import FINGER_TRAVEL, HOME_JOINTS, JOINT_LIMITS
from inril.envs.mujoco.kinematics import tcp_pose_and_jacobian
from inril.envs.mujoco.scene import SceneLayout, SimConfig, build_scene
from inril.tasks.assembly import AssemblyChecker
from inril.tasks.registry import get_task
from inril.tasks.spec import TaskSpec
from inril.utils.rotations import matrix_to_quat, quat_canonical, quat_to_matrix

MAX_SEED = 2**63 - 1


def _check_device(device: str) -> None:
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device string such as 'cpu' or 'cuda:0', got {device!r}") from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use 'cpu'")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:i]', got {device!r}")


@dataclass
class MujocoEnvConfig:
    task: str
    num_envs: int
    seed: int
    device: str = "cpu"
    episode_length: int | None = None  # control steps; None = the task's documented length
    num_threads: int = 0  # 0 = one per CPU core
    settle_time: float = 0.3  # s simulated at reset before the episode clock starts
    perturb_time: float = 0.015  # s the random reset forces act, about one FurnitureBench physics frame (1/60 s)
    terminate_on_success: bool = True
    max_speed: float = 50.0  # any |qvel| above this (rad/s or m/s) counts as an exploded simulation
    drop_height: float = 0.05  # a part this far below the table top fell off it: the episode fails (terminal)
    sim: SimConfig = field(default_factory=SimConfig)
    controller: DiffIKConfig = field(default_factory=DiffIKConfig)

    def __post_init__(self) -> None:
        get_task(self.task)  # raises with the list of known names
        if isinstance(self.num_envs, bool) or not isinstance(self.num_envs, int) or self.num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {self.num_envs!r}")
        integer_seed = isinstance(self.seed, (int, np.integer)) and not isinstance(self.seed, bool)
        if not integer_seed or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an int in [0, 2**63 - 1], got {self.seed!r}")
        _check_device(self.device)
        if self.episode_length is not None and (not isinstance(self.episode_length, int) or self.episode_length < 1):
            raise ValueError(f"episode_length must be a positive int or None, got {self.episode_length!r}")
        if not isinstance(self.num_threads, int) or self.num_threads < 0:
            raise ValueError(f"num_threads must be an int >= 0 (0 = one per core), got {self.num_threads!r}")
        if not (math.isfinite(self.settle_time) and 0 <= self.perturb_time <= self.settle_time):
            raise ValueError(f"need 0 <= perturb_time <= settle_time, got {self.perturb_time} and {self.settle_time}")
        if not self.max_speed > 0 or not self.drop_height > 0:
            raise ValueError("max_speed and drop_height must be > 0")
        period = 1.0 / get_task(self.task).control_hz
        substeps = period / self.sim.timestep
        if abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(
                f"the control period {period} s must be a whole number of sim.timestep {self.sim.timestep} s"
            )


class MujocoVecEnv(VecEnv):
    """N copies of a task scene behind rsl-rl's VecEnv: observation groups `policy` (the task's observation layout)
    and `critic` (plus privileged part velocities), 10-D absolute tool-pose actions, sparse assembly rewards."""

    def __init__(self, cfg: MujocoEnvConfig) -> None:
        self.cfg = cfg
        self.task: TaskSpec = get_task(cfg.task)
        self.mj_spec = build_scene(self.task, cfg.sim)
        self.model = self.mj_spec.compile()
        self.layout = SceneLayout.from_model(self.model, self.task)
        self.num_envs = cfg.num_envs
        self.num_actions = ACTION_DIM
        self.max_episode_length = cfg.episode_length or self.task.episode_length
        self.device = torch.device(cfg.device)
        self.substeps = round(1.0 / (self.task.control_hz * cfg.sim.timestep))
        self.controller = DiffIKController(cfg.controller)
        self.checker = AssemblyChecker(self.task)

        n, lay = self.num_envs, self.layout
        threads = min(cfg.num_threads or os.cpu_count() or 1, n)
        self._pool = rollout.Rollout(nthread=threads if threads > 1 else 0)
        self._datas = [mujoco.MjData(self.model) for _ in range(threads)]
        self._models = [self.model] * n
        self._state = np.zeros((n, lay.nstate))
        self._ctrl = np.zeros((n, self.substeps, lay.nu))
        self._out = np.zeros((n, self.substeps, lay.nstate))
        self._ramp = np.arange(1, self.substeps + 1) / self.substeps
        self._template = self._initial_state_template()
        self._settle_steps = round(cfg.settle_time / cfg.sim.timestep)
        self._perturb_steps = round(cfg.perturb_time / cfg.sim.timestep)
        self._settle_spec = int(mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED)
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(n)]

        self._part_qpos_idx = torch.from_numpy(1 + lay.part_qpos[:, None] + np.arange(7))  # (P, 7) into the state
        self._part_qvel_idx = torch.from_numpy(1 + lay.nq + lay.part_qvel[:, None] + np.arange(6))
        self._arm_q_idx = torch.from_numpy(1 + lay.arm_qpos)
        self._arm_qd_idx = torch.from_numpy(1 + lay.nq + lay.arm_qvel)
        self._finger_idx = torch.from_numpy(1 + lay.finger_qpos)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.assembled = torch.zeros(n, len(self.task.pairs), dtype=torch.bool)
        self.nan_reset_count = 0
        self._terms: dict[str, torch.Tensor] = {}
        self._obs: TensorDict | None = None
        self.reset()

    # ------------------------------------------------------------------ public API

    @property
    def physics_state(self) -> np.ndarray:
        """The (num_envs, nstate) MuJoCo FULLPHYSICS states (time, qpos, qvel). Writable: tools and tests may
        change it between steps; `layout.qpos_slice` / `qvel_slice` index it."""
        return self._state

    def reset(self) -> TensorDict:
        """Start a new episode in every env and return the observations."""
        self._reset_envs(np.arange(self.num_envs))
        self._update_observations()
        return self.get_observations()

    def get_observations(self) -> TensorDict:
        assert self._obs is not None
        return self._obs

    def obs_terms(self) -> dict[str, torch.Tensor]:
        """The current observations split by term (name -> (num_envs, dim) float32), in the layout's order."""
        return dict(self._terms)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        if tuple(actions.shape) != (self.num_envs, self.num_actions):
            expected = (self.num_envs, self.num_actions)
            raise ValueError(f"actions must have shape {expected}, got {tuple(actions.shape)}")
        self._apply_actions(actions.detach().to("cpu", torch.float64))
        start_time = self._state[:, 0].copy()
        self._pool.rollout(
            self._models, self._datas, self._state, self._ctrl,
            skip_checks=True, nstep=self.substeps, state=self._out,
        )
        self._state[:] = self._out[:, -1]
        unstable = torch.from_numpy(self._unstable(start_time))

        part_pos, part_quat = self._part_poses()
        now = self.checker.check(part_pos, part_quat) & ~unstable[:, None]
        newly = now & ~self.assembled
        self.assembled |= now
        rewards = newly.sum(-1).to(torch.float32)
        success = self.assembled.all(-1)

        dropped = (part_pos[..., 2] < -self.cfg.drop_height).any(-1) & ~unstable

        self.episode_length_buf += 1
        time_out = self.episode_length_buf.cpu() >= self.max_episode_length
        terminated = (success & self.cfg.terminate_on_success) | dropped
        truncated = (time_out | unstable) & ~terminated
        dones = terminated | truncated
        log: dict[str, float | torch.Tensor] = {
            "/nan_resets": float(unstable.sum()),
            "/parts_dropped": float(dropped.sum()),
        }
        if dones.any():
            log["/success"] = success[dones].to(torch.float32).to(self.device)  # one entry per finished episode
        self.nan_reset_count += int(unstable.sum())

        done_ids = np.flatnonzero(dones.numpy())
        if done_ids.size:
            self._reset_envs(done_ids)
        self._update_observations()
        extras = {"time_outs": truncated.to(self.device), "log": log}
        return self.get_observations(), rewards.to(self.device), dones.to(self.device, torch.long), extras

    def close(self) -> None:
        self._pool.close()

    # ------------------------------------------------------------------ stepping

    def _apply_actions(self, actions: torch.Tensor) -> None:
        state = torch.from_numpy(self._state)
        q = state[:, self._arm_q_idx]
        finite = torch.isfinite(actions).all(-1)
        # A non-finite action holds the arm where it is instead of poisoning the simulation (the IK rows are
        # independent, so its NaNs stay in its own row and are replaced below).
        target_pos, target_rot, close = split_action(actions)
        cached_q, kinematics = self._kinematics
        fresh = torch.equal(cached_q, q)  # false when a tool wrote physics_state since the last observation
        q_target = self.controller.joint_targets(q, target_pos, target_rot, kinematics if fresh else None)
        q_target = torch.where(finite[:, None], q_target, q)
        fingers = torch.where(finite[:, None], self.controller.finger_targets(close), state[:, self._finger_idx])
        # Ramp the servo setpoints from the previous targets across the substeps: a step change every 100 ms would
        # jerk the arm (tens of m/s^2) and shake grasped parts loose.
        previous = self._ctrl[:, -1].copy()
        target = torch.cat((q_target, fingers), dim=-1).numpy()
        self._ctrl[:] = previous[:, None, :] + self._ramp[None, :, None] * (target - previous)[:, None, :]

    def _unstable(self, start_time: np.ndarray) -> np.ndarray:
        """Envs whose step diverged. MuJoCo resets a diverging MjData itself and `rollout` then freezes that row,
        so a clock that did not advance by exactly one control period is the tell-tale, besides non-finite or
        exploding velocities."""
        state = self._state
        period = self.substeps * self.cfg.sim.timestep
        with np.errstate(invalid="ignore"):
            bad_clock = ~(np.abs(state[:, 0] - start_time - period) < 0.5 * self.cfg.sim.timestep)
            too_fast = ~(np.abs(state[:, self.layout.qvel_slice]).max(-1) < self.cfg.max_speed)
        return bad_clock | too_fast | ~np.isfinite(state).all(-1)

    # ------------------------------------------------------------------ resets

    def _initial_state_template(self) -> np.ndarray:
        """FULLPHYSICS state with the arm at its ready pose, fingers open and parts at their nominal poses."""
        data = mujoco.MjData(self.model)
        lay = self.layout
        data.qpos[lay.arm_qpos] = HOME_JOINTS
        data.qpos[lay.finger_qpos] = FINGER_TRAVEL
        for part, adr in zip(self.task.parts, lay.part_qpos):
            data.qpos[adr : adr + 3] = part.init_pose.pos
            data.qpos[adr + 3 : adr + 7] = part.init_pose.quat
        state = np.zeros(lay.nstate)
        mujoco.mj_getState(self.model, data, state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        return state

    def _reset_envs(self, ids: np.ndarray) -> None:
        """Sample new initial states for `ids` (each env from its own generator, so an env's episodes do not depend
        on the others), let them settle after a random push, and clear the episode bookkeeping."""
        lay, level, parts = self.layout, self.task.randomness, self.task.parts
        k, p = ids.size, len(parts)
        # A fixed number of uniform draws per env reset keeps every env's random stream aligned across resets.
        u = np.stack([self._rngs[env].random(7 + 6 * p) for env in ids])
        joints, (dx, dy, yaw, angle, force, torque) = u[:, :7], u[:, 7:].reshape(k, 6, p).transpose(1, 0, 2)
        obstacle = np.array([part.obstacle for part in parts])
        shift = np.where(obstacle, level.obstacle_offset, level.part_pos_range)
        yaw = np.where(obstacle, 0.0, (2 * yaw - 1) * level.part_yaw_range)
        pushed = (~obstacle).astype(float)

        states = np.repeat(self._template[None], k, axis=0)
        noise = math.radians(level.joint_noise_deg)
        arm = HOME_JOINTS + (2 * joints - 1) * noise
        states[:, 1 + lay.arm_qpos] = np.clip(arm, JOINT_LIMITS[:, 0], JOINT_LIMITS[:, 1])
        xy = 1 + lay.part_qpos[:, None] + np.arange(2)  # (P, 2) state indices
        states[:, xy[:, 0]] += (2 * dx - 1) * shift
        states[:, xy[:, 1]] += (2 * dy - 1) * shift
        quat = 1 + lay.part_qpos[:, None] + np.arange(3, 7)  # (P, 4)
        w, x, y, z = (states[:, quat[:, i]] for i in range(4))
        c, s = np.cos(yaw / 2), np.sin(yaw / 2)  # turn about the world z axis: q <- (c, 0, 0, s) * q
        states[:, quat[:, 0]], states[:, quat[:, 1]] = c * w - s * z, c * x - s * y
        states[:, quat[:, 2]], states[:, quat[:, 3]] = c * y + s * x, c * z + s * w

        xfrc = np.zeros((k, self.model.nbody, 6))
        magnitude = force * level.max_force * pushed
        xfrc[:, lay.part_body, 0] = magnitude * np.cos(2 * np.pi * angle)
        xfrc[:, lay.part_body, 1] = magnitude * np.sin(2 * np.pi * angle)
        xfrc[:, lay.part_body, 5] = (2 * torque - 1) * level.max_torque * pushed

        if self._settle_steps:
            ctrl = np.concatenate((states[:, 1 + lay.arm_qpos], np.full((k, 2), FINGER_TRAVEL)), axis=-1)
            control = np.concatenate((ctrl, xfrc.reshape(k, -1)), axis=-1)
            control = np.ascontiguousarray(np.repeat(control[:, None], self._settle_steps, axis=1))
            control[:, self._perturb_steps :, ctrl.shape[1] :] = 0.0  # the push is brief; then the parts settle
            out = np.zeros((k, self._settle_steps, lay.nstate))
            self._pool.rollout(
                self._models[:k], self._datas, states, control, control_spec=self._settle_spec,
                skip_checks=True, nstep=self._settle_steps, state=out,
            )
            states = out[:, -1]
        states[:, 0] = 0.0  # the episode clock starts after settling
        self._state[ids] = states
        hold = np.concatenate((states[:, 1 + lay.arm_qpos], np.full((k, 2), FINGER_TRAVEL)), axis=-1)
        self._ctrl[ids] = hold[:, None]
        self.assembled[torch.from_numpy(ids)] = False
        self.episode_length_buf[torch.from_numpy(ids).to(self.device)] = 0

    # ------------------------------------------------------------------ observations

    def _part_poses(self) -> tuple[torch.Tensor, torch.Tensor]:
        poses = torch.from_numpy(self._state)[:, self._part_qpos_idx]  # (N, P, 7)
        return poses[..., :3], quat_canonical(poses[..., 3:] / poses[..., 3:].norm(dim=-1, keepdim=True))

    def _update_observations(self) -> None:
        state = torch.from_numpy(self._state)
        q, qd = state[:, self._arm_q_idx], state[:, self._arm_qd_idx]
        pos, rot, jac = tcp_pose_and_jacobian(q)
        self._kinematics = q.clone(), (pos, rot, jac)  # the controller reuses them on the next step
        twist = (jac @ qd[..., None])[..., 0]
        part_pos, part_quat = self._part_poses()
        vel = state[:, self._part_qvel_idx]  # free joints: world linear velocity, body-frame angular velocity
        ang_world = (quat_to_matrix(part_quat) @ vel[..., 3:, None])[..., 0]
        n = self.num_envs
        terms = {
            "ee_pos": pos,
            "ee_quat": matrix_to_quat(rot),
            "ee_linvel": twist[:, :3],
            "ee_angvel": twist[:, 3:],
            "gripper_width": state[:, self._finger_idx].sum(-1, keepdim=True),
            "parts_poses": torch.cat((part_pos, part_quat), dim=-1).reshape(n, -1),
            "parts_vels": torch.cat((vel[..., :3], ang_world), dim=-1).reshape(n, -1),
        }
        self._terms = {k: v.to(self.device, torch.float32) for k, v in terms.items()}
        policy = torch.cat([self._terms[name] for name, _ in self.task.observation_layout], dim=-1)
        critic = torch.cat([self._terms[name] for name, _ in self.task.critic_layout], dim=-1)
        self._obs = TensorDict({"policy": policy, "critic": critic}, batch_size=[n], device=self.device)


def make_env(task: str, num_envs: int, seed: int, device: str = "cpu", **overrides) -> MujocoVecEnv:
    """Build the batched MuJoCo env for a registered task; `overrides` set other MujocoEnvConfig fields."""
    known = {f.name for f in fields(MujocoEnvConfig)} - {"task", "num_envs", "seed", "device"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown env option(s) {unknown}; valid options: {sorted(known)}")
    return MujocoVecEnv(MujocoEnvConfig(task=task, num_envs=num_envs, seed=seed, device=device, **overrides))
