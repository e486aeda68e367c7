"""A scripted, batched insertion expert: a state machine on privileged state (part poses).

Phases: REACH above the part, DESCEND to a grasp pose, GRASP (close and wait), LIFT, ALIGN the held part above
its target on the base part (turning it on the way, e.g. a lying part upright), INSERT along the base's z axis,
SEAT (press to the bottom). It recovers by going back to REACH when the grasp is lost and to ALIGN when an
insertion drifts or jams. It reads only the observation terms every backend provides (ee pose, gripper width,
part poses) and outputs the task action: absolute tool pose (position, 6-D rotation, gripper > 0 closes), moving
a bounded step per control step like a teleoperator.
Noise (per-step jitter in the free-space phases, fading near each goal as a person slows down to aim, and a
per-episode speed) makes demos imperfect like human ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch

from inril.tasks.spec import Pose, TaskSpec
from inril.utils.rotations import (
    axis_angle_to_matrix,
    clip_norm,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    quat_to_matrix,
)


class Phase(IntEnum):
    REACH = 0
    DESCEND = 1
    GRASP = 2
    LIFT = 3
    ALIGN = 4
    INSERT = 5
    SEAT = 6


@dataclass(frozen=True)
class InsertionPlan:
    """Task knowledge the expert needs: which part goes on which, and how the tool holds the part.

    grasp_poses: candidate tool poses in the part frame; the one closest to the tool's orientation is used.
    approach_height: offset along the world z (pre-grasp) and the base z (pre-insert) before the final approach.
    """

    part: str
    base: str
    grasp_poses: tuple[Pose, ...]
    approach_height: float

    def __post_init__(self) -> None:
        if not self.grasp_poses:
            raise ValueError("InsertionPlan needs at least one grasp pose")
        if self.approach_height <= 0:
            raise ValueError(f"InsertionPlan.approach_height must be > 0, got {self.approach_height}")


@dataclass
class ExpertConfig:
    max_step: float = 0.03  # m per control step in free space
    max_rot_step: float = 0.25  # rad per control step
    insert_step: float = 0.006  # m per control step while inserting
    press_depth: float = 0.004  # how far below the seated pose SEAT aims
    reach_tolerance: float = 0.01
    grasp_tolerance: float = 0.004
    align_tolerance: float = 0.0006  # lateral error of the part above its target before inserting
    drift_tolerance: float = 0.003  # lateral error while inserting that sends the expert back to ALIGN
    stage_tolerance: float = 0.01  # coarse gates: lifted high enough, near the pre-insert pose, nearly seated
    rot_tolerance: float = 0.02  # rad
    grasp_steps: int = 5
    seat_steps: int = 30  # give up pressing after this many steps and realign
    stall_steps: int = 3  # inserting without 1 mm of progress for this long means jammed: realign
    lost_grasp_distance: float = 0.03
    pos_noise: float = 0.004  # m, std of per-step jitter in free-space phases
    rot_noise: float = 0.05  # rad, std of per-step jitter in free-space phases
    noise_prob: float = 0.5  # chance a step is jittered, as FurnitureBench's scripted oracle
    noise_distance: float = 0.05  # jitter fades out within this distance of the goal, as a person slows down to aim
    speed_range: tuple[float, float] = (0.7, 1.0)  # per-episode multiplier of the step sizes
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("max_step", "max_rot_step", "insert_step", "reach_tolerance", "grasp_tolerance", "align_tolerance",
                    "drift_tolerance", "stage_tolerance", "rot_tolerance", "lost_grasp_distance")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ExpertConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("press_depth", "pos_noise", "rot_noise", "noise_distance"):
            if getattr(self, name) < 0:
                raise ValueError(f"ExpertConfig.{name} must be >= 0, got {getattr(self, name)}")
        if min(self.grasp_steps, self.seat_steps, self.stall_steps) < 1:
            raise ValueError("ExpertConfig.grasp_steps, seat_steps and stall_steps must be >= 1")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError(f"ExpertConfig.noise_prob must be in [0, 1], got {self.noise_prob}")
        lo, hi = self.speed_range
        if not 0 < lo <= hi:
            raise ValueError(f"ExpertConfig.speed_range must satisfy 0 < low <= high, got {self.speed_range}")


# Phases where jitter is added: precision phases stay clean so the expert still succeeds.
_NOISY = (Phase.REACH, Phase.LIFT, Phase.ALIGN)


def _pose_tensors(poses: tuple[Pose, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    pos = torch.tensor([p.pos for p in poses], dtype=torch.float64)
    rot = quat_to_matrix(torch.tensor([p.quat for p in poses], dtype=torch.float64))
    return pos, rot


def _rotation_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle between rotations a and b (..., 3, 3)."""
    cos = (((a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1)) - 1.0) / 2.0
    return torch.arccos(cos.clamp(-1.0, 1.0))


