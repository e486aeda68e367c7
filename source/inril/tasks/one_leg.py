"""OneLeg: FurnitureBench's one_leg in primitive geometry. Grasp a table leg lying on the table, turn it upright,
insert it into the socket at a corner of the table top and seat it.

Geometry (metres): the leg is a 25 mm square bar, 120 mm long: a bar rather than a cylinder, because a round leg
lying on its side rolls under the reset push and its roll angle becomes arbitrary. It lies on a side face to the
robot's right of the top, its axis along the world y axis. The table top is a heavy 200 x 200 x 20 mm plate resting
on the table, with a socket at its corner nearest the robot: a collar of four walls, 30 mm deep, leaving 2 mm of
clearance per side around the leg. The pair is assembled when the leg stands on the plate inside the collar (within
5 mm per axis) in any of its 8 symmetric orientations (4 quarter turns about its axis, either end down). No screw
threads: pushing the leg down onto the plate seats it. A heavy obstacle block stands behind the workspace, moved by
the randomness level's obstacle offset; it is the last of the observed part poses, as in FurnitureBench.

Expert plan: a top-down grasp across the bar 25 mm from its +z end (the end nearer the top); the expert lifts the
leg level, then pitches the wrist a quarter turn about the finger axis so the leg hangs upright below the gripper,
which ends pointing horizontally to the robot's left; then it aligns the leg over the socket, inserts and seats it.
No regrasp is needed. Pointing the gripper away from the robot instead would drive the wrist into joint limits.

Episodes last 300 control steps (30 s at 10 Hz). The scripted expert needs 40-65. ResiP's 700 steps for one_leg
include screwing the leg in, which this version leaves out; 300 keeps RL rollouts of whole episodes cheap while
leaving a policy five times the expert's time for slower motions and retries.
"""

from __future__ import annotations

import math

import torch

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
    square_collar,
    symmetric_poses,
)
from inril.utils.rotations import matrix_to_quat

FAMILY = "OneLeg"
EPISODE_LENGTH = 300

LEG_HALF_WIDTH = 0.0125
LEG_HALF_LENGTH = 0.06
CLEARANCE = 0.002  # per side, between the leg and the collar
SOCKET_DEPTH = 0.03
TOP_HALF_WIDTH, TOP_HALF_THICKNESS = 0.1, 0.01
WALL_THICKNESS = 0.01
SOCKET_XY = (-0.07, -0.07)  # collar centre in the top frame: the corner nearest the robot
GRASP_FROM_END = 0.025  # tool centre point this far from the leg's +z end along its axis
GRASP_ABOVE_AXIS = 0.004  # and this far above the axis, so the fingertips stay clear of the table


def _top_shapes() -> tuple[Shape, ...]:
    plate_top = 2 * TOP_HALF_THICKNESS
    plate = Shape("box", (TOP_HALF_WIDTH, TOP_HALF_WIDTH, TOP_HALF_THICKNESS), Pose((0.0, 0.0, TOP_HALF_THICKNESS)))
    collar = square_collar((*SOCKET_XY, plate_top + SOCKET_DEPTH / 2), LEG_HALF_WIDTH + CLEARANCE, WALL_THICKNESS,
                           SOCKET_DEPTH / 2)
    return (plate,) + collar


def _seated_poses() -> tuple[Pose, ...]:
    """The leg upright on the plate inside the collar: 4 turns about its axis, each with either end down."""
    return symmetric_poses((*SOCKET_XY, 2 * TOP_HALF_THICKNESS + LEG_HALF_LENGTH), turns=4, flip=True)


def _cross(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def across_grasps() -> tuple[Pose, ...]:
    """Tool poses in the leg frame: the tool z pointing into one of the 4 side faces, the fingers closing across
    the bar, the tool x along the axis either way; the tool centre near the +z end, slightly outside the axis."""
    grasps = []
    for n in ((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)):
        for along in (1.0, -1.0):
            tool_x = (0.0, 0.0, along)
            pos = tuple(-GRASP_ABOVE_AXIS * c for c in n[:2]) + (LEG_HALF_LENGTH - GRASP_FROM_END,)
            axes = torch.tensor((tool_x, _cross(n, tool_x), n), dtype=torch.float64).T  # columns: tool x, y, z
            grasps.append(Pose(pos, tuple(matrix_to_quat(axes).tolist())))
    return tuple(grasps)


def make_spec(randomness: RandomnessSpec) -> TaskSpec:
    """The TaskSpec of this family at one randomness level (spec.LOW or spec.MED); see the module docstring."""
    # Lying on a side face, its +z end toward the top: a quarter turn about x maps the leg z to the world y.
    lying = (math.cos(math.pi / 4), -math.sin(math.pi / 4), 0.0, 0.0)
    leg = PartSpec(
        name="leg",
        shapes=(Shape("box", (LEG_HALF_WIDTH, LEG_HALF_WIDTH, LEG_HALF_LENGTH)),),
        mass=0.05,
        init_pose=Pose((0.45, -0.15, LEG_HALF_WIDTH), lying),
        friction=0.15,
        rgba=(0.85, 0.7, 0.45, 1.0),
    )
    top = PartSpec(
        name="top",
        shapes=_top_shapes(),
        mass=1.5,  # heavy enough that insertion forces and the reset push do not slide it
        init_pose=Pose((0.5, 0.15, 0.0)),
        friction=0.5,
        rgba=(0.75, 0.6, 0.4, 1.0),
    )
    obstacle = obstacle_part(x=0.8)
    pair = PairSpec(base="top", part="leg", rel_poses=_seated_poses())
    return TaskSpec(
        family=FAMILY, randomness=randomness, parts=(leg, top, obstacle), pairs=(pair,), episode_length=EPISODE_LENGTH
    )


PLAN = InsertionPlan(
    part="leg",
    base="top",
    grasp_poses=across_grasps(),
    approach_height=0.05,
)

SPECS = {level.name: make_spec(level) for level in (LOW, MED)}
