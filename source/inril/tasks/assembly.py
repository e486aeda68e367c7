"""Batched assembly checks and episode bookkeeping shared by every backend: which part pairs sit at their target
relative pose, which stages of their assembly they have reached, and what each episode logs.

Frames: both backends pass part poses in the robot base frame: the embedded env's world frame (`_part_poses` reads
the free joints) and Isaac Lab's env frame (`mdp.part_poses_in_base`). The table top is at z = 0 there and each
part's spec `init_pose` is its nominal rest pose on the table, so one definition serves both.

Stages of a pair (base part, moving part), FurnitureBench-style phase completions, defined generically per pair:
- lifted: the moving part's origin is at least LIFT_HEIGHT above its rest height (its `init_pose` z). A height,
  not a grasp test: it separates carrying the part from pushing it around the table.
- aligned: in the base part's frame, for one of the pair's target relative poses, the moving part is within
  ALIGN_RADIUS of the target in x and y (Euclidean), between the pair's pos_tolerance below and ALIGN_HEIGHT above
  it along the base's z axis taken pointing up (a base part standing upside down, such as a leg in its socket
  either end up, counts heights upward all the same), and passes the pair's orientation check: held over the
  target, ready to insert.
- assembled: exactly `AssemblyChecker.check`.
An episode counts a stage for a pair when any of its steps reached it (`AssemblyProgress.reached`).

Several pairs (FurnitureBench's multi-part furniture): the sparse reward is +1 for each pair newly assembled, success
is every pair assembled during the episode, and each pair's stages are logged under its name (`pair_names`).

Closeness of a pair (the optional dense reward's potential): exp(-d / KEYPOINT_SCALE), where d is the mean distance
between the moving part's keypoints where they are and where they would be at the nearest of the pair's target
relative poses. The keypoints sit at the ends of the part's three axes (its shapes' extents), so a tilted part is
far from its target even when its origin is not, as in Isaac Lab Factory's keypoint rewards. The scale makes the
potential flat far away, where the BC base already does well, and steep over the last centimetres of the insertion,
where it fails. With several pairs the potential is taken in the pairs' order: pair k's closeness counts once every
pair before it has been assembled in the episode, so the dense term leads through the assembly one pair at a time
instead of rewarding, say, the hood hovering over an empty lamp base.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from inril.tasks.spec import PartSpec, Shape, TaskSpec
from inril.utils.rotations import quat_to_matrix

STAGES = ("lifted", "aligned", "assembled")
ASSEMBLED = STAGES.index("assembled")
# m: far above what settling or the reset push moves a resting part; far below what every insertion needs (the peg
# clears its hole's walls 50 mm up, the leg stands upright 47.5 mm higher than it lies).
LIFT_HEIGHT = 0.02
# m: >= sqrt(2) * every task's pos_tolerance (5 mm), so an assembled pose (within the tolerance per axis) is also
# aligned; below the inserted parts' half widths (12-12.5 mm), so an aligned part still covers its target's centre.
ALIGN_RADIUS = 0.01
# m: the insertion stroke (40 mm hole, 30 mm socket) plus a centimetre or two; the scripted expert's pre-insert hover
# (approach_height 5-6 cm) is at its top, so the stage fires as the final descent starts.
ALIGN_HEIGHT = 0.05
# m: the closeness potential falls to 1/e at this mean keypoint distance: about 0.23 for a leg resting on its
# socket's rim (29 mm up), 0.08 at the expert's pre-insert hover, ~0 for a part still on the table.
KEYPOINT_SCALE = 0.02


def pair_names(spec: TaskSpec) -> list[str]:
    """Log names of the pairs, in order: the moving part's name, or "<base>_<part>" where a part moves in several."""
    moving = [pair.part for pair in spec.pairs]
    return [p.part if moving.count(p.part) == 1 else f"{p.base}_{p.part}" for p in spec.pairs]


