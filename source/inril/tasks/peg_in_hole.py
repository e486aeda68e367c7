"""PegInHole: grasp a square peg standing on the table and insert it into a tight square hole.

Geometry (metres): a 24 mm square peg, 80 mm long, and a hole block whose four walls leave 1 mm of clearance per
side over a 40 mm insertion depth. The pair is assembled when the peg rests at the bottom of the hole (within
5 mm per axis) in any of its 8 symmetric orientations. A heavy obstacle block stands behind the workspace, moved by
the randomness level's obstacle offset; like FurnitureBench's obstacle it is the last of the observed part poses.
Episodes last 200 control steps (20 s at 10 Hz), the length ResiP uses for its factory peg-hole task; the scripted
expert needs about 50.
"""

from __future__ import annotations

import math

from inril.tasks.expert import InsertionPlan
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
    yaw_quat,
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
    inner = PEG_HALF_WIDTH + CLEARANCE
    plate_top = 2 * PLATE_HALF_THICKNESS
    wall_z = plate_top + HOLE_DEPTH / 2
    half_t = WALL_THICKNESS / 2
    plate = Shape(
        "box", (PLATE_HALF_WIDTH, PLATE_HALF_WIDTH, PLATE_HALF_THICKNESS), Pose((0.0, 0.0, PLATE_HALF_THICKNESS))
    )
    walls_x = tuple(
        Shape("box", (half_t, inner + WALL_THICKNESS, HOLE_DEPTH / 2), Pose((sign * (inner + half_t), 0.0, wall_z)))
        for sign in (1.0, -1.0)
    )
    walls_y = tuple(
        Shape("box", (inner, half_t, HOLE_DEPTH / 2), Pose((0.0, sign * (inner + half_t), wall_z)))
        for sign in (1.0, -1.0)
    )
    return (plate,) + walls_x + walls_y


def _seated_poses() -> tuple[Pose, ...]:
    """The peg centre on the hole floor; 4 turns about z, each either end down (the peg is symmetric)."""
    z = 2 * PLATE_HALF_THICKNESS + PEG_HALF_LENGTH
    poses = []
    for k in range(4):
        w, _, _, s = yaw_quat(k * math.pi / 2)
        poses.append(Pose((0.0, 0.0, z), (w, 0.0, 0.0, s)))
        # flipped: yaw then a half turn about x, q = q_yaw * (0, 1, 0, 0)
        poses.append(Pose((0.0, 0.0, z), (0.0, w, s, 0.0)))
    return tuple(poses)


def make_spec(randomness: RandomnessSpec) -> TaskSpec:
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


def _top_down_grasps() -> tuple[Pose, ...]:
    """Tool poses in the peg frame: pointing down the peg axis, centred below the top face, 4 turns about z."""
    grasps = []
    for k in range(4):
        w, _, _, s = yaw_quat(k * math.pi / 2)
        # yaw about the peg z, then a half turn about x so the tool z points down: q = q_yaw * (0, 1, 0, 0)
        grasps.append(Pose((0.0, 0.0, PEG_HALF_LENGTH - GRASP_BELOW_TOP), (0.0, w, s, 0.0)))
    return tuple(grasps)


PLAN = InsertionPlan(
    part="peg",
    base="hole",
    grasp_poses=_top_down_grasps(),
    approach_height=0.06,
)

SPECS = {level.name: make_spec(level) for level in (LOW, MED)}