class InsertionExpert:
    """Batched state machine. Call `act(obs_terms)` each control step and `reset(done_mask)` after env resets."""

    def __init__(self, spec: TaskSpec, plan: InsertionPlan, num_envs: int, cfg: ExpertConfig | None = None) -> None:
        self.cfg = cfg or ExpertConfig()
        self.num_envs = num_envs
        self.part_idx, self.base_idx = spec.part_index(plan.part), spec.part_index(plan.base)
        pair = next(p for p in spec.pairs if p.part == plan.part and p.base == plan.base)
        self.seat_pos, self.seat_rot = _pose_tensors(pair.rel_poses)
        self.grasp_pos, self.grasp_rot = _pose_tensors(plan.grasp_poses)
        # The hand holds the part from outside the socket: with grasp g, seat pose k is a target only if it puts the
        # grasp point at or above the part centre along the insertion axis (the base z). For a part held near one
        # end this picks which end goes in; without it a lying part's two upright targets tie.
        self.seat_ok = self.seat_rot[:, 2, :] @ self.grasp_pos.T >= -1e-9  # (K, G)
        if not self.seat_ok.any(0).all():
            raise ValueError(f"every grasp pose of {plan.part} must leave the grasp point above the part centre in "
                             "some seated pose")
        self.approach = plan.approach_height
        self.generator = torch.Generator().manual_seed(self.cfg.seed)
        self.phase = torch.zeros(num_envs, dtype=torch.long)
        self.timer = torch.zeros(num_envs, dtype=torch.long)
        self.grasp_choice = torch.zeros(num_envs, dtype=torch.long)
        self.speed = torch.ones(num_envs, dtype=torch.float64)
        self.best_depth = torch.zeros(num_envs, dtype=torch.float64)  # insertion progress, for jam detection
        self.stall = torch.zeros(num_envs, dtype=torch.long)
        self.reset(torch.ones(num_envs, dtype=torch.bool))

    def reset(self, mask: torch.Tensor) -> None:
        """Start over in the envs where `mask` is true (their episode just ended) with a new per-episode speed."""
        mask = mask.to("cpu", torch.bool)
        self.phase[mask] = Phase.REACH
        self.timer[mask] = 0
        self.grasp_choice[mask] = -1  # chosen on the first step of the episode
        lo, hi = self.cfg.speed_range
        draw = torch.rand(self.num_envs, generator=self.generator, dtype=torch.float64)
        self.speed = torch.where(mask, lo + (hi - lo) * draw, self.speed)

    def act(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """obs: the env's observation terms (ee_pos, ee_quat, gripper_width, parts_poses). Returns (N, 10) on the
        device of the observations."""
        device = obs["ee_pos"].device
        ee_pos = obs["ee_pos"].to("cpu", torch.float64)
        ee_rot = quat_to_matrix(obs["ee_quat"].to("cpu", torch.float64))
        poses = obs["parts_poses"].to("cpu", torch.float64).reshape(self.num_envs, -1, 7)
        part_pos, part_rot = poses[:, self.part_idx, :3], quat_to_matrix(poses[:, self.part_idx, 3:])
        base_pos, base_rot = poses[:, self.base_idx, :3], quat_to_matrix(poses[:, self.base_idx, 3:])

        # Grasp pose: the candidate closest to the current tool orientation, chosen once per episode.
        cand_rot = part_rot[:, None] @ self.grasp_rot  # (N, G, 3, 3)
        unset = self.grasp_choice < 0
        if unset.any():
            best = _rotation_angle(cand_rot, ee_rot[:, None]).argmin(-1)
            self.grasp_choice = torch.where(unset, best, self.grasp_choice)
        rows = torch.arange(self.num_envs)
        grasp_rot = cand_rot[rows, self.grasp_choice]
        grasp_pos = part_pos + (part_rot @ self.grasp_pos[self.grasp_choice][..., None])[..., 0]

        # Seated part pose: of the symmetric targets the grasp allows, the one closest to the part's orientation.
        seat_rot_all = base_rot[:, None] @ self.seat_rot  # (N, K, 3, 3)
        seat_angle = _rotation_angle(seat_rot_all, part_rot[:, None])
        k = seat_angle.masked_fill(~self.seat_ok.T[self.grasp_choice], torch.inf).argmin(-1)
        seat_rot = seat_rot_all[rows, k]
        seat_pos = base_pos + (base_rot @ self.seat_pos[k][..., None])[..., 0]
        axis = base_rot[:, :, 2]  # insertion direction is the base's z axis
        pre_pos = seat_pos + self.approach * axis

        # Tool pose that would put the held part at (pos, rot): keep the current part-to-tool transform.
        tool_in_part_rot = part_rot.transpose(1, 2) @ ee_rot
        tool_in_part_pos = (part_rot.transpose(1, 2) @ (ee_pos - part_pos)[..., None])[..., 0]

        def tool_for_part(pos: torch.Tensor, rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return pos + (rot @ tool_in_part_pos[..., None])[..., 0], rot @ tool_in_part_rot

        self._advance(ee_pos, ee_rot, grasp_pos, grasp_rot, part_pos, part_rot, pre_pos, seat_pos, seat_rot, axis)

        up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
        phase = self.phase
        goal_pos, goal_rot = grasp_pos + self.approach * up, grasp_rot  # REACH
        goal_pos = torch.where((phase == Phase.DESCEND)[:, None] | (phase == Phase.GRASP)[:, None], grasp_pos, goal_pos)
        lift_pos, lift_rot = tool_for_part(part_pos + (pre_pos[:, 2:] - part_pos[:, 2:]).clamp_min(0) * up, part_rot)
        align_pos, align_rot = tool_for_part(pre_pos, seat_rot)
        insert_pos, insert_rot = tool_for_part(seat_pos, seat_rot)
        seat_goal_pos, _ = tool_for_part(seat_pos - self.cfg.press_depth * axis, seat_rot)
        for which, pos, rot in (
            (Phase.LIFT, lift_pos, lift_rot),
            (Phase.ALIGN, align_pos, align_rot),
            (Phase.INSERT, insert_pos, insert_rot),
            (Phase.SEAT, seat_goal_pos, insert_rot),
        ):
            sel = phase == which
            goal_pos = torch.where(sel[:, None], pos, goal_pos)
            goal_rot = torch.where(sel[:, None, None], rot, goal_rot)

        delta = clip_norm(goal_pos - ee_pos, self.cfg.max_step * self.speed)
        # Inserting: slow along the insertion axis, but correct sideways at full rate so the part stays centred.
        axial = ((goal_pos - ee_pos) * axis).sum(-1, keepdim=True)
        lateral = clip_norm(goal_pos - ee_pos - axial * axis, self.cfg.max_step)
        insert_delta = lateral + axial.clamp(-self.cfg.insert_step, self.cfg.insert_step) * axis
        inserting = (phase == Phase.INSERT) | (phase == Phase.SEAT)
        delta = torch.where(inserting[:, None], insert_delta, delta)
        rot_delta = matrix_to_axis_angle(goal_rot @ ee_rot.transpose(1, 2))
        max_rot = self.cfg.max_rot_step * self.speed
        rot_delta = clip_norm(rot_delta, max_rot)

        noisy = torch.zeros(self.num_envs, dtype=torch.bool)
        for which in _NOISY:
            noisy |= phase == which
        noisy &= torch.rand(self.num_envs, generator=self.generator, dtype=torch.float64) < self.cfg.noise_prob
        scale = noisy * ((goal_pos - ee_pos).norm(dim=-1) / self.cfg.noise_distance).clamp(max=1.0)
        jitter = torch.randn(self.num_envs, 6, generator=self.generator, dtype=torch.float64)
        delta = delta + scale[:, None] * self.cfg.pos_noise * jitter[:, :3]
        rot_delta = rot_delta + scale[:, None] * self.cfg.rot_noise * jitter[:, 3:]

        target_pos = ee_pos + delta
        target_rot = axis_angle_to_matrix(rot_delta) @ ee_rot
        closed = phase >= Phase.GRASP
        gripper = torch.where(closed, 1.0, -1.0).to(torch.float64)[:, None]
        self.timer += 1
        return torch.cat((target_pos, matrix_to_rot6d(target_rot), gripper), dim=-1).to(device, torch.float32)

    def _advance(
        self,
        ee_pos: torch.Tensor,
        ee_rot: torch.Tensor,
        grasp_pos: torch.Tensor,
        grasp_rot: torch.Tensor,
        part_pos: torch.Tensor,
        part_rot: torch.Tensor,
        pre_pos: torch.Tensor,
        seat_pos: torch.Tensor,
        seat_rot: torch.Tensor,
        axis: torch.Tensor,
    ) -> None:
        """Phase transitions from the current state; each env moves at most one phase per step."""
        cfg, phase = self.cfg, self.phase
        up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
        to_grasp = (grasp_pos - ee_pos).norm(dim=-1)
        grasp_rot_err = _rotation_angle(grasp_rot, ee_rot)
        above = (grasp_pos + self.approach * up - ee_pos).norm(dim=-1)
        part_err = pre_pos - part_pos
        seat_err = seat_pos - part_pos
        lateral = (seat_err - (seat_err * axis).sum(-1, keepdim=True) * axis).norm(dim=-1)
        depth = (seat_err * axis).sum(-1).neg()  # how far above the seated pose along the insertion axis
        part_rot_err = _rotation_angle(seat_rot, part_rot)
        lost = to_grasp > cfg.lost_grasp_distance
        inserting = (phase == Phase.INSERT) | (phase == Phase.SEAT)
        progressed = depth < self.best_depth - 0.001
        self.best_depth = torch.where(progressed | ~inserting, depth, self.best_depth)
        self.stall = torch.where(progressed | ~inserting, 0, self.stall + 1)
        jammed = (phase == Phase.INSERT) & (self.stall >= cfg.stall_steps)

        new = phase.clone()
        above_grasp = (above < cfg.reach_tolerance) & (grasp_rot_err < 2 * cfg.rot_tolerance)
        new[(phase == Phase.REACH) & above_grasp] = Phase.DESCEND
        new[(phase == Phase.DESCEND) & (to_grasp < cfg.grasp_tolerance)] = Phase.GRASP
        new[(phase == Phase.GRASP) & (self.timer >= cfg.grasp_steps)] = Phase.LIFT
        near = cfg.stage_tolerance
        new[(phase == Phase.LIFT) & (part_err[:, 2] < near)] = Phase.ALIGN
        aligned = (lateral < cfg.align_tolerance) & (part_err.norm(dim=-1) < near) & (part_rot_err < cfg.rot_tolerance)
        new[(phase == Phase.ALIGN) & aligned] = Phase.INSERT
        new[(phase == Phase.INSERT) & (depth < near)] = Phase.SEAT
        drifted = lateral > cfg.drift_tolerance
        new[inserting & (drifted | jammed) & (depth > near)] = Phase.ALIGN
        new[(phase == Phase.SEAT) & (self.timer >= cfg.seat_steps)] = Phase.ALIGN
        new[(phase >= Phase.LIFT) & lost] = Phase.REACH
        changed = new != phase
        self.timer[changed] = 0
        self.grasp_choice[changed & (new == Phase.REACH)] = -1
        self.phase = new
