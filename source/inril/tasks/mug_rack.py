"""MugRack: FurnitureBench's mug_rack in primitive geometry. Hang a mug by its handle on the peg of a rack.

Geometry (metres; each part's frame at the centre of its bottom face):
- mug (0.08 kg): a square body, 60 x 60 x 80 mm, with a handle on its +x side: two arms 8 mm thick and 12 mm wide
  from the body out to an 8 mm bar, leaving a hole 14 mm wide and 44 mm tall whose axis is the mug's y axis. Square,
  not round: a round body held across its diameter creeps down through the fingers in MuJoCo's soft contacts (we
  measured about 1 mm per control step, 14 mm while aligning), a flat-sided one holds.
- rack (1.5 kg): a 120 x 120 x 20 mm base plate with a 20 x 10 mm post 140 mm tall at its centre, and a peg, 12 mm
  wide and 24 mm tall, sticking 24 mm out of the post along the rack's -x axis (towards the robot) at 130 mm, with
  a stop on its tip rising 8 mm above it. Between the post and the stop the handle has 20 mm of peg (4 mm of play
  either way); through the hole it has 1 mm of play either side, so a hung mug tilts at most a few degrees.
The pair is assembled when the mug hangs on the peg: its handle's upper arm on the peg's top, half-way between the
post and the stop, the mug upright (within FurnitureBench's 5 mm per axis and orientation bound), its handle turned
towards the peg from either side (2 targets). A mug let go there stays assembled; the body passes beside the post.
A heavy obstacle block stands behind the workspace, moved by the randomness level's obstacle offset; it is the last of
the observed part poses, as in FurnitureBench.

Expert plan: a top-down grasp across the body (the fingers clear of the handle), the mug turned so that the hole
lines up with the peg; the handle threaded over the stop onto the peg along it, 12 mm above its hanging height, then
lowered onto the peg: the hang.

Episodes last 300 control steps (30 s at 10 Hz). The scripted expert's successful episodes take 47-48 steps on
average (50 demos at Low, at Med): six times that; ResiP's mug_rack has 400.
"""

from __future__ import annotations

import math

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
    yaw_quat,
)

FAMILY = "MugRack"
EPISODE_LENGTH = 300

BODY_HALF_WIDTH, BODY_HALF_HEIGHT = 0.03, 0.04
ARM_HALF = (0.013, 0.006, 0.004)  # each handle arm: along the mug's x, its y, its z
ARM_X = BODY_HALF_WIDTH + 0.009  # arm centre: 4 mm into the body, out to the bar's outer face
ARM_Z = (0.014, 0.066)  # lower and upper arm centres
BAR_HALF = (0.004, 0.006, 0.03)
HOLE_X = (BODY_HALF_WIDTH, BODY_HALF_WIDTH + 0.014)  # the hole between the body and the bar, along the mug's x
PLATE_HALF = (0.06, 0.06, 0.01)
POST_HALF = (0.01, 0.005, 0.07)
PEG_HALF = (0.012, 0.006, 0.012)
PEG_Z = 0.13  # peg centre height in the rack frame
STOP_HALF = (0.002, 0.006, 0.004)
GRASP_Z = 0.06  # tool centre point this far above the mug's bottom: the fingertips 10 mm lower, clear of the arms
HANG = 0.012  # m above its hanging height the handle is threaded: the upper arm clears the stop by 4 mm
APPROACH = 0.05

PEG_TOP = PEG_Z + PEG_HALF[2]
POST_FRONT = -POST_HALF[0]
PEG_TIP = POST_FRONT - 2 * PEG_HALF[0]


def _mug_shapes() -> tuple[Shape, ...]:
    body = Shape("box", (BODY_HALF_WIDTH, BODY_HALF_WIDTH, BODY_HALF_HEIGHT), Pose((0.0, 0.0, BODY_HALF_HEIGHT)))
    arms = tuple(Shape("box", ARM_HALF, Pose((ARM_X, 0.0, z))) for z in ARM_Z)
    bar = Shape("box", BAR_HALF, Pose((HOLE_X[1] + BAR_HALF[0], 0.0, sum(ARM_Z) / 2)))
    return (body,) + arms + (bar,)


def _rack_shapes() -> tuple[Shape, ...]:
    plate_top = 2 * PLATE_HALF[2]
    return (
        Shape("box", PLATE_HALF, Pose((0.0, 0.0, PLATE_HALF[2]))),
        Shape("box", POST_HALF, Pose((0.0, 0.0, plate_top + POST_HALF[2]))),
        Shape("box", PEG_HALF, Pose((POST_FRONT - PEG_HALF[0], 0.0, PEG_Z))),
        Shape("box", STOP_HALF, Pose((PEG_TIP + STOP_HALF[0], 0.0, PEG_TOP + STOP_HALF[2]))),
    )


def _hung_poses() -> tuple[Pose, ...]:
    """The mug hanging upright, its upper arm on the peg's top between the post and the stop, the hole's centre on
    the peg's axis; the mug's y axis along the peg, its handle towards the peg from the rack's -y or +y side."""
    x = (POST_FRONT + PEG_TIP + 2 * STOP_HALF[0]) / 2
    z = PEG_TOP - (ARM_Z[1] - ARM_HALF[2])
    hole_centre = sum(HOLE_X) / 2
    return tuple(Pose((x, -sign * hole_centre, z), yaw_quat(sign * math.pi / 2)) for sign in (1.0, -1.0))


def make_spec(randomness: RandomnessSpec) -> TaskSpec:
    """The TaskSpec of this family at one randomness level (spec.LOW or spec.MED); see the module docstring."""
    handle_left = yaw_quat(math.pi / 2)  # the handle towards +y, as the mug hangs from the rack's -y side
    mug = PartSpec(name="mug", shapes=_mug_shapes(), mass=0.08, init_pose=Pose((0.45, -0.12, 0.0), handle_left),
                   friction=0.15, rgba=(0.3, 0.55, 0.8, 1.0))
    rack = PartSpec(name="rack", shapes=_rack_shapes(), mass=1.5, init_pose=Pose((0.58, 0.12, 0.0)), friction=0.5,
                    rgba=(0.55, 0.45, 0.35, 1.0))
    pair = PairSpec(base="rack", part="mug", rel_poses=_hung_poses())
    return TaskSpec(family=FAMILY, randomness=randomness, parts=(mug, rack, obstacle_part(x=0.8)), pairs=(pair,),
                    episode_length=EPISODE_LENGTH)


PLAN = InsertionPlan(part="mug", base="rack", grasp_poses=top_down_grasps(GRASP_Z, turns=2), approach_height=APPROACH,
                     axis=(-1.0, 0.0, 0.0), hang=HANG)

SPECS = {level.name: make_spec(level) for level in (LOW, MED)}
