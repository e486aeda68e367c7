"""The Franka Panda as a USD articulation for Isaac Lab, converted from the embedded backend's own MJCF model.

Isaac Lab's robot USDs live on a remote asset root that offline machines cannot reach; this file lets the
tasks build without it. `franka_layer_text()` compiles `inril.backends.mujoco.franka.add_franka` (the same
kinematics, inertials, primitive colliders, joint limits and gravity compensation as the embedded backend)
and writes it with Isaac Lab's names:

- bodies `panda_link0..7`, `panda_hand`, `panda_leftfinger`, `panda_rightfinger`: flat rigid-body Xforms under
  the articulation root `/panda`, placed at the zero joint configuration, with MassAPI (mass, centre of mass,
  principal inertia and axes from the compiled model) and collision Gprims (capsules, cylinder, boxes);
- joints `panda_joint1..7` (revolute about the link's z), `panda_finger_joint1/2` (prismatic, 0 = closed,
  the left finger along +y of the hand, the right along -y), a fixed `panda_hand_joint` (a welded hand needs
  its own joint, or Newton sees two roots) and a fixed `root_joint` to the world;
- drives with the gains of Isaac Lab's `FRANKA_PANDA_HIGH_PD_CFG` (arm 400 N m/rad, 80 N m s/rad; fingers
  2000 N/m, 100 N s/m; both fingers driven, no mimic joint) and the Franka torque limits; the task's
  actuator config sets its own gains at run time;
- MuJoCo attributes Newton's MuJoCo solver reads: `mjc:gravcomp` = 1 on every moving body (as the MJCF),
  `mjc:contype` / `mjc:conaffinity` (arm geoms do not collide with each other), `mjc:condim` = 4 on the
  finger pads, whose physics material carries the MJCF's finger friction (sliding; torsional and rolling as
  `mjc:torsionalfriction` / `mjc:rollingfriction`).

The text is deterministic, so the file is committed (`assets/robots/franka_panda.usda`) and checked by
`scripts/generate_assets.py --check` with the part USDs.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics, UsdShade

from inril.backends.mujoco.franka import (
    FINGER_JOINT_NAMES,
    JOINT_NAMES,
    JOINT_TORQUE_LIMITS,
    FrankaActuatorConfig,
    add_franka,
)
from inril.tasks.usd_stage import PHYSICS_PURPOSE, new_stage

ROOT_PRIM = "panda"
ARTICULATION_BASE = "panda_link0"
BODY_NAMES = {**{f"link{i}": f"panda_link{i}" for i in range(8)}, "hand": "panda_hand",
              "finger_left": "panda_leftfinger", "finger_right": "panda_rightfinger"}
JOINT_USD_NAMES = {**{name: f"panda_{name}" for name in JOINT_NAMES},
                   FINGER_JOINT_NAMES[0]: "panda_finger_joint1", FINGER_JOINT_NAMES[1]: "panda_finger_joint2"}
# FRANKA_PANDA_HIGH_PD_CFG (isaaclab_assets 3.0.0): arm stiffness / damping per rad, hand per m and its force limit.
HIGH_PD_ARM_GAINS = (400.0, 80.0)
HIGH_PD_FINGER_GAINS = (2.0e3, 1.0e2)
HIGH_PD_FINGER_FORCE = 200.0
DEFAULT_FRICTION = np.array([1.0, 0.005, 0.0001])  # MuJoCo's default (sliding, torsional, rolling), the arm geoms'
ARM_MATERIAL, PAD_MATERIAL = "ArmMaterial", "FingerPadMaterial"


def _quat(wxyz) -> Gf.Quatf:
    w, x, y, z = (float(v) for v in wxyz)
    return Gf.Quatf(w, Gf.Vec3f(x, y, z))


def _vec(values) -> Gf.Vec3f:
    return Gf.Vec3f(*(float(v) for v in values))


def _round(values, digits: int = 9) -> list[float]:
    """Rounded so that float noise of the compiler cannot change the committed text."""
    return [round(float(v), digits) + 0.0 for v in values]


def compiled_franka() -> tuple[mujoco.MjModel, mujoco.MjData]:
    """The embedded backend's Franka alone, compiled, at the zero joint configuration."""
    spec = mujoco.MjSpec()
    spec.compiler.degree = False
    add_franka(spec, spec.worldbody, FrankaActuatorConfig())
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return model, data


