"""Task spec -> Isaac Lab scene and MDP numbers, without importing Isaac Lab.

Everything the Isaac Lab env configs take from a task spec or from the embedded backend's conventions is
computed here, so it can be compared with the embedded backend on machines without Isaac Sim (the contract
tests do). The robot constants mirror `inril.backends.mujoco.franka` / `controller` / `scene` (not imported: that
package needs mujoco); a test fails if the two drift apart.

Frames: the robot base sits at the env origin with identity orientation, so the robot base frame of the
embedded backend is the env frame here; the table top is at z = 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from inril.tasks.spec import PartSpec, TaskSpec

# The generated part USDs (scripts/generate_assets.py); INRIL_ASSET_ROOT points elsewhere, e.g. to a copy on
# a cluster's shared file system.
ASSET_ROOT_ENV = "INRIL_ASSET_ROOT"
_REPO_ASSETS = Path(__file__).resolve().parents[3] / "assets"


def asset_root() -> Path:
    return Path(os.environ.get(ASSET_ROOT_ENV, _REPO_ASSETS))


# --- Franka (Isaac Lab's FRANKA_PANDA_HIGH_PD_CFG) --------------------------------------------------------
ARM_JOINT_NAMES = tuple(f"panda_joint{i}" for i in range(1, 8))
ARM_JOINTS_EXPR = "panda_joint.*"
FINGER_JOINTS_EXPR = "panda_finger_joint.*"
HAND_BODY = "panda_hand"  # the flange frame turned -45 deg about z: the embedded backend's `hand` body
TCP_OFFSET = 0.1034  # tool centre point along hand z (Franka's documented TCP, as the embedded backend)
FINGER_OPEN = 0.04  # per finger, m
# The embedded backend's finger servo (FrankaActuatorConfig.gripper_*): stiffness N/m, damping N s/m, force
# limit N; and its finger armature, kg.
FINGER_GAINS = (400.0, 40.0, 20.0)
FINGER_ARMATURE = 0.01
# The embedded arm joints' armature (FrankaActuatorConfig.armature), kg m^2: the rotor inertia that keeps the
# wrist from jittering when the IK target jumps each control step (Isaac Lab's high-PD config leaves it at 0).
ARM_ARMATURE = 0.1
HOME_JOINTS = (0.0, -0.35, 0.0, -2.45, 0.0, 2.1, math.pi / 4)  # the embedded backend's ready pose

# --- end-effector controller (the embedded backend's DiffIKConfig defaults) ---------------------------------
IK_DAMPING = 0.05  # damped-least-squares lambda
MAX_POS_STEP = 0.05  # m of target motion accepted per control step
MAX_ROT_STEP = 0.4  # rad per control step

# --- scene ----------------------------------------------------------------------------------------------
TABLE_HALF_SIZE = (0.6, 0.6, 0.02)
TABLE_CENTER_XY = (0.45, 0.0)
NUM_ENVS = 4096
ENV_SPACING = 2.5  # m between env origins: the table is 1.2 m wide
PART_FALL_HEIGHT = -0.1  # a part below this z (m, env frame) has left the table: the episode is truncated

# --- simulation ------------------------------------------------------------------------------------------
PHYSICS_DT = 1.0 / 120.0  # s; Isaac Lab's Factory assembly tasks use the same step
PUSH_TIME = 0.015  # s the embedded backend pushes the parts at reset (MujocoEnvConfig.perturb_time)
# Newton (MuJoCo Warp) solver settings, as the embedded MuJoCo scene's SimConfig.
NEWTON_SOLVER = {"iterations": 50, "ls_iterations": 20, "cone": "pyramidal", "impratio": 1.0,
                 "integrator": "implicitfast"}
NEWTON_SUBSTEPS = 2  # 1/240 s solver steps, close to the embedded backend's 5 ms
NEWTON_MAX_CONTACTS = 128  # per env (nconmax); the contact rows per env (njmax) get 4x that
PHYSX_MAX_RIGID_PATCHES = 10 * 2**15  # GPU contact-patch buffer for 4096 envs of clustered parts

# Action terms, in the order their slices appear in the 10-D action: position + 6-D rotation, gripper.
ACTION_TERMS = (("arm", 9), ("gripper", 1))


@dataclass(frozen=True)
class Timing:
    physics_dt: float
    decimation: int
    episode_length_s: float

    @property
    def step_dt(self) -> float:
        return self.physics_dt * self.decimation


def timing(spec: TaskSpec, physics_dt: float = PHYSICS_DT) -> Timing:
    """Physics steps per control step and the episode length in seconds for Isaac Lab.

    Isaac Lab derives the episode length in steps as ceil(episode_length_s / step_dt); half a step less than
    the spec's length keeps float rounding from adding a step.
    """
    substeps = 1.0 / (spec.control_hz * physics_dt)
    if abs(substeps - round(substeps)) > 1e-6:
        raise ValueError(f"the control period 1/{spec.control_hz} s must be a whole number of {physics_dt} s steps")
    decimation = round(substeps)
    return Timing(physics_dt, decimation, (spec.episode_length - 0.5) * physics_dt * decimation)


def reward_weight(spec: TaskSpec) -> float:
    """Isaac Lab's reward manager multiplies every term by the step dt; this weight undoes it, so each pair
    assembled is worth exactly +1 as in the embedded backend."""
    return spec.control_hz


@dataclass(frozen=True)
class PartReset:
    """Uniform pose noise of one part at reset: +-xy_range in x and y, +-yaw_range about the world z."""

    name: str
    xy_range: float
    yaw_range: float


def part_resets(spec: TaskSpec) -> tuple[PartReset, ...]:
    level = spec.randomness
    return tuple(
        PartReset(p.name, level.obstacle_offset, 0.0) if p.obstacle
        else PartReset(p.name, level.part_pos_range, level.part_yaw_range)
        for p in spec.parts
    )


def pushed_parts(spec: TaskSpec) -> tuple[str, ...]:
    """Parts the reset push acts on: every part but the obstacles."""
    return tuple(p.name for p in spec.parts if not p.obstacle)


def push_impulse_scale(physics_dt: float = PHYSICS_DT) -> float:
    """Isaac Lab applies the reset push for one physics step instead of PUSH_TIME; scaling the wrench by
    PUSH_TIME / physics_dt keeps the impulse the parts receive equal to the embedded backend's."""
    return PUSH_TIME / physics_dt


def arm_joint_noise(spec: TaskSpec) -> float:
    """Half-width (rad) of the uniform noise added to every arm joint at reset."""
    return math.radians(spec.randomness.joint_noise_deg)


def observation_groups(spec: TaskSpec) -> dict[str, tuple[tuple[str, int], ...]]:
    """Observation groups and their (term, dim) in order: exactly the spec's layouts."""
    return {"policy": spec.observation_layout, "critic": spec.critic_layout}


def wxyz_to_xyzw(quat: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    w, x, y, z = quat
    return (x, y, z, w)


def part_initial_pose(part: PartSpec) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    """Nominal position and (x, y, z, w) orientation of a part, as Isaac Lab 3's InitialStateCfg takes them."""
    return part.init_pose.pos, wxyz_to_xyzw(part.init_pose.quat)
