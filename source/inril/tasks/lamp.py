"""Lamp: FurnitureBench's lamp in primitive geometry. Lock a bulb into a heavy base with a quarter-turn bayonet, then
put the hood over it.

Geometry (metres; each part's frame at the centre of its bottom face):
- base (1.5 kg): a 120 x 120 x 20 mm plinth carrying a 68 x 68 mm block 20 mm high (walls 10 mm thick around a
  48 x 48 mm chamber 14 mm high, covered by a 6 mm lip). The lip leaves a slot 24 mm wide along the base's x axis:
  the bayonet's way in.
- bulb (0.05 kg): a key, a 40 x 20 x 8 mm plate, under a stem (radius 8 mm, 16 mm long) and a capsule glass (radius
  16 mm, 52 mm tall). The key passes through the slot only lengthwise along x; seated on the chamber floor it is
  turned a quarter turn, and then the lip holds its ends (8 mm of lip over each end): the bulb is assembled only in
  that locked pose (two targets, the key across the slot either way), so the skill is an insertion then a twist,
  as FurnitureBench's screwed bulb. The chamber leaves 6 mm above the key for the turn and 1.6 mm of clearance at
  each corner of the turning key (its half diagonal 22.4 mm in a 24 mm half chamber).
- hood (0.04 kg): a square shade, 82 x 82 mm outside, 80 mm walls 5 mm thick around a 72 x 72 mm opening, a 6 mm
  roof and a 20 x 20 x 24 mm knob on top to grasp it by. Seated it stands on the plinth around the block (2 mm of
  clearance per side), its roof 4 mm above the bulb's top, in any of 4 turns about its axis.
A heavy obstacle block stands behind the workspace, moved by the randomness level's obstacle offset; it is the last of
the observed part poses, as in FurnitureBench.

Pairs, in order: the bulb locked in the base, then the hood on the base (over the bulb).

Expert plan: a top-down grasp of the bulb's glass, the key turned along the slot; insert until the key is on the
chamber floor, turn a quarter turn, release, rise, then a top-down grasp of the hood's knob, place it over the block.

Episodes last 700 control steps (70 s at 10 Hz). The scripted expert's successful episodes take 140 steps on average
(50 demos at Low and at Med). ResiP's 1000 steps for lamp include screwing the bulb and the hood; 700 leaves a policy
five times the expert's time.
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
    square_collar,
    symmetric_poses,
)

FAMILY = "Lamp"
EPISODE_LENGTH = 700

PLINTH_HALF_WIDTH, PLINTH_HALF_THICKNESS = 0.06, 0.01
CHAMBER_HALF_WIDTH, CHAMBER_HEIGHT = 0.024, 0.014
WALL_THICKNESS = 0.01
LIP_THICKNESS = 0.006
SLOT_HALF_WIDTH = 0.012
KEY_HALF = (0.02, 0.01, 0.004)
STEM_RADIUS, STEM_HALF_LENGTH = 0.008, 0.008
GLASS_RADIUS, GLASS_HALF_LENGTH = 0.016, 0.01
HOOD_CLEARANCE = 0.002  # per side, between the hood and the block
HOOD_WALL_THICKNESS = 0.005
HOOD_WALL_HEIGHT = 0.08
HOOD_ROOF_HALF_THICKNESS = 0.003
KNOB_HALF = (0.01, 0.01, 0.012)
GRASP_GLASS_Z = 0.04  # tool centre point this far above the bulb's bottom: the bottom of the glass's straight part
GRASP_KNOB_BELOW_TOP = 0.012  # tool centre point this far below the knob's top
TWIST = math.pi / 2
# The hood comes down over the bulb: its rim starts 10 cm above its seat, 24 mm above the seated bulb's top (76 mm).
HOOD_APPROACH = 0.1

PLINTH_TOP = 2 * PLINTH_HALF_THICKNESS
BLOCK_HALF_WIDTH = CHAMBER_HALF_WIDTH + WALL_THICKNESS
BLOCK_TOP = PLINTH_TOP + CHAMBER_HEIGHT + LIP_THICKNESS
KNOB_TOP = HOOD_WALL_HEIGHT + 2 * HOOD_ROOF_HALF_THICKNESS + 2 * KNOB_HALF[2]


def _base_shapes() -> tuple[Shape, ...]:
    plinth = Shape("box", (PLINTH_HALF_WIDTH, PLINTH_HALF_WIDTH, PLINTH_HALF_THICKNESS),
                   Pose((0.0, 0.0, PLINTH_HALF_THICKNESS)))
    block_half_height = (CHAMBER_HEIGHT + LIP_THICKNESS) / 2
    # The walls across x stand the block's full height (the slot ends at them); those across y stop under the lip.
    across_x = square_collar((0.0, 0.0, PLINTH_TOP + block_half_height), CHAMBER_HALF_WIDTH, WALL_THICKNESS,
                             block_half_height)[:2]
    across_y = square_collar((0.0, 0.0, PLINTH_TOP + CHAMBER_HEIGHT / 2), CHAMBER_HALF_WIDTH, WALL_THICKNESS,
                             CHAMBER_HEIGHT / 2)[2:]
    lip_half_y = (BLOCK_HALF_WIDTH - SLOT_HALF_WIDTH) / 2
    lip = tuple(
        Shape("box", (CHAMBER_HALF_WIDTH, lip_half_y, LIP_THICKNESS / 2),
              Pose((0.0, sign * (SLOT_HALF_WIDTH + lip_half_y), BLOCK_TOP - LIP_THICKNESS / 2)))
        for sign in (1.0, -1.0)
    )
    return (plinth,) + across_x + across_y + lip


def _bulb_shapes() -> tuple[Shape, ...]:
    key_top = 2 * KEY_HALF[2]
    stem_top = key_top + 2 * STEM_HALF_LENGTH
    return (
        Shape("box", KEY_HALF, Pose((0.0, 0.0, KEY_HALF[2]))),
        Shape("cylinder", (STEM_RADIUS, STEM_HALF_LENGTH), Pose((0.0, 0.0, key_top + STEM_HALF_LENGTH))),
        Shape("capsule", (GLASS_RADIUS, GLASS_HALF_LENGTH),
              Pose((0.0, 0.0, stem_top + GLASS_RADIUS + GLASS_HALF_LENGTH))),
    )


def _hood_shapes() -> tuple[Shape, ...]:
    inner = BLOCK_HALF_WIDTH + HOOD_CLEARANCE
    outer = inner + HOOD_WALL_THICKNESS
    walls = square_collar((0.0, 0.0, HOOD_WALL_HEIGHT / 2), inner, HOOD_WALL_THICKNESS, HOOD_WALL_HEIGHT / 2)
    roof_top = HOOD_WALL_HEIGHT + 2 * HOOD_ROOF_HALF_THICKNESS
    roof = Shape("box", (outer, outer, HOOD_ROOF_HALF_THICKNESS), Pose((0.0, 0.0, roof_top - HOOD_ROOF_HALF_THICKNESS)))
    knob = Shape("box", KNOB_HALF, Pose((0.0, 0.0, roof_top + KNOB_HALF[2])))
    return walls + (roof, knob)


def make_spec(randomness: RandomnessSpec) -> TaskSpec:
    """The TaskSpec of this family at one randomness level (spec.LOW or spec.MED); see the module docstring."""
    base = PartSpec(name="base", shapes=_base_shapes(), mass=1.5, init_pose=Pose((0.5, 0.15, 0.0)), friction=0.5,
                    rgba=(0.35, 0.35, 0.4, 1.0))
    bulb = PartSpec(name="bulb", shapes=_bulb_shapes(), mass=0.05, init_pose=Pose((0.4, -0.12, 0.0)), friction=0.15,
                    rgba=(0.95, 0.9, 0.6, 1.0))
    hood = PartSpec(name="hood", shapes=_hood_shapes(), mass=0.04, init_pose=Pose((0.6, -0.12, 0.0)), friction=0.15,
                    rgba=(0.8, 0.35, 0.3, 1.0))
    locked = symmetric_poses((0.0, 0.0, PLINTH_TOP), turns=4, flip=False)[1::2]  # a quarter turn either way
    pairs = (
        PairSpec(base="base", part="bulb", rel_poses=locked),
        PairSpec(base="base", part="hood", rel_poses=symmetric_poses((0.0, 0.0, PLINTH_TOP), turns=4, flip=False)),
    )
    return TaskSpec(family=FAMILY, randomness=randomness, parts=(base, bulb, hood, obstacle_part(x=0.8)), pairs=pairs,
                    episode_length=EPISODE_LENGTH)


PLAN = (
    InsertionPlan(part="bulb", base="base", grasp_poses=top_down_grasps(GRASP_GLASS_Z, turns=4),
                  approach_height=0.05, twist=TWIST),
    InsertionPlan(part="hood", base="base", grasp_poses=top_down_grasps(KNOB_TOP - GRASP_KNOB_BELOW_TOP, turns=4),
                  approach_height=HOOD_APPROACH),
)

SPECS = {level.name: make_spec(level) for level in (LOW, MED)}
