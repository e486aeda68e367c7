"""USD part assets generated from the task specs, for the Isaac Lab backend.

One text USD (`.usda`) per part of every task family, written to `assets/<family>/<part>.usda`: the default prim
is the part's body frame (an Xform with UsdPhysics RigidBodyAPI and MassAPI), and each spec shape is a child
Gprim (Cube scaled to the half extents, Cylinder, Capsule or Sphere) at its spec pose, with CollisionAPI and a
bound physics material carrying the part's friction. Density is uniform, as in the MJCF scene: the body mass
is authored and the simulator derives centre of mass and inertia from the collision shapes.

The files are deterministic so they can be committed and checked: `generate_assets(root)` writes them and
`check_assets(root)` lists every file that differs from what the specs generate.
"""

from __future__ import annotations

from pathlib import Path

from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics, UsdShade

from inril.tasks.spec import PartSpec, Shape
from inril.tasks.usd_stage import PHYSICS_PURPOSE, new_stage

ASSET_SUFFIX = ".usda"
PHYSICS_MATERIAL = "PhysicsMaterial"
ROBOT_DIR = "robots"
FRANKA_ASSET = "franka_panda"


def shape_prim_name(index: int) -> str:
    """The prim name of a part's `index`-th shape (its index in PartSpec.shapes)."""
    return f"shape_{index}"


def _define_shape(stage: Usd.Stage, path: str, shape: Shape) -> UsdGeom.Gprim:
    if shape.kind == "box":
        gprim = UsdGeom.Cube.Define(stage, path)
        gprim.CreateSizeAttr(2.0)  # a unit half extent, scaled to the spec's half extents below
    elif shape.kind == "sphere":
        gprim = UsdGeom.Sphere.Define(stage, path)
        gprim.CreateRadiusAttr(shape.size[0])
    else:
        gprim = (UsdGeom.Cylinder if shape.kind == "cylinder" else UsdGeom.Capsule).Define(stage, path)
        radius, half_length = shape.size
        gprim.CreateRadiusAttr(radius)
        gprim.CreateHeightAttr(2.0 * half_length)  # capsule: the cylinder part, caps excluded (as MuJoCo's size)
        gprim.CreateAxisAttr(UsdGeom.Tokens.z)
    w, x, y, z = shape.pose.quat
    gprim.AddTranslateOp().Set(Gf.Vec3d(*shape.pose.pos))
    gprim.AddOrientOp().Set(Gf.Quatf(w, Gf.Vec3f(x, y, z)))
    if shape.kind == "box":
        gprim.AddScaleOp().Set(Gf.Vec3f(*shape.size))
    return gprim


def part_layer_text(part: PartSpec, family: str) -> str:
    """The `.usda` text of one part."""
    stage = new_stage(
        f"Part '{part.name}' of task family {family}, generated from its inril task spec by "
        "scripts/generate_assets.py. Do not edit: regenerate."
    )

    root = UsdGeom.Xform.Define(stage, Sdf.Path(f"/{part.name}"))
    stage.SetDefaultPrim(root.GetPrim())
    UsdPhysics.RigidBodyAPI.Apply(root.GetPrim())
    UsdPhysics.MassAPI.Apply(root.GetPrim()).CreateMassAttr(part.mass)

    material = UsdShade.Material.Define(stage, root.GetPath().AppendChild(PHYSICS_MATERIAL))
    friction = UsdPhysics.MaterialAPI.Apply(material.GetPrim())
    friction.CreateStaticFrictionAttr(part.friction)
    friction.CreateDynamicFrictionAttr(part.friction)
    friction.CreateRestitutionAttr(0.0)

    r, g, b, a = part.rgba
    for i, shape in enumerate(part.shapes):
        gprim = _define_shape(stage, root.GetPath().AppendChild(shape_prim_name(i)), shape)
        UsdPhysics.CollisionAPI.Apply(gprim.GetPrim())
        UsdShade.MaterialBindingAPI.Apply(gprim.GetPrim()).Bind(
            material, UsdShade.Tokens.weakerThanDescendants, PHYSICS_PURPOSE
        )
        gprim.CreateDisplayColorAttr([Gf.Vec3f(r, g, b)])
        gprim.CreateDisplayOpacityAttr([a])
    return stage.GetRootLayer().ExportToString()


def part_asset_path(root: Path, family: str, part: str) -> Path:
    """Where the USD layer of part `part` of task family `family` lies under `root`."""
    return Path(root) / family / f"{part}{ASSET_SUFFIX}"


def robot_asset_path(root: Path) -> Path:
    """The Franka articulation converted from the embedded MJCF model (`inril.backends.usd.franka`)."""
    return Path(root) / ROBOT_DIR / f"{FRANKA_ASSET}{ASSET_SUFFIX}"
