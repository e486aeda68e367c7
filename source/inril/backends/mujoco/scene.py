"""MuJoCo scene from a task spec: table, Franka arm, free parts, and the index layout of the compiled model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np

from inril.backends.mujoco.franka import FINGER_JOINT_NAMES, JOINT_NAMES, FrankaActuatorConfig, add_franka
from inril.tasks.spec import Shape, TaskSpec

TABLE_HALF_SIZE = (0.6, 0.6, 0.02)
TABLE_CENTER_XY = (0.45, 0.0)

_GEOM_TYPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
}
_CONES = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}


@dataclass
class SimConfig:
    """Physics settings. 5 ms steps resolve the 1 mm insertion clearances without tunnelling. Pyramidal cones:
    elliptic ones chatter after impacts unless given about 3x the solver iterations, which costs more than it buys."""

    timestep: float = 0.005
    iterations: int = 50
    ls_iterations: int = 20
    cone: str = "pyramidal"
    impratio: float = 1.0
    franka: FrankaActuatorConfig = field(default_factory=FrankaActuatorConfig)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timestep) and 0 < self.timestep <= 0.02):
            raise ValueError(f"SimConfig.timestep must be in (0, 0.02] s, got {self.timestep}")
        if self.iterations < 1 or self.ls_iterations < 1:
            raise ValueError("SimConfig.iterations and ls_iterations must be >= 1")
        if self.cone not in _CONES:
            raise ValueError(f"SimConfig.cone must be one of {sorted(_CONES)}, got {self.cone!r}")
        if self.impratio < 1:
            raise ValueError(f"SimConfig.impratio must be >= 1, got {self.impratio}")


def shape_volume(shape: Shape) -> float:
    """Volume in m^3 of a primitive shape (box from half extents; cylinder and capsule from radius and half length)."""
    if shape.kind == "box":
        return 8.0 * math.prod(shape.size)
    if shape.kind == "sphere":
        return 4.0 / 3.0 * math.pi * shape.size[0] ** 3
    radius, half_length = shape.size
    volume = math.pi * radius**2 * 2.0 * half_length
    return volume + (4.0 / 3.0 * math.pi * radius**3 if shape.kind == "capsule" else 0.0)


def build_scene(task: TaskSpec, sim: SimConfig) -> mujoco.MjSpec:
    """The full MJCF scene as an MjSpec (`spec.to_xml()` gives the MJCF text, `spec.compile()` the model)."""
    spec = mujoco.MjSpec()
    spec.modelname = task.name
    spec.compiler.degree = False
    spec.option.timestep = sim.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = _CONES[sim.cone]
    spec.option.impratio = sim.impratio
    spec.option.iterations = sim.iterations
    spec.option.ls_iterations = sim.ls_iterations

    world = spec.worldbody
    world.add_light(name="top", pos=[0.4, 0.0, 1.5], dir=[0.0, 0.0, -1.0])
    world.add_camera(name="front", pos=[1.5, 0.0, 0.7], xyaxes=[0.0, 1.0, 0.0, -0.4, 0.0, 0.9])
    table = world.add_geom(
        name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(TABLE_HALF_SIZE),
        pos=[*TABLE_CENTER_XY, -TABLE_HALF_SIZE[2]], rgba=[0.75, 0.72, 0.68, 1.0],
    )
    table.friction = [task.table_friction, 0.005, 0.0001]
    add_franka(spec, world, sim.franka)

    for part in task.parts:
        body = world.add_body(name=part.name, pos=list(part.init_pose.pos), quat=list(part.init_pose.quat))
        body.add_freejoint(name=part.name)
        total = sum(shape_volume(s) for s in part.shapes)
        for i, shape in enumerate(part.shapes):
            size = list(shape.size) + [0.0] * (3 - len(shape.size))
            geom = body.add_geom(
                name=f"{part.name}_{i}", type=_GEOM_TYPES[shape.kind], size=size,
                pos=list(shape.pose.pos), quat=list(shape.pose.quat), rgba=list(part.rgba),
            )
            geom.mass = part.mass * shape_volume(shape) / total
            geom.friction = [part.friction, 0.005, 0.0001]
    return spec


@dataclass(frozen=True)
class SceneLayout:
    """Where things live in the compiled model and in a FULLPHYSICS state vector (time, qpos, qvel, ...)."""

    nq: int
    nv: int
    nu: int
    nstate: int
    arm_qpos: np.ndarray  # (7,) qpos indices of the arm joints
    arm_qvel: np.ndarray
    finger_qpos: np.ndarray  # (2,)
    part_qpos: np.ndarray  # (P,) first qpos index of each part's free joint (pos 3 + quat 4)
    part_qvel: np.ndarray  # (P,) first qvel index (linear world 3 + angular body-local 3)
    part_body: np.ndarray  # (P,) body ids, for applied forces

    @property
    def qpos_slice(self) -> slice:
        """The qpos columns of a FULLPHYSICS state vector (after the time)."""
        return slice(1, 1 + self.nq)

    @property
    def qvel_slice(self) -> slice:
        """The qvel columns of a FULLPHYSICS state vector (after qpos)."""
        return slice(1 + self.nq, 1 + self.nq + self.nv)

    @staticmethod
    def from_model(model: mujoco.MjModel, task: TaskSpec) -> SceneLayout:
        """The layout of a model compiled from `build_scene(task, ...)`. Raises ValueError when the FULLPHYSICS state
        is not exactly time + qpos + qvel + act."""
        nstate = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        expected = 1 + model.nq + model.nv + model.na
        if nstate != expected:
            raise ValueError(f"unexpected FULLPHYSICS layout: size {nstate}, expected time+qpos+qvel+act = {expected}")
        return SceneLayout(
            nq=model.nq,
            nv=model.nv,
            nu=model.nu,
            nstate=nstate,
            arm_qpos=np.array([model.joint(n).qposadr[0] for n in JOINT_NAMES]),
            arm_qvel=np.array([model.joint(n).dofadr[0] for n in JOINT_NAMES]),
            finger_qpos=np.array([model.joint(n).qposadr[0] for n in FINGER_JOINT_NAMES]),
            part_qpos=np.array([model.joint(p.name).qposadr[0] for p in task.parts]),
            part_qvel=np.array([model.joint(p.name).dofadr[0] for p in task.parts]),
            part_body=np.array([model.body(p.name).id for p in task.parts]),
        )
