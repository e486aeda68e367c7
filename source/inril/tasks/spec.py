"""Task specifications: the single source of part geometry, assembly targets, randomness and observation layout.

A spec is backend-neutral data. The MuJoCo backend turns it into an MJCF scene (backends/mujoco/scene.py); the Isaac
Lab side turns the same spec into USD, so both simulate the same parts and check success the same way.
Frames: the world frame is the robot base frame (z up, table top at z = 0); part frames are the part body
frames, in which shapes and assembly targets are expressed. Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# Robot-state terms of FurnitureBench / ResiP, in their order; parts_poses follows.
ROBOT_STATE_TERMS: tuple[tuple[str, int], ...] = (
    ("ee_pos", 3),
    ("ee_quat", 4),
    ("ee_linvel", 3),
    ("ee_angvel", 3),
    ("gripper_width", 1),
)
POSE_DIM = 7  # position + quaternion (w, x, y, z)
# q and -q are one rotation, so an observed quaternion needs a sign convention, and the convention
# must not flip where the robot works: the usual w >= 0 flips whenever the rotation angle crosses
# pi, which is exactly the gripper-pointing-down pose (w ~ 0; 12 flips per demo were measured, and
# BC on such observations failed). So each observed quaternion is put in the hemisphere of a
# reference: the end effector's is the gripper pointing straight down (pi about x), the parts'
# is the identity (their rest pose), i.e. w >= 0.
EE_QUAT_REFERENCE = (0.0, 1.0, 0.0, 0.0)
# Bump when observations, actions or dynamics change meaning: cached demos and bases are keyed by it.
OBSERVATION_REVISION = 2
TWIST_DIM = 6  # linear + angular velocity, world frame


def _check_vec(name: str, values: tuple[float, ...], length: int) -> None:
    if len(values) != length or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} needs {length} finite numbers, got {values}")


@dataclass(frozen=True)
class Pose:
    """A rigid pose: position `pos` in metres and unit quaternion `quat` (w, x, y, z), in the parent frame (the
    world frame for initial poses, a part frame for shapes and assembly targets). Raises ValueError on
    non-finite values or a quaternion whose norm is off 1 by more than 1e-6."""
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        _check_vec("Pose.pos", self.pos, 3)
        _check_vec("Pose.quat", self.quat, 4)
        if abs(math.sqrt(sum(q * q for q in self.quat)) - 1.0) > 1e-6:
            raise ValueError(f"Pose.quat must be a unit quaternion (w, x, y, z), got {self.quat}")


def yaw_quat(angle: float) -> tuple[float, float, float, float]:
    """Unit quaternion of a rotation by `angle` radians about z."""
    return (math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2))


def symmetric_poses(pos: tuple[float, float, float], turns: int, flip: bool) -> tuple[Pose, ...]:
    """Poses at `pos` turned by each of `turns` equal steps about z and, with `flip`, also turned a half turn about x
    (the other end down): the acceptable targets of a part with that symmetry."""
    poses = []
    for k in range(turns):
        w, _, _, s = yaw_quat(k * 2 * math.pi / turns)
        poses.append(Pose(pos, (w, 0.0, 0.0, s)))
        if flip:
            poses.append(Pose(pos, (0.0, w, s, 0.0)))  # q_yaw * (0, 1, 0, 0)
    return tuple(poses)


ShapeKind = Literal["box", "cylinder", "capsule", "sphere"]
_SHAPE_SIZE_LEN = {"box": 3, "cylinder": 2, "capsule": 2, "sphere": 1}


@dataclass(frozen=True)
class Shape:
    """A primitive collision and visual shape in its part's frame.

    size: box = half extents (x, y, z); cylinder and capsule = (radius, half length along z); sphere = (radius,).
    """

    kind: ShapeKind
    size: tuple[float, ...]
    pose: Pose = Pose()

    def __post_init__(self) -> None:
        if self.kind not in _SHAPE_SIZE_LEN:
            raise ValueError(f"Shape.kind must be one of {sorted(_SHAPE_SIZE_LEN)}, got {self.kind!r}")
        _check_vec(f"Shape.size of a {self.kind}", self.size, _SHAPE_SIZE_LEN[self.kind])
        if any(s <= 0 for s in self.size):
            raise ValueError(f"Shape.size must be positive, got {self.size}")


@dataclass(frozen=True)
class PartSpec:
    """A free rigid part on the table. Obstacles are parts the task never assembles; they move by the
    randomness level's obstacle offset instead of the part pose ranges."""

    name: str
    shapes: tuple[Shape, ...]
    mass: float
    init_pose: Pose  # nominal pose at reset, resting on the table
    friction: float = 0.5
    rgba: tuple[float, float, float, float] = (0.8, 0.6, 0.4, 1.0)
    obstacle: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"PartSpec.name must be an identifier, got {self.name!r}")
        if not self.shapes:
            raise ValueError(f"part {self.name!r} needs at least one shape")
        if self.mass <= 0 or self.friction < 0:
            raise ValueError(f"part {self.name!r}: mass must be > 0 and friction >= 0")


