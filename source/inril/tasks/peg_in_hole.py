"""PegInHole: grasp a square peg standing on the table and insert it into a tight square hole.

Geometry (metres): a 24 mm square peg, 80 mm long, and a hole block whose four walls leave 1 mm of clearance per
side over a 40 mm insertion depth. The pair is assembled when the peg rests at the bottom of the hole (within
5 mm per axis) in any of its 8 symmetric orientations. A heavy obstacle block stands behind the workspace, moved by
the randomness level's obstacle offset; like FurnitureBench's obstacle it is the last of the observed part poses.
Episodes last 200 control steps (20 s at 10 Hz), the length ResiP uses for its factory peg-hole task; the scripted
expert needs about 50.
"""

from __future__ import annotations

from inril.tasks.expert import InsertionPlan, top_down_grasps
from inril.tasks.spec import (
    LOW,
    MED,
    PairSpec,
    PartSpec,
    Pose,
    RandomnessSpec,
    Shape,
    TaskSpec,
    obstacle_part,
    square_collar,
    symmetric_poses,
)

FAMILY = "PegInHole"
EPISODE_LENGTH = 200

PEG_HALF_WIDTH = 0.012
PEG_HALF_LENGTH = 0.04
CLEARANCE = 0.001  # per side
HOLE_DEPTH = 0.04
PLATE_HALF_WIDTH, PLATE_HALF_THICKNESS = 0.06, 0.005
WALL_THICKNESS = 0.015
GRASP_BELOW_TOP = 0.022  # tool centre point this far below the peg's top face


def _hole_shapes() -> tuple[Shape, ...]:
    plate_top = 2 * PLATE_HALF_THICKNESS
    plate = Shape(
        "box", (PLATE_HALF_WIDTH, PLATE_HALF_WIDTH, PLATE_HALF_THICKNESS), Pose((0.0, 0.0, PLATE_HALF_THICKNESS))
    )
    collar = square_collar((0.0, 0.0, plate_top + HOLE_DEPTH / 2), PEG_HALF_WIDTH + CLEARANCE, WALL_THICKNESS,
                           HOLE_DEPTH / 2)
    return (plate,) + collar


def _seated_poses() -> tuple[Pose, ...]:
    """The peg centre on the hole floor; 4 turns about z, each either end down (the peg is symmetric)."""
    return symmetric_poses((0.0, 0.0, 2 * PLATE_HALF_THICKNESS + PEG_HALF_LENGTH), turns=4, flip=True)


def make_spec(randomness: RandomnessSpec) -> TaskSpec:
    """The TaskSpec of this family at one randomness level (spec.LOW or spec.MED); see the module docstring."""
    peg = PartSpec(
        name="peg",
        shapes=(Shape("box", (PEG_HALF_WIDTH, PEG_HALF_WIDTH, PEG_HALF_LENGTH)),),
        mass=0.06,
        init_pose=Pose((0.45, -0.12, PEG_HALF_LENGTH)),
        friction=0.15,
        rgba=(0.85, 0.55, 0.25, 1.0),
    )
    hole = PartSpec(
        name="hole",
        shapes=_hole_shapes(),
        mass=0.6,
        init_pose=Pose((0.55, 0.12, 0.0)),
        friction=0.15,
        rgba=(0.3, 0.45, 0.75, 1.0),
    )
    obstacle = obstacle_part(x=0.78)
    pair = PairSpec(base="hole", part="peg", rel_poses=_seated_poses())
    return TaskSpec(
        family=FAMILY, randomness=randomness, parts=(peg, hole, obstacle), pairs=(pair,), episode_length=EPISODE_LENGTH
    )


PLAN = InsertionPlan(
    part="peg",
    base="hole",
    grasp_poses=top_down_grasps(PEG_HALF_LENGTH - GRASP_BELOW_TOP),
    approach_height=0.06,
)

SPECS = {level.name: make_spec(level) for level in (LOW, MED)}