def _material(stage: Usd.Stage, path: Sdf.Path, friction: np.ndarray) -> UsdShade.Material:
    """A physics material with a MuJoCo geom's (sliding, torsional, rolling) friction; the last two as
    `mjc:torsionalfriction` / `mjc:rollingfriction`, which Newton's MuJoCo solver reads (its default 0.005
    torsional is a tenth of the finger pads')."""
    material = UsdShade.Material.Define(stage, path)
    prim = material.GetPrim()
    api = UsdPhysics.MaterialAPI.Apply(prim)
    api.CreateStaticFrictionAttr(float(friction[0]))
    api.CreateDynamicFrictionAttr(float(friction[0]))
    api.CreateRestitutionAttr(0.0)
    prim.CreateAttribute("mjc:torsionalfriction", Sdf.ValueTypeNames.Float).Set(float(friction[1]))
    prim.CreateAttribute("mjc:rollingfriction", Sdf.ValueTypeNames.Float).Set(float(friction[2]))
    return material


def _define_geom(stage: Usd.Stage, path: Sdf.Path, model: mujoco.MjModel, g: int) -> UsdGeom.Gprim:
    kind, size = mujoco.mjtGeom(int(model.geom_type[g])), _round(model.geom_size[g])
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        gprim = UsdGeom.Cube.Define(stage, path)
        gprim.CreateSizeAttr(2.0)
    elif kind in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
        gprim = (UsdGeom.Capsule if kind == mujoco.mjtGeom.mjGEOM_CAPSULE else UsdGeom.Cylinder).Define(stage, path)
        gprim.CreateRadiusAttr(size[0])
        gprim.CreateHeightAttr(2.0 * size[1])
        gprim.CreateAxisAttr(UsdGeom.Tokens.z)
    else:
        raise ValueError(f"Franka geom {g}: type {kind} has no USD primitive here")
    gprim.AddTranslateOp().Set(Gf.Vec3d(*_round(model.geom_pos[g])))
    gprim.AddOrientOp().Set(_quat(_round(model.geom_quat[g])))
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        gprim.AddScaleOp().Set(_vec(size))
    gprim.CreateDisplayColorAttr([_vec(_round(model.geom_rgba[g][:3], 4))])
    return gprim


def _define_joint(stage: Usd.Stage, root: Sdf.Path, model: mujoco.MjModel, j: int) -> None:
    body = model.jnt_bodyid[j]
    parent = model.body_parentid[body]
    name = JOINT_USD_NAMES[model.joint(j).name]
    hinge = mujoco.mjtJoint(int(model.jnt_type[j])) == mujoco.mjtJoint.mjJNT_HINGE
    path = root.AppendChild("joints").AppendChild(name)
    joint = (UsdPhysics.RevoluteJoint if hinge else UsdPhysics.PrismaticJoint).Define(stage, path)
    axis = _round(model.jnt_axis[j])
    # The joint frame on the child is the body frame, turned half a turn about z for a joint along -y.
    flip = axis[1] < 0
    joint.CreateAxisAttr(UsdGeom.Tokens.z if hinge else UsdGeom.Tokens.y)
    _connect(joint, root, model, body, parent)
    if flip:
        turn = Gf.Quatf(0.0, Gf.Vec3f(0.0, 0.0, 1.0))
        joint.GetLocalRot0Attr().Set(joint.GetLocalRot0Attr().Get() * turn)
        joint.GetLocalRot1Attr().Set(turn)
    lo, hi = _round(model.jnt_range[j])
    scale = 180.0 / math.pi if hinge else 1.0  # USD revolute limits and drive gains are per degree
    joint.CreateLowerLimitAttr(lo * scale)
    joint.CreateUpperLimitAttr(hi * scale)
    drive = UsdPhysics.DriveAPI.Apply(joint.GetPrim(), "angular" if hinge else "linear")
    if hinge:
        arm_index = JOINT_NAMES.index(model.joint(j).name)
        stiffness, damping, force = *HIGH_PD_ARM_GAINS, float(JOINT_TORQUE_LIMITS[arm_index])
    else:
        stiffness, damping, force = *HIGH_PD_FINGER_GAINS, HIGH_PD_FINGER_FORCE
    drive.CreateTypeAttr("force")
    drive.CreateStiffnessAttr(round(stiffness / scale, 9))
    drive.CreateDampingAttr(round(damping / scale, 9))
    drive.CreateMaxForceAttr(force)
    drive.CreateTargetPositionAttr(0.0)