def relative_pose(
    base_pos: torch.Tensor, base_rot: torch.Tensor, part_pos: torch.Tensor, part_rot: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose of the part in the base frame: position (..., 3) and rotation matrix (..., 3, 3)."""
    base_rot_t = base_rot.transpose(-1, -2)
    return (base_rot_t @ (part_pos - base_pos)[..., None])[..., 0], base_rot_t @ part_rot


def _half_extents(shape: Shape) -> tuple[float, float, float]:
    """Half extents along the shape's own axes (its rotation in the part frame is ignored: ours are axis-aligned)."""
    if shape.kind == "box":
        return shape.size
    radius = shape.size[0]
    if shape.kind == "sphere":
        return radius, radius, radius
    return radius, radius, shape.size[1] + (radius if shape.kind == "capsule" else 0.0)


def part_keypoints(part: PartSpec, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(6, 3) points in the part frame: the ends of its x, y and z axes at the extent of its shapes."""
    extent = [0.0, 0.0, 0.0]
    for shape in part.shapes:
        half = _half_extents(shape)
        for axis in range(3):
            extent[axis] = max(extent[axis], abs(shape.pose.pos[axis]) + half[axis])
    axes = torch.diag(torch.tensor(extent, dtype=dtype))
    return torch.cat((axes, -axes))


def target_tensors(spec: TaskSpec, dtype: torch.dtype = torch.float64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per pair: target positions (K, 3) and rotations (K, 3, 3) of its K acceptable relative poses."""
    targets = []
    for pair in spec.pairs:
        pos = torch.tensor([p.pos for p in pair.rel_poses], dtype=dtype)
        rot = quat_to_matrix(torch.tensor([p.quat for p in pair.rel_poses], dtype=dtype))
        targets.append((pos, rot))
    return targets


class AssemblyChecker:
    """`check(part_pos, part_quat)` -> (N, num_pairs) bool: pair assembled now; `stages(...)` -> (N, num_pairs,
    len(STAGES)) bool: pair at each stage now (see the module docstring).

    A pair is assembled when, for one of its target relative poses, every position component is within the pair's
    tolerance and each of the three rotation axes has cosine >= ori_bound with the target's (FurnitureBench).
    """

    def __init__(self, spec: TaskSpec) -> None:
        self.pairs = [
            (spec.part_index(p.base), spec.part_index(p.part), p.pos_tolerance, p.ori_bound) for p in spec.pairs
        ]
        self.targets = target_tensors(spec)
        self.rest_heights = [spec.part(p.part).init_pose.pos[2] for p in spec.pairs]
        self.keypoints = [part_keypoints(spec.part(p.part)) for p in spec.pairs]

    def _relative(
        self, part_pos: torch.Tensor, part_quat: torch.Tensor
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per pair: the moving part's pose in the base frame, (N, 3) and (N, 3, 3), and the pair's K target poses,
        (K, 3) and (K, 3, 3), on the poses' device and dtype."""
        rot = quat_to_matrix(part_quat)
        for (base, part, _, _), (t_pos, t_rot) in zip(self.pairs, self.targets):
            rel_pos, rel_rot = relative_pose(part_pos[:, base], rot[:, base], part_pos[:, part], rot[:, part])
            yield rel_pos, rel_rot, t_pos.to(part_pos), t_rot.to(part_pos)

    def _offsets(self, part_pos: torch.Tensor, part_quat: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Per pair: the moving part's offset from each of the K targets in the base frame (N, K, 3), and whether its
        orientation passes the pair's check against each (N, K)."""
        for (_, _, _, bound), (rel_pos, rel_rot, t_pos, t_rot) in zip(self.pairs, self._relative(part_pos, part_quat)):
            axis_cos = (rel_rot[:, None] * t_rot).sum(-2)  # column-wise dot products, (N, K, 3)
            yield rel_pos[:, None, :] - t_pos, (axis_cos >= bound).all(-1)

    def closeness(self, part_pos: torch.Tensor, part_quat: torch.Tensor) -> torch.Tensor:
        """part_pos (N, P, 3), part_quat (N, P, 4) wxyz, base frame -> (N, pairs) in (0, 1]: 1 at a target pose,
        exp(-mean keypoint distance to the nearest target / KEYPOINT_SCALE) elsewhere (module docstring)."""
        pairs = []
        for keypoints, (rel_pos, rel_rot, t_pos, t_rot) in zip(self.keypoints, self._relative(part_pos, part_quat)):
            kp = keypoints.to(part_pos)
            here = rel_pos[:, None, :] + kp @ rel_rot.transpose(-1, -2)  # (N, 6, 3)
            there = t_pos[:, None, :] + kp @ t_rot.transpose(-1, -2)  # (K, 6, 3)
            distance = torch.linalg.vector_norm(here[:, None] - there, dim=-1).mean(-1)  # (N, K)
            pairs.append(torch.exp(-distance.min(-1).values / KEYPOINT_SCALE))
        return torch.stack(pairs, -1)

    @staticmethod
    def _assembled(offset: torch.Tensor, ori_ok: torch.Tensor, tolerance: float) -> torch.Tensor:
        return ((offset.abs() <= tolerance).all(-1) & ori_ok).any(-1)

    def check(self, part_pos: torch.Tensor, part_quat: torch.Tensor) -> torch.Tensor:
        """part_pos (N, P, 3), part_quat (N, P, 4) wxyz, in spec part order."""
        matches = zip(self.pairs, self._offsets(part_pos, part_quat))
        return torch.stack([self._assembled(offset, ori_ok, tol) for (_, _, tol, _), (offset, ori_ok) in matches], -1)

    def stages(self, part_pos: torch.Tensor, part_quat: torch.Tensor) -> torch.Tensor:
        """part_pos (N, P, 3), part_quat (N, P, 4) wxyz, in spec part order, base frame -> (N, pairs, STAGES) bool."""
        flags = []
        base_up = quat_to_matrix(part_quat)[..., 2, 2] >= 0  # (N, P): the part's z axis points up
        for (base, part, tol, _), rest, (offset, ori_ok) in zip(
            self.pairs, self.rest_heights, self._offsets(part_pos, part_quat)
        ):
            height = torch.where(base_up[:, base, None], offset[..., 2], -offset[..., 2])
            over = (torch.linalg.vector_norm(offset[..., :2], dim=-1) <= ALIGN_RADIUS) & (height <= ALIGN_HEIGHT)
            stage = {
                "lifted": part_pos[:, part, 2] >= rest + LIFT_HEIGHT,
                "aligned": (over & (height >= -tol) & ori_ok).any(-1),
                "assembled": self._assembled(offset, ori_ok, tol),
            }
            flags.append(torch.stack([stage[name] for name in STAGES], -1))
        return torch.stack(flags, 1)


class AssemblyProgress:
    """Per-env episode bookkeeping of both backends.

    `reached` (N, pairs, STAGES) holds the stages each pair reached during the episode; `newly` (N, pairs) the
    pairs that became assembled with the latest update (the sparse reward: a pair counts once per episode);
    `success` is every pair assembled during the episode. `episode_log` gives the finished episodes' log entries.

    With `shaping`, `closeness` (N, pairs) is each pair's closeness after the latest update, `potential` (N,) the sum
    of the closeness of the pairs whose predecessors were all assembled during the episode (the pairs' order, module
    docstring), and `shaping` (N,) its change: the optional dense reward, potential-based shaping (Ng et al. 1999), so
    it rewards progress towards the target and cannot be farmed by hovering. The first update after a reset has no
    previous potential and gives 0. Without it (the sparse reward) all stay 0 and cost nothing.
    """

    def __init__(self, spec: TaskSpec, num_envs: int, device: torch.device | str, shaping: bool = False) -> None:
        self.checker = AssemblyChecker(spec)
        self.pair_names = pair_names(spec) if len(spec.pairs) > 1 else []  # one pair: the stage keys say it all
        self.with_shaping = shaping
        self.reached = torch.zeros(num_envs, len(spec.pairs), len(STAGES), dtype=torch.bool, device=device)
        self.newly = torch.zeros(num_envs, len(spec.pairs), dtype=torch.bool, device=device)
        self.closeness = torch.zeros(num_envs, len(spec.pairs), dtype=torch.float32, device=device)
        self.potential = torch.zeros(num_envs, dtype=torch.float32, device=device)
        self.shaping = torch.zeros(num_envs, dtype=torch.float32, device=device)
        self._fresh = torch.ones(num_envs, dtype=torch.bool, device=device)  # no closeness since the last reset
        self._updated_at: int | None = None

    @property
    def assembled(self) -> torch.Tensor:
        """(N, pairs) bool: pair assembled during this episode (a view of `reached`)."""
        return self.reached[..., ASSEMBLED]

    @property
    def success(self) -> torch.Tensor:
        """(N,) bool: every pair assembled during this episode."""
        return self.assembled.all(-1)

    def update(
        self,
        part_pos: torch.Tensor,
        part_quat: torch.Tensor,
        step: int | None = None,
        valid: torch.Tensor | None = None,
    ) -> None:
        """Fold in the parts' base-frame poses (N, P, 3), (N, P, 4) (w, x, y, z) after control step `step`. Repeated
        calls for the same step (Isaac Lab's reward and termination terms both ask) change nothing; step None always
        folds in. valid (N,) bool, optional: envs whose poses count (the embedded env drops diverged states)."""
        if step is not None and step == self._updated_at:
            return
        now = self.checker.stages(part_pos, part_quat)
        if valid is not None:
            now &= valid[:, None, None]
        self.newly = now[..., ASSEMBLED] & ~self.assembled
        self.reached |= now
        if self.with_shaping:
            self._update_shaping(part_pos, part_quat, valid)
        self._updated_at = step

    def _update_shaping(self, part_pos: torch.Tensor, part_quat: torch.Tensor, valid: torch.Tensor | None) -> None:
        closeness = self.checker.closeness(part_pos, part_quat).to(self.closeness)
        if valid is not None:  # a diverged state is not progress: hold the potential where it was
            closeness = torch.where(valid[:, None], closeness, self.closeness)
        done = self.assembled.to(closeness.dtype)
        open_ = torch.cat((torch.ones_like(done[:, :1]), done[:, :-1].cumprod(-1)), -1)  # predecessors all assembled
        potential = (open_ * closeness).sum(-1)
        self.shaping = torch.where(self._fresh, 0.0, potential - self.potential)
        self.closeness, self.potential, self._fresh = closeness, potential, torch.zeros_like(self._fresh)

    def reset(self, env_ids: torch.Tensor | Sequence[int]) -> None:
        """Start new episodes in `env_ids`: clear their reached stages and restart their shaping potential."""
        self.reached[env_ids] = False
        self.newly[env_ids] = False
        self._fresh[env_ids] = True

    def episode_log(self, env_ids: torch.Tensor | Sequence[int]) -> dict[str, torch.Tensor]:
        """Log entries of the episodes of `env_ids`, which just finished, one float per episode: "/success" and, per
        stage, "/stage_<name>" = the fraction of the pairs that reached it; with several pairs also, per pair and
        stage, "/stage_<pair>_<name>" = 1.0 if that pair reached it (pair names: `pair_names`)."""
        reached = self.reached[env_ids].to(torch.float32)  # (n, pairs, STAGES)
        fractions = reached.mean(1)
        log = {"/success": self.success[env_ids].to(torch.float32)}
        log.update({f"/stage_{name}": fractions[:, i] for i, name in enumerate(STAGES)})
        for k, pair in enumerate(self.pair_names):
            log.update({f"/stage_{pair}_{name}": reached[:, k, i] for i, name in enumerate(STAGES)})
        return log

