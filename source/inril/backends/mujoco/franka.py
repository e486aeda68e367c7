"""Franka Emika Panda arm and parallel gripper, built as an MjSpec from published parameters.

Kinematics: the modified (Craig) DH table of the Franka documentation ("Robot and interface
specifications"); joint position, velocity and torque limits from the same page. Link masses, centres of
mass and inertia tensors: the identified dynamic model of Gaz et al., "Dynamic Identification of the Franka
Emika Panda Robot With Retrieval of Feasible Parameters Using Penalty-Based Optimization", RA-L 2019.
Collision geometry is primitive (capsules along each link, boxes for hand and fingers): about twice as fast
as meshes and enough for table-top manipulation. Body frames are exactly the DH frames, so the batched
kinematics in `kinematics.py` reproduce MuJoCo's without reading the model.

Actuation: joint position servos (stiff PD, torque-limited to the Franka limits) with gravity compensation
on the arm bodies. A 10 Hz end-effector controller turns pose targets into joint targets once per control
step; the servos then run open loop inside `mujoco.rollout`, which is what keeps stepping in C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class DHRow:
    """One row of the modified DH table: frame i from frame i-1 is RotX(alpha) TransX(a) RotZ(q) TransZ(d)."""

    a: float
    d: float
    alpha: float


FRANKA_DH: tuple[DHRow, ...] = (
    DHRow(0.0, 0.333, 0.0),
    DHRow(0.0, 0.0, -math.pi / 2),
    DHRow(0.0, 0.316, math.pi / 2),
    DHRow(0.0825, 0.0, math.pi / 2),
    DHRow(-0.0825, 0.384, -math.pi / 2),
    DHRow(0.0, 0.0, math.pi / 2),
    DHRow(0.088, 0.0, math.pi / 2),
)
FLANGE_OFFSET = 0.107  # flange along link-7 z
HAND_YAW = -math.pi / 4  # the hand is mounted rotated about the flange z axis
TCP_OFFSET = 0.1034  # tool centre point (between the fingertips) along hand z
FINGER_BASE_OFFSET = 0.0584  # finger joints along hand z

JOINT_LIMITS = np.array(
    [
        [-2.8973, 2.8973],
        [-1.7628, 1.7628],
        [-2.8973, 2.8973],
        [-3.0718, -0.0698],
        [-2.8973, 2.8973],
        [-0.0175, 3.7525],
        [-2.8973, 2.8973],
    ]
)
JOINT_VELOCITY_LIMITS = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
JOINT_TORQUE_LIMITS = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])
FINGER_TRAVEL = 0.04  # per finger; the gripper opens to 8 cm

# Gaz et al. 2019: mass (kg), centre of mass (m, link frame), inertia (Ixx, Iyy, Izz, Ixy, Ixz, Iyz) about it.
LINK_INERTIALS: tuple[tuple[float, tuple[float, float, float], tuple[float, ...]], ...] = (
    (4.970684, (0.003875, 0.002081, -0.04762), (0.70337, 0.70661, 0.009117, -0.000139, 0.006772, 0.019169)),
    (0.646926, (-0.003141, -0.02872, 0.003495), (0.007962, 0.02811, 0.025995, -0.003925, 0.010254, 0.000704)),
    (3.228604, (0.027518, 0.039252, -0.066502), (0.037242, 0.036155, 0.01083, -0.004761, -0.011396, -0.012805)),
    (3.587895, (-0.05317, 0.104419, 0.027454), (0.025853, 0.019552, 0.028323, 0.007796, -0.001332, 0.008641)),
    (1.225946, (-0.011953, 0.041065, -0.038437), (0.035549, 0.029474, 0.008627, -0.002117, -0.004037, 0.000229)),
    (1.666555, (0.060149, -0.014117, -0.010517), (0.001964, 0.004354, 0.005433, 0.000109, -0.001158, 0.000341)),
    (0.735522, (0.010517, -0.004252, 0.061597), (0.012516, 0.010027, 0.004815, -0.000428, -0.001196, -0.000741)),
)
HAND_MASS, HAND_COM, HAND_DIAG_INERTIA = 0.73, (-0.01, 0.0, 0.03), (0.001, 0.0025, 0.0017)
FINGER_MASS, FINGER_DIAG_INERTIA = 0.015, (2.4e-6, 2.4e-6, 1.5e-6)

# Capsules (from, to, radius) in each link frame, following the DH skeleton of the real links.
LINK_CAPSULES: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((0.0, 0.0, -0.19), (0.0, 0.0, -0.03), 0.06),
    ((0.0, 0.0, -0.06), (0.0, -0.12, 0.0), 0.06),
    ((0.0, 0.0, -0.14), (0.0825, 0.0, 0.0), 0.055),
    ((0.0, 0.0, 0.0), (-0.0825, 0.12, 0.0), 0.055),
    ((0.0, 0.0, -0.26), (0.0, 0.0, -0.02), 0.05),
    ((0.0, 0.0, -0.02), (0.088, 0.0, 0.0), 0.045),
    ((0.0, 0.0, 0.03), (0.0, 0.0, 0.1), 0.04),
)
FINGER_HALF_SIZE = (0.0105, 0.006, 0.0275)  # box per finger; the inner face sits at the joint position

# Contact groups: arm geoms collide with the world and parts (contype/conaffinity 1) but not with each other.
ARM_CONTYPE, ARM_CONAFFINITY = 2, 1

# Ready pose: tool pointing down about 0.45 m in front of the base, fingers across the world y axis.
HOME_JOINTS = np.array([0.0, -0.35, 0.0, -2.45, 0.0, 2.1, math.pi / 4])


@dataclass
class FrankaActuatorConfig:
    """Joint servo gains; the torque limits always come from the Franka specification.

    The servos are stiffer than the real robot's default joint impedance (600 Nm/rad on the big joints): with the
    10 Hz pose controller that softness costs millimetres of tracking error and slows every motion, and the scripted
    insertions need sub-millimetre placement.
    """

    kp: tuple[float, ...] = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)
    damping_ratio: float = 1.0  # servo damping relative to critical, at the model's reference pose
    joint_damping: float = 1.0
    armature: float = 0.1
    # Finger servos squeeze with kp * opening, about 5 N on a 24 mm part. The real hand squeezes with up to 70 N, but
    # MuJoCo's soft contacts are mass-normalized: tens of newtons on a 60 g part push the pads through it. The heavy
    # damping (time constant kv/kp = 0.1 s) slows closing to ~0.1 m/s at contact, like the real gripper. No force
    # clamp is hit in normal use: a clamped servo loses its implicit damping and chatters.
    gripper_kp: float = 400.0
    gripper_kv: float = 40.0
    gripper_force: float = 20.0
    finger_friction: float = 1.2

    def __post_init__(self) -> None:
        if len(self.kp) != 7 or any(v <= 0 for v in self.kp):
            raise ValueError(f"FrankaActuatorConfig.kp needs 7 positive gains, got {self.kp}")
        for name in ("damping_ratio", "joint_damping", "armature", "gripper_kp", "gripper_force", "gripper_kv",
                     "finger_friction"):
            if getattr(self, name) < 0:
                raise ValueError(f"FrankaActuatorConfig.{name} must be >= 0, got {getattr(self, name)}")


JOINT_NAMES = tuple(f"joint{i}" for i in range(1, 8))
FINGER_JOINT_NAMES = ("finger_left", "finger_right")
TCP_SITE = "tcp"


def _quat_rot_x(angle: float) -> list[float]:
    return [math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0]


def _quat_rot_z(angle: float) -> list[float]:
    return [math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)]


def _add_arm_geom(body: mujoco.MjsBody, **kwargs) -> mujoco.MjsGeom:
    geom = body.add_geom(contype=ARM_CONTYPE, conaffinity=ARM_CONAFFINITY, **kwargs)
    geom.rgba = [0.92, 0.92, 0.95, 1.0]
    return geom


def add_franka(spec: mujoco.MjSpec, parent: mujoco.MjsBody, cfg: FrankaActuatorConfig) -> None:
    """Append the arm (bodies link1..link7, hand, two fingers), its servos and the `tcp` site under `parent`.

    Actuator order: 7 arm joints, then left and right finger; controls are joint angles (rad) and finger
    openings (m, 0 = closed).
    """
    if spec.compiler.degree:
        raise ValueError("add_franka writes joint ranges in radians: set spec.compiler.degree = False first")
    base = parent.add_body(name="link0")
    _add_arm_geom(base, type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.07, 0.07, 0.0], pos=[-0.03, 0.0, 0.07])
    body = base
    for i, (row, (mass, com, inertia), capsule) in enumerate(zip(FRANKA_DH, LINK_INERTIALS, LINK_CAPSULES)):
        pos = [row.a, -row.d * math.sin(row.alpha), row.d * math.cos(row.alpha)]
        body = body.add_body(name=f"link{i + 1}", pos=pos, quat=_quat_rot_x(row.alpha), gravcomp=1.0)
        body.explicitinertial = True
        body.mass, body.ipos, body.fullinertia = mass, list(com), list(inertia)
        lo, hi = JOINT_LIMITS[i]
        body.add_joint(
            name=JOINT_NAMES[i], type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1], range=[lo, hi], limited=True,
            damping=cfg.joint_damping, armature=cfg.armature,
        )
        start, end, radius = capsule
        _add_arm_geom(body, type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[*start, *end], size=[radius, 0.0, 0.0])

    hand = body.add_body(name="hand", pos=[0.0, 0.0, FLANGE_OFFSET], quat=_quat_rot_z(HAND_YAW), gravcomp=1.0)
    hand.explicitinertial = True
    hand.mass, hand.ipos, hand.inertia = HAND_MASS, list(HAND_COM), list(HAND_DIAG_INERTIA)
    _add_arm_geom(hand, type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.03, 0.095, 0.025], pos=[0.0, 0.0, 0.03])
    hand.add_site(name=TCP_SITE, pos=[0.0, 0.0, TCP_OFFSET], size=[0.005, 0.0, 0.0])

    for name, sign in zip(FINGER_JOINT_NAMES, (1.0, -1.0)):
        finger = hand.add_body(name=name, pos=[0.0, 0.0, FINGER_BASE_OFFSET], gravcomp=1.0)
        finger.explicitinertial = True
        finger.mass, finger.inertia = FINGER_MASS, list(FINGER_DIAG_INERTIA)
        finger.add_joint(
            name=name, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, sign, 0], range=[0.0, FINGER_TRAVEL],
            limited=True, damping=cfg.joint_damping, armature=cfg.armature * 0.1,
        )
        hx, hy, hz = FINGER_HALF_SIZE
        pad = _add_arm_geom(finger, type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, hz], pos=[0.0, sign * hy, hz])
        pad.friction = [cfg.finger_friction, 0.05, 0.001]
        pad.condim = 4  # torsional friction keeps a grasped part from spinning between the pads
        pad.rgba = [0.25, 0.25, 0.28, 1.0]

    for i, name in enumerate(JOINT_NAMES):
        act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=cfg.kp[i], dampratio=cfg.damping_ratio)
        act.ctrlrange, act.ctrllimited = list(JOINT_LIMITS[i]), True
        act.forcerange = [-JOINT_TORQUE_LIMITS[i], JOINT_TORQUE_LIMITS[i]]
        act.forcelimited = True
    for name in FINGER_JOINT_NAMES:
        act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=cfg.gripper_kp, kv=cfg.gripper_kv)
        act.ctrlrange, act.ctrllimited = [0.0, FINGER_TRAVEL], True
        act.forcerange, act.forcelimited = [-cfg.gripper_force, cfg.gripper_force], True
