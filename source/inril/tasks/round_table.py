"""RoundTable: FurnitureBench's round_table in primitive geometry. Stand a leg in the socket of a round table top lying
upside down, then put the round base (here the `foot`, so that it does not read like a pair's base part) on the
leg's free end.

Geometry (metres; the top's and the foot's frames at the centre of their bottom faces, the leg's at its centre):
- top (1.5 kg): a round plate, radius 90 mm and 20 mm thick, with a socket at its centre: a collar of four walls
  on the plate, 10 mm thick and 30 mm deep, leaving 2 mm of clearance per side around the leg.
- leg (0.05 kg): OneLeg's leg (a 25 mm square bar, 120 mm long), lying on a side face to the robot's right.
- foot (0.04 kg): a round plate, radius 60 mm and 16 mm thick, standing on a collar under its centre like OneLeg's
  socket turned upside down (open downward, 30 mm deep, 2 mm of clearance per side around the leg), with a
  20 x 20 x 24 mm knob on top to grasp it by. It rests on the table on its collar's rim.
The leg is assembled standing on the top's plate inside its collar (within 5 mm per axis) in any of its 8 symmetric
orientations; the foot is assembled on the leg, its collar over the leg's upper end and its plate resting on it, in
any of 4 turns about the leg at either end of the leg (8 targets in the leg's frame, for the leg stands either end up).
A heavy obstacle block stands behind the workspace, moved by the randomness level's obstacle offset; it is the last
of the observed part poses, as in FurnitureBench.

Pairs, in order: the leg in the top, then the foot on the leg.

Expert plan: OneLeg's (grasp across the leg near one end, pitch it upright, insert), release, rise, then a top-down
grasp of the foot's knob, the foot carried above the leg and lowered onto its upper end.

Episodes last 600 control steps (60 s at 10 Hz). The scripted expert's successful episodes take 114-117 steps on
average (50 demos at Low, at Med). ResiP's 1000 steps for round_table include screwing both joints; 600 leaves a
policy five times the expert's time.
"""

from __future__ import annotations

from dataclasses import replace

from inril.tasks import one_leg
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

FAMILY = "RoundTable"
EPISODE_LENGTH = 600

TOP_RADIUS, TOP_HALF_THICKNESS = 0.09, 0.01
SOCKET_DEPTH = one_leg.SOCKET_DEPTH
WALL_THICKNESS = 0.01
SOCKET_INNER = one_leg.LEG_HALF_WIDTH + one_leg.CLEARANCE
FOOT_RADIUS, FOOT_HALF_THICKNESS = 0.06, 0.008
KNOB_HALF = (0.01, 0.01, 0.012)
GRASP_KNOB_BELOW_TOP = 0.012  # tool centre point this far below the knob's top
FOOT_PLATE_BOTTOM = SOCKET_DEPTH  # the foot's plate sits on its collar
KNOB_TOP = FOOT_PLATE_BOTTOM + 2 * FOOT_HALF_THICKNESS + 2 * KNOB_HALF[2]
# The foot comes down onto the leg: its collar's rim starts 5 cm above its seat.
FOOT_APPROACH = 0.05


def _top_shapes() -> tuple[Shape, ...]:
    plate = Shape("cylinder", (TOP_RADIUS, TOP_HALF_THICKNESS), Pose((0.0, 0.0, TOP_HALF_THICKNESS)))
    collar = square_collar((0.0, 0.0, 2 * TOP_HALF_THICKNESS + SOCKET_DEPTH / 2), SOCKET_INNER, WALL_THICKNESS,
                           SOCKET_DEPTH / 2)
    return (plate,) + collar


def _foot_shapes() -> tuple[Shape, ...]:
    collar = square_collar((0.0, 0.0, SOCKET_DEPTH / 2), SOCKET_INNER, WALL_THICKNESS, SOCKET_DEPTH / 2)
    plate = Shape("cylinder", (FOOT_RADIUS, FOOT_HALF_THICKNESS),
                  Pose((0.0, 0.0, FOOT_PLATE_BOTTOM + FOOT_HALF_THICKNESS)))
    knob = Shape("box", KNOB_HALF, Pose((0.0, 0.0, KNOB_TOP - KNOB_HALF[2])))
    return collar + (plate, knob)


def _foot_on_leg() -> tuple[Pose, ...]:
    """The foot's plate on the leg's end, its collar around it: 4 turns at the +z end, and 4 upside down at the -z
    end (a half turn about x maps the +z end's targets onto the -z end's)."""
    seat = one_leg.LEG_HALF_LENGTH - FOOT_PLATE_BOTTOM  # the foot's origin (collar rim) along the leg's axis
    upper = symmetric_poses((0.0, 0.0, seat), turns=4, flip=False)
    lower = tuple(pose for pose in symmetric_poses((0.0, 0.0, -seat), turns=4, flip=True) if pose.quat[0] == 0.0)
    return upper + lower


def make_spec(randomness: RandomnessSpec) -> TaskSpec:
    """The TaskSpec of this family at one randomness level (spec.LOW or spec.MED); see the module docstring."""
    top = PartSpec(name="top", shapes=_top_shapes(), mass=1.5, init_pose=Pose((0.47, 0.12, 0.0)), friction=0.5,
                   rgba=(0.75, 0.6, 0.4, 1.0))
    one_legged = one_leg.SPECS[randomness.name].part("leg")
    leg = replace(one_legged, init_pose=replace(one_legged.init_pose, pos=(0.4, -0.14, one_leg.LEG_HALF_WIDTH)))
    foot = PartSpec(name="foot", shapes=_foot_shapes(), mass=0.04, init_pose=Pose((0.62, -0.14, 0.0)), friction=0.15,
                    rgba=(0.65, 0.5, 0.3, 1.0))
    leg_seated = symmetric_poses((0.0, 0.0, 2 * TOP_HALF_THICKNESS + one_leg.LEG_HALF_LENGTH), turns=4, flip=True)
    pairs = (
        PairSpec(base="top", part="leg", rel_poses=leg_seated),
        PairSpec(base="leg", part="foot", rel_poses=_foot_on_leg()),
    )
    return TaskSpec(family=FAMILY, randomness=randomness, parts=(top, leg, foot, obstacle_part(x=0.8)), pairs=pairs,
                    episode_length=EPISODE_LENGTH)


PLAN = (
    one_leg.PLAN,
    InsertionPlan(part="foot", base="leg", grasp_poses=top_down_grasps(KNOB_TOP - GRASP_KNOB_BELOW_TOP, turns=4),
                  approach_height=FOOT_APPROACH),
)

SPECS = {level.name: make_spec(level) for level in (LOW, MED)}
