"""Batched MuJoCo environment implementing rsl-rl-lib's VecEnv contract.

All N copies share one MjModel; their full physics states live in one (N, nstate) float64 array that a `Stepper`
advances once per control step: `mujoco.rollout` in C threads (one call per control step, preallocated buffers, no
per-env Python), or MuJoCo Warp when the env's device is CUDA and `mujoco_warp` is installed. Observations and the
IK controller run batched in float64 numpy on the state array (cheaper than torch at these sizes), the assembly
check in torch with one intra-op thread; the observations become torch tensors once, at the end of the step.
Actions and observations are in raw task units; normalization belongs to the policy side.

The task's terms come from `inril.tasks` (shared with Isaac Lab): this module reads the robot and parts out of the
MuJoCo state into an `inril.tasks.terms.TaskState` (forward kinematics, free-joint velocities) and forms the
observation groups, reward and episode ends with `inril.tasks.terms`; the assembly bookkeeping is
`inril.tasks.assembly.AssemblyProgress`. Episodes end on success or when a part falls off the table (terminal), or
on the time limit (truncation, flagged in extras["time_outs"]). An env whose state turns non-finite or explodes is
reset on its own, reported as a truncation and counted in extras["log"]["/nan_resets"]; the other envs are
unaffected. Each finished episode logs its "/success" and stage completions "/stage_<name>".
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

import mujoco
import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.backends.mujoco.controller import ACTION_DIM, DiffIKConfig, DiffIKController, split_action
from inril.backends.mujoco.franka import FINGER_TRAVEL, HOME_JOINTS, JOINT_LIMITS
from inril.backends.mujoco.kinematics import tcp_pose_and_jacobian_np
from inril.backends.mujoco.rotations_np import matrix_to_quat, quat_to_matrix
from inril.backends.mujoco.scene import SceneLayout, SimConfig, build_scene
from inril.backends.mujoco.stepper import RolloutStepper, Stepper
from inril.data.groups import CRITIC_GROUP, POLICY_GROUP
from inril.tasks.assembly import AssemblyProgress
from inril.tasks.registry import get_task
from inril.tasks.spec import TaskSpec
from inril.tasks.terms import (
    TaskState,
    episode_ends,
    observation_group,
    observation_terms,
    part_orientation,
    parts_dropped,
    split_group,
    task_reward,
)

MAX_SEED = 2**63 - 1
PHYSICS = ("auto", "c", "warp")


def warp_available() -> bool:
    return importlib.util.find_spec("mujoco_warp") is not None


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run a few tiny torch ops on one intra-op thread: a parallel region over a handful of numbers costs more
    than the work, and on a busy machine a descheduled helper thread can stall it for milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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
    physics: str = "auto"  # "auto": MuJoCo Warp on a CUDA device when mujoco_warp is installed, else C MuJoCo
    settle_time: float = 0.3  # s simulated at reset before the episode clock starts
    perturb_time: float = 0.015  # s the random reset forces act, about one FurnitureBench physics frame (1/60 s)
    terminate_on_success: bool = True
    max_speed: float = 50.0  # any |qvel| above this (rad/s or m/s) counts as an exploded simulation
    drop_height: float = 0.05  # a part this far below the table top fell off it: the episode fails (terminal)
    # Weight of the dense keypoint-closeness shaping added to the sparse reward (AssemblyProgress.shaping); 0 keeps
    # FurnitureBench's sparse reward. Success and evaluation never read it.
    shaping_weight: float = 0.0
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
        if self.physics not in PHYSICS:
            raise ValueError(f"physics must be one of {PHYSICS}, got {self.physics!r}")
        if self.physics == "warp" and not warp_available():
            raise ValueError("physics='warp' needs the mujoco-warp package (pip install mujoco-warp)")
        if not (math.isfinite(self.settle_time) and 0 <= self.perturb_time <= self.settle_time):
            raise ValueError(f"need 0 <= perturb_time <= settle_time, got {self.perturb_time} and {self.settle_time}")
        if not self.max_speed > 0 or not self.drop_height > 0:
            raise ValueError("max_speed and drop_height must be > 0")
        if not (math.isfinite(self.shaping_weight) and self.shaping_weight >= 0):
            raise ValueError(f"shaping_weight must be a finite number >= 0, got {self.shaping_weight}")
        period = 1.0 / get_task(self.task).control_hz
        substeps = period / self.sim.timestep
        if abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(
                f"the control period {period} s must be a whole number of sim.timestep {self.sim.timestep} s"
            )


class MujocoVecEnv(VecEnv):
    """N copies of a task scene behind rsl-rl's VecEnv: observation groups `policy` (the task's observation layout)
    and `critic` (plus privileged part velocities), 10-D absolute tool-pose actions, sparse assembly rewards (plus the
    optional keypoint shaping)."""

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

        n, lay = self.num_envs, self.layout
        # C MuJoCo always runs the reset settling (a few envs at a time, with applied forces).
        self._c_physics = RolloutStepper(self.model, n, self.substeps, cfg.num_threads)
        self.physics = self._physics_backend()  # "c" or "warp"
        self.stepper: Stepper = self._c_physics  # advances all envs one control step (tools may wrap it)
        if self.physics == "warp":
            from inril.backends.mujoco.warp_stepper import WarpStepper

            self.stepper = WarpStepper(self.model, n, self.substeps, str(self.device))
        self._state = np.zeros((n, lay.nstate))
        self._ctrl = np.zeros((n, self.substeps, lay.nu))
        self._ramp = np.arange(1, self.substeps + 1) / self.substeps
        self._template = self._initial_state_template()
        self._settle_steps = round(cfg.settle_time / cfg.sim.timestep)
        self._perturb_steps = round(cfg.perturb_time / cfg.sim.timestep)
        self._settle_spec = int(mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED)
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(n)]

        self._part_qpos_idx = 1 + lay.part_qpos[:, None] + np.arange(7)  # (P, 7) into the state
        self._part_qvel_idx = 1 + lay.nq + lay.part_qvel[:, None] + np.arange(6)
        self._arm_q_idx = 1 + lay.arm_qpos
        self._arm_qd_idx = 1 + lay.nq + lay.arm_qvel
        self._finger_idx = 1 + lay.finger_qpos
        self._policy_dim = self.task.obs_dim
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        # On the CPU next to the numpy state, whatever the device.
        self.progress = AssemblyProgress(self.task, n, "cpu", shaping=cfg.shaping_weight > 0)
        self.nan_reset_count = 0
        self._obs: TensorDict | None = None
        self.reset()

    # ------------------------------------------------------------------ public API

    @property
    def physics_state(self) -> np.ndarray:
        """The (num_envs, nstate) MuJoCo FULLPHYSICS states (time, qpos, qvel). Writable: tools and tests may
        change it between steps; `layout.qpos_slice` / `qvel_slice` index it."""
        return self._state

    @property
    def assembled(self) -> torch.Tensor:
        """(num_envs, pairs) bool on the CPU: pair assembled during the current episode."""
        return self.progress.assembled

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
        return split_group(self.get_observations()["critic"], self.task.critic_layout)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Advance every env one control step with `actions` (num_envs, 10) (tool pose and gripper, raw task units):
        observations, rewards (num_envs,) float32 (`inril.tasks.terms.task_reward`), dones (num_envs,) long and
        extras ("time_outs": the truncations of `terms.episode_ends`, "log"); finished envs are reset. Raises
        ValueError for a wrong action shape."""
        if tuple(actions.shape) != (self.num_envs, self.num_actions):
            expected = (self.num_envs, self.num_actions)
            raise ValueError(f"actions must have shape {expected}, got {tuple(actions.shape)}")
        self._apply_actions(actions.detach().to("cpu", torch.float64).numpy())
        start_time = self._state[:, 0].copy()
        self.stepper.step(self._state, self._ctrl)
        unstable = self._unstable(start_time)

        self.episode_length_buf += 1
        with _one_torch_thread():
            part_pos, part_quat = self._part_poses()
            diverged = torch.from_numpy(unstable)
            valid = ~diverged  # a diverged state reaches no stage and drops no part
            self.progress.update(part_pos, part_quat, valid=valid)
            rewards = task_reward(self.progress.newly, self.progress.shaping, self.cfg.shaping_weight)
            dropped = parts_dropped(part_pos, self.cfg.drop_height, valid)
            time_out = self.episode_length_buf.cpu() >= self.max_episode_length
            terminated, truncated = episode_ends(
                self.progress.success, dropped, time_out, diverged, self.cfg.terminate_on_success
            )
            dones = terminated | truncated
        log: dict[str, float | torch.Tensor] = {
            "/nan_resets": float(unstable.sum()),
            "/parts_dropped": float(dropped.sum()),
        }
        self.nan_reset_count += int(unstable.sum())

        done_ids = np.flatnonzero(dones.numpy())
        if done_ids.size:  # "/success" and "/stage_<name>": one entry per finished episode
            log.update({k: v.to(self.device) for k, v in self.progress.episode_log(torch.from_numpy(done_ids)).items()})
            self._reset_envs(done_ids)
        self._update_observations()
        extras = {"time_outs": truncated.to(self.device), "log": log}
        return self.get_observations(), rewards.to(self.device), dones.to(self.device, torch.long), extras

    def close(self) -> None:
        self.stepper.close()
        self._c_physics.close()

    def _physics_backend(self) -> str:
        if self.cfg.physics == "auto":
            return "warp" if self.device.type == "cuda" and warp_available() else "c"
        return self.cfg.physics

    # ------------------------------------------------------------------ stepping

    def _apply_actions(self, actions: np.ndarray) -> None:
        state = self._state
        q = state[:, self._arm_q_idx]
        finite = np.isfinite(actions).all(-1)[:, None]
        # A non-finite action holds the arm where it is instead of poisoning the simulation (the IK rows are
        # independent, so its NaNs stay in its own row and are replaced below).
        target_pos, target_rot, close = split_action(actions)
        cached_q, kinematics = self._kinematics
        fresh = np.array_equal(cached_q, q)  # false when a tool wrote physics_state since the last observation
        with np.errstate(invalid="ignore"):
            q_target = self.controller.solve(q, target_pos, target_rot, kinematics if fresh else None)
        q_target = np.where(finite, q_target, q)
        fingers = np.where(finite, self.controller.finger_targets(close), state[:, self._finger_idx])
        # Ramp the servo setpoints from the previous targets across the substeps: a step change every 100 ms would
        # jerk the arm (tens of m/s^2) and shake grasped parts loose.
        previous = self._ctrl[:, -1].copy()
        target = np.concatenate((q_target, fingers), axis=-1)
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
            states = self._c_physics.run(states, control, self._settle_spec)
        states[:, 0] = 0.0  # the episode clock starts after settling
        self._state[ids] = states
        hold = np.concatenate((states[:, 1 + lay.arm_qpos], np.full((k, 2), FINGER_TRAVEL)), axis=-1)
        self._ctrl[ids] = hold[:, None]
        self.progress.reset(torch.from_numpy(ids))
        self.episode_length_buf[torch.from_numpy(ids).to(self.device)] = 0

    # ------------------------------------------------------------------ observations

    def _part_poses(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The parts' positions (N, P, 3) and `part_orientation` quaternions (N, P, 4), float64 on the CPU (the free
        joints' qpos: the world frame is the robot base frame)."""
        poses = torch.from_numpy(self._state[:, self._part_qpos_idx])  # (N, P, 7)
        return poses[..., :3], part_orientation(poses[..., 3:])

    def _task_state(self) -> TaskState:
        """The robot and parts as the task terms read them (float64 on the CPU), from the current MuJoCo state:
        the tool from forward kinematics and the arm's Jacobian, the parts from their free joints."""
        state = self._state
        q, qd = state[:, self._arm_q_idx], state[:, self._arm_qd_idx]
        pos, rot, jac = tcp_pose_and_jacobian_np(q)
        self._kinematics = q, (pos, rot, jac)  # the controller reuses them on the next step
        twist = (jac @ qd[..., None])[..., 0]
        part_pos, part_quat = self._part_poses()
        vel = state[:, self._part_qvel_idx]  # free joints: world linear velocity, body-frame angular velocity
        ang_world = (quat_to_matrix(part_quat.numpy()) @ vel[..., 3:, None])[..., 0]
        return TaskState(
            tcp_pos=torch.from_numpy(pos),
            tcp_quat=torch.from_numpy(matrix_to_quat(rot)),
            tcp_linvel=torch.from_numpy(twist[:, :3]),
            tcp_angvel=torch.from_numpy(twist[:, 3:]),
            finger_pos=torch.from_numpy(state[:, self._finger_idx]),
            part_pos=part_pos,
            part_quat=part_quat,
            part_linvel=torch.from_numpy(vel[..., :3]),
            part_angvel=torch.from_numpy(ang_world),
        )

    def _update_observations(self) -> None:
        with _one_torch_thread():
            terms = observation_terms(self._task_state())
            # The critic group is the policy group plus privileged terms, so one float32 tensor holds both.
            critic = observation_group(terms, self.task.critic_layout).to(self.device, torch.float32)
            policy = critic[:, : self._policy_dim].clone()
        self._obs = TensorDict({POLICY_GROUP: policy, CRITIC_GROUP: critic}, batch_size=[self.num_envs], device=self.device)


def make_env(task: str, num_envs: int, seed: int, device: str = "cpu", **overrides) -> MujocoVecEnv:
    """Build the batched MuJoCo env for a registered task; `overrides` set other MujocoEnvConfig fields."""
    known = {f.name for f in fields(MujocoEnvConfig)} - {"task", "num_envs", "seed", "device"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown env option(s) {unknown}; valid options: {sorted(known)}")
    return MujocoVecEnv(MujocoEnvConfig(task=task, num_envs=num_envs, seed=seed, device=device, **overrides))