def _connect(joint: UsdPhysics.Joint, root: Sdf.Path, model: mujoco.MjModel, body: int, parent: int) -> None:
    """Body0 = parent (none: the world), body1 = child; the joint frame is the child's body frame."""
    if parent > 0:
        joint.CreateBody0Rel().SetTargets([root.AppendChild(BODY_NAMES[model.body(parent).name])])
        joint.CreateLocalPos0Attr(_vec(_round(model.body_pos[body])))
        joint.CreateLocalRot0Attr(_quat(_round(model.body_quat[body])))
    else:
        joint.CreateLocalPos0Attr(Gf.Vec3f(0.0, 0.0, 0.0))
        joint.CreateLocalRot0Attr(Gf.Quatf(1.0))
    joint.CreateBody1Rel().SetTargets([root.AppendChild(BODY_NAMES[model.body(body).name])])
    joint.CreateLocalPos1Attr(Gf.Vec3f(0.0, 0.0, 0.0))
    joint.CreateLocalRot1Attr(Gf.Quatf(1.0))


def franka_layer_text() -> str:
    """The `.usda` text of the Franka articulation (see the module docstring)."""
    model, data = compiled_franka()
    stage = new_stage(
        "Franka Panda converted from inril's MJCF model (source/inril/backends/mujoco/franka.py) with Isaac Lab's "
        "prim names by scripts/generate_assets.py. Do not edit: regenerate."
    )
    root = UsdGeom.Xform.Define(stage, Sdf.Path(f"/{ROOT_PRIM}"))
    stage.SetDefaultPrim(root.GetPrim())
    UsdPhysics.ArticulationRootAPI.Apply(root.GetPrim())
    root_path = root.GetPath()
    materials = root_path.AppendChild("materials")
    arm_material = _material(stage, materials.AppendChild(ARM_MATERIAL), DEFAULT_FRICTION)

    for b in range(1, model.nbody):
        mj_name = model.body(b).name
        xform = UsdGeom.Xform.Define(stage, root_path.AppendChild(BODY_NAMES[mj_name]))
        xform.AddTranslateOp().Set(Gf.Vec3d(*_round(data.xpos[b])))
        xform.AddOrientOp().Set(_quat(_round(data.xquat[b])))
        prim = xform.GetPrim()
        UsdPhysics.RigidBodyAPI.Apply(prim)
        mass = UsdPhysics.MassAPI.Apply(prim)
        mass.CreateMassAttr(round(float(model.body_mass[b]), 9))
        mass.CreateCenterOfMassAttr(_vec(_round(model.body_ipos[b])))
        # The principal axes come from an eigendecomposition whose last digits vary between MuJoCo releases.
        mass.CreateDiagonalInertiaAttr(_vec(_round(model.body_inertia[b], 7)))
        mass.CreatePrincipalAxesAttr(_quat(_round(model.body_iquat[b], 5)))
        if model.body_gravcomp[b] > 0:
            prim.CreateAttribute("mjc:gravcomp", Sdf.ValueTypeNames.Float).Set(float(model.body_gravcomp[b]))
        for k, g in enumerate(range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b])):
            gprim = _define_geom(stage, xform.GetPath().AppendChild(f"collision_{k}"), model, g)
            geom_prim = gprim.GetPrim()
            UsdPhysics.CollisionAPI.Apply(geom_prim)
            geom_prim.CreateAttribute("mjc:contype", Sdf.ValueTypeNames.Int).Set(int(model.geom_contype[g]))
            geom_prim.CreateAttribute("mjc:conaffinity", Sdf.ValueTypeNames.Int).Set(int(model.geom_conaffinity[g]))
            material = arm_material
            if model.geom_condim[g] != 3:
                geom_prim.CreateAttribute("mjc:condim", Sdf.ValueTypeNames.Int).Set(int(model.geom_condim[g]))
            if not np.allclose(model.geom_friction[g], DEFAULT_FRICTION):
                material = _material(stage, materials.AppendChild(PAD_MATERIAL), model.geom_friction[g])
            binding = UsdShade.MaterialBindingAPI.Apply(geom_prim)
            binding.Bind(material, UsdShade.Tokens.weakerThanDescendants, PHYSICS_PURPOSE)

    fixed_root = UsdPhysics.FixedJoint.Define(stage, root_path.AppendChild("root_joint"))
    _connect(fixed_root, root_path, model, model.body(ARTICULATION_BASE.removeprefix("panda_")).id, 0)
    hand = model.body("hand").id
    fixed_hand = UsdPhysics.FixedJoint.Define(stage, root_path.AppendChild("joints").AppendChild("panda_hand_joint"))
    _connect(fixed_hand, root_path, model, hand, model.body_parentid[hand])
    for j in range(model.njnt):
        _define_joint(stage, root_path, model, j)
    return stage.GetRootLayer().ExportToString()
