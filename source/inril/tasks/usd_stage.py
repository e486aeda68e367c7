"""What every generated USD asset shares: the stage units and the material-binding purpose.

Both the part assets (`inril.tasks.usd`) and the Franka (`inril.backends.usd.franka`, generated from the embedded
backend's MJCF) build their stages here; `inril.backends.usd.assets` lists them all.
"""

from __future__ import annotations

from pxr import Usd, UsdGeom, UsdPhysics

PHYSICS_PURPOSE = "physics"  # the material-binding purpose physics engines read (UsdPhysics)


def new_stage(documentation: str) -> Usd.Stage:
    """An in-memory stage in the units of every generated asset: z up, metres, kilograms; `documentation` is
    written into the root layer (what generated the file and that it must not be edited by hand)."""
    stage = Usd.Stage.CreateInMemory()
    stage.GetRootLayer().documentation = documentation
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdPhysics.SetStageKilogramsPerUnit(stage, 1.0)
    return stage