def square_collar(
    centre: tuple[float, float, float], inner_half: float, thickness: float, half_depth: float
) -> tuple[Shape, ...]:
    """Four box walls around a square opening of half width `inner_half` centred at `centre` (the walls' centre, in
    the part frame), `thickness` thick and 2 * `half_depth` tall: two walls across x, then two across y."""
    x, y, z = centre
    half_t = thickness / 2
    across_x = tuple(
        Shape("box", (half_t, inner_half + thickness, half_depth), Pose((x + sign * (inner_half + half_t), y, z)))
        for sign in (1.0, -1.0)
    )
    across_y = tuple(
        Shape("box", (inner_half, half_t, half_depth), Pose((x, y + sign * (inner_half + half_t), z)))
        for sign in (1.0, -1.0)
    )
    return across_x + across_y


def obstacle_part(x: float) -> PartSpec:
    """FurnitureBench's obstacle: a heavy block beyond the work area, at distance `x` in front of the robot."""
    return PartSpec(
        name="obstacle",
        shapes=(Shape("box", (0.02, 0.12, 0.04), Pose((0.0, 0.0, 0.04))),),
        mass=2.0,
        init_pose=Pose((x, 0.0, 0.0)),
        friction=0.5,
        rgba=(0.35, 0.35, 0.35, 1.0),
        obstacle=True,
    )


@dataclass(frozen=True)
class PairSpec:
    """`part` is assembled on `base` when its pose in the base frame matches any of `rel_poses` (several when the
    parts are symmetric): every position component within `pos_tolerance` metres and each rotation axis aligned
    with the target's (cosine >= `ori_bound`), as FurnitureBench's assembled check."""

    base: str
    part: str
    rel_poses: tuple[Pose, ...]
    pos_tolerance: float = 0.005
    ori_bound: float = 0.94

    def __post_init__(self) -> None:
        if self.base == self.part:
            raise ValueError(f"a pair needs two different parts, got {self.base!r} twice")
        if not self.rel_poses:
            raise ValueError(f"pair {self.base}/{self.part} needs at least one target relative pose")
        if self.pos_tolerance <= 0 or not -1.0 < self.ori_bound < 1.0:
            raise ValueError("PairSpec needs pos_tolerance > 0 and -1 < ori_bound < 1")


@dataclass(frozen=True)
class RandomnessSpec:
    """FurnitureBench's randomness knobs plus the part pose ranges of this project's tasks.

    Parts start at their nominal pose shifted uniformly by +-part_pos_range in x and y and turned by
    +-part_yaw_range about z; obstacles shift by +-obstacle_offset in x and y. At reset a random horizontal force
    (|F| <= max_force) and vertical torque (|tau| <= max_torque) briefly push every non-obstacle part, which then
    settles before the episode starts. The arm starts at its ready pose plus uniform noise of +-joint_noise_deg on
    every joint.
    """

    name: str
    part_pos_range: float
    part_yaw_range: float
    max_force: float
    max_torque: float
    obstacle_offset: float
    joint_noise_deg: float

    def __post_init__(self) -> None:
        knobs = ("part_pos_range", "part_yaw_range", "max_force", "max_torque", "obstacle_offset", "joint_noise_deg")
        for field in knobs:
            value = getattr(self, field)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"RandomnessSpec.{field} must be finite and >= 0, got {value}")


# FurnitureBench's force / torque / obstacle / joint-noise values (furniture-bench fork, FurnitureRLSimEnv).
LOW = RandomnessSpec("Low", part_pos_range=0.02, part_yaw_range=math.radians(10), max_force=0.2, max_torque=0.007,
                     obstacle_offset=0.02, joint_noise_deg=5.0)
MED = RandomnessSpec("Med", part_pos_range=0.05, part_yaw_range=math.radians(45), max_force=0.5, max_torque=0.01,
                     obstacle_offset=0.04, joint_noise_deg=10.0)


@dataclass(frozen=True)
class TaskSpec:
    """One task at one randomness level: the parts (obstacles included), the pairs to assemble in order,
    the episode length in control steps at `control_hz` (10 Hz, FurnitureBench's and ResiP's control rate),
    and the table's friction coefficient. Raises ValueError on duplicate or unknown part names, an
    assembled obstacle, no pair, or a non-positive length or rate."""
    family: str
    randomness: RandomnessSpec
    parts: tuple[PartSpec, ...]
    pairs: tuple[PairSpec, ...]
    episode_length: int  # control steps at control_hz
    control_hz: float = 10.0
    table_friction: float = 0.1

    def __post_init__(self) -> None:
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.family}: part names must be unique, got {names}")
        for pair in self.pairs:
            for name in (pair.base, pair.part):
                if name not in names:
                    raise ValueError(f"task {self.family}: pair refers to unknown part {name!r}; parts are {names}")
            if self.part(pair.part).obstacle or self.part(pair.base).obstacle:
                raise ValueError(f"task {self.family}: obstacles cannot be assembled")
        if not self.pairs:
            raise ValueError(f"task {self.family} needs at least one pair to assemble")
        if self.episode_length <= 0 or self.control_hz <= 0:
            raise ValueError(f"task {self.family}: episode_length and control_hz must be positive")

    @property
    def name(self) -> str:
        """The registry name "<family>-<Level>", e.g. "OneLeg-Low"."""
        return f"{self.family}-{self.randomness.name}"

    def part(self, name: str) -> PartSpec:
        """The part named `name`. Raises ValueError for an unknown name."""
        for part in self.parts:
            if part.name == name:
                return part
        raise ValueError(f"task {self.name} has no part {name!r}; parts are {[p.name for p in self.parts]}")

    def part_index(self, name: str) -> int:
        """Index of part `name` in `parts` (its slot in `parts_poses`). Raises ValueError for an unknown name."""
        return self.parts.index(self.part(name))

    @property
    def observation_layout(self) -> tuple[tuple[str, int], ...]:
        """Ordered (term, dim) of the `policy` observation group: robot state, then 7-D poses of every part
        (obstacles included) in spec order."""
        return ROBOT_STATE_TERMS + (("parts_poses", POSE_DIM * len(self.parts)),)

    @property
    def obs_dim(self) -> int:
        """Width of the `policy` observation group."""
        return sum(dim for _, dim in self.observation_layout)

    @property
    def critic_layout(self) -> tuple[tuple[str, int], ...]:
        """The `critic` group: the policy terms plus privileged part velocities."""
        return self.observation_layout + (("parts_vels", TWIST_DIM * len(self.parts)),)
