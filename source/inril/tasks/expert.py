"""A scripted, batched assembly expert: a state machine on privileged state (part poses).

A plan is one `InsertionPlan` per pair, done in order. Per pair the phases are: REACH above the part, DESCEND to a
grasp pose, GRASP (close and wait), LIFT, ALIGN the held part above its target on the base part (turning it on the
way, e.g. a lying part upright), INSERT along the insertion axis, SEAT (press to the bottom), SET (plans with a twist
or a hang: turn the seated part about the insertion axis into its assembled pose, e.g. a bayonet lock, or lower it
onto its target, e.g. a handle onto a peg), then, when the pair is assembled and another pair follows, RELEASE
(open) and RETREAT (move up) before the next pair's REACH: the regrasp; after the last pair it retreats too and is
DONE (holds still; an env that ends episodes on success has reset by then). It recovers by going back to REACH when the
grasp is lost, to ALIGN when an insertion drifts or jams, and to SEAT when a SET stalls. It reads only the
observation terms every backend provides (ee pose, gripper width, part poses) and outputs the task action: absolute
tool pose (position, 6-D rotation, gripper > 0 closes), moving a bounded step per control step like a teleoperator.
Noise (per-step jitter in the free-space phases, fading near each goal as a person slows down to aim, and a
per-episode speed) makes demos imperfect like human ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import torch

from inril.tasks.assembly import AssemblyChecker
from inril.tasks.spec import Pose, TaskSpec, yaw_quat
from inril.utils.rotations import axis_angle_to_matrix, clip_norm, matrix_to_axis_angle, matrix_to_rot6d, quat_to_matrix


class Phase(IntEnum):
    """The scripted expert's phase for the current pair, in the order a pair goes through them."""
    REACH = 0
    DESCEND = 1
    GRASP = 2
    LIFT = 3
    ALIGN = 4
    INSERT = 5
    SEAT = 6
    SET = 7
    RELEASE = 8
    RETREAT = 9
    DONE = 10


@dataclass(frozen=True)
class InsertionPlan:
    """Task knowledge the expert needs for one pair: which part goes on which, and how the tool holds the part.

    grasp_poses: candidate tool poses in the part frame; the one closest to the tool's orientation is used.
    approach_height: offset along the world z (pre-grasp) and the insertion axis (pre-insert) before the final
        approach.
    axis: the insertion axis in the base part's frame, the side the part comes from (taken pointing up in the world
        when it is vertical, so a base part standing either end up works).
    twist: rad about the insertion axis from where the part enters to its assembled pose (the pair's targets): the
        expert inserts the part turned back by `twist`, seats it, then turns it. 0 = no turn.
    hang: m above its target (along the world z) the part is inserted at; the expert then lowers it onto the target,
        as a mug's handle threaded over a peg and hung on it. 0 = inserted straight into the target.
    """

    part: str
    base: str
    grasp_poses: tuple[Pose, ...]
    approach_height: float
    axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    twist: float = 0.0
    hang: float = 0.0

    def __post_init__(self) -> None:
        if not self.grasp_poses:
            raise ValueError("InsertionPlan needs at least one grasp pose")
        if self.approach_height <= 0:
            raise ValueError(f"InsertionPlan.approach_height must be > 0, got {self.approach_height}")
        if len(self.axis) != 3 or abs(math.sqrt(sum(a * a for a in self.axis)) - 1.0) > 1e-6:
            raise ValueError(f"InsertionPlan.axis must be a unit 3-vector, got {self.axis}")
        if not (math.isfinite(self.twist) and abs(self.twist) <= math.pi):
            raise ValueError(f"InsertionPlan.twist must be in [-pi, pi] rad, got {self.twist}")
        if not (math.isfinite(self.hang) and self.hang >= 0):
            raise ValueError(f"InsertionPlan.hang must be finite and >= 0, got {self.hang}")


ExpertPlan = tuple[InsertionPlan, ...]  # one step per pair, in the order the expert assembles them


def top_down_grasps(height: float, turns: int = 4) -> tuple[Pose, ...]:
    """Grasp poses in the part frame: the tool pointing down the part's z axis, its centre `height` up the axis,
    turned by each of `turns` equal steps about it."""
    grasps = []
    for k in range(turns):
        w, _, _, s = yaw_quat(k * 2 * math.pi / turns)
        grasps.append(Pose((0.0, 0.0, height), (0.0, w, s, 0.0)))  # q_yaw * (0, 1, 0, 0): tool z down
    return tuple(grasps)


@dataclass
class ExpertConfig:
    """Step sizes (m, rad per 10 Hz control step), tolerances (m, rad), step budgets and demo noise of the expert."""
    max_step: float = 0.03  # m per control step in free space
    max_rot_step: float = 0.25  # rad per control step
    insert_step: float = 0.006  # m per control step while inserting
    press_depth: float = 0.004  # how far past the seated pose SEAT aims, and below the target SET aims
    reach_tolerance: float = 0.01
    grasp_tolerance: float = 0.004
    align_tolerance: float = 0.0006  # lateral error of the part above its target before inserting
    drift_tolerance: float = 0.003  # lateral error while inserting that sends the expert back to ALIGN
    stage_tolerance: float = 0.01  # coarse gates: lifted high enough, near the pre-insert pose, nearly seated
    set_depth: float = 0.003  # the part this close to its seated depth may be turned or lowered (SET)
    rot_tolerance: float = 0.02  # rad
    grasp_steps: int = 5
    seat_steps: int = 30  # give up pressing after this many steps and realign
    set_steps: int = 20  # give up turning or lowering after this many steps and seat again
    release_steps: int = 4  # open and wait before retreating from an assembled pair
    retreat_height: float = 0.08  # m the tool rises after releasing an assembled part
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
                    "drift_tolerance", "stage_tolerance", "set_depth", "rot_tolerance", "retreat_height",
                    "lost_grasp_distance")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ExpertConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("press_depth", "pos_noise", "rot_noise", "noise_distance"):
            if getattr(self, name) < 0:
                raise ValueError(f"ExpertConfig.{name} must be >= 0, got {getattr(self, name)}")
        steps = (self.grasp_steps, self.seat_steps, self.set_steps, self.release_steps, self.stall_steps)
        if min(steps) < 1:
            raise ValueError("ExpertConfig.grasp_steps, seat_steps, set_steps, release_steps and stall_steps must be "
                             ">= 1")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError(f"ExpertConfig.noise_prob must be in [0, 1], got {self.noise_prob}")
        lo, hi = self.speed_range
        if not 0 < lo <= hi:
            raise ValueError(f"ExpertConfig.speed_range must satisfy 0 < low <= high, got {self.speed_range}")


# Phases where jitter is added: precision phases stay clean so the expert still succeeds.
_NOISY = (Phase.REACH, Phase.LIFT, Phase.ALIGN, Phase.RETREAT)
_HOLDING = (Phase.GRASP, Phase.LIFT, Phase.ALIGN, Phase.INSERT, Phase.SEAT, Phase.SET)
_UP = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
_SIDE_TOLERANCE = 0.001  # m: a grasp point or target this close to level with the part or base centre counts as level


def _pose_tensors(poses: tuple[Pose, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    pos = torch.tensor([p.pos for p in poses], dtype=torch.float64)
    rot = quat_to_matrix(torch.tensor([p.quat for p in poses], dtype=torch.float64))
    return pos, rot


def _rotation_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle between rotations a and b (..., 3, 3)."""
    cos = (((a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1)) - 1.0) / 2.0
    return torch.arccos(cos.clamp(-1.0, 1.0))


def _is_in(phase: torch.Tensor, phases: Sequence[Phase]) -> torch.Tensor:
    mask = torch.zeros_like(phase, dtype=torch.bool)
    for which in phases:
        mask |= phase == which
    return mask


class _Step:
    """One plan step's constant tensors: the pair's targets (K), the entry orientations (the targets turned back by
    the twist), the grasps (G); whether it ends with a SET."""

    def __init__(self, spec: TaskSpec, plan: InsertionPlan) -> None:
        self.part_idx, self.base_idx = spec.part_index(plan.part), spec.part_index(plan.base)
        matches = [i for i, p in enumerate(spec.pairs) if p.part == plan.part and p.base == plan.base]
        if not matches:
            raise ValueError(f"task {spec.name} has no pair {plan.base}/{plan.part} for the expert's plan")
        self.pair = matches[0]
        self.seat_pos, self.seat_rot = _pose_tensors(spec.pairs[self.pair].rel_poses)
        self.axis = torch.tensor(plan.axis, dtype=torch.float64)
        self.entry_rot = axis_angle_to_matrix(-plan.twist * self.axis) @ self.seat_rot
        self.grasp_pos, self.grasp_rot = _pose_tensors(plan.grasp_poses)
        self.approach, self.hang = plan.approach_height, plan.hang
        self.sets = plan.twist != 0.0 or plan.hang > 0.0
        # The hand holds the part from outside the socket: with grasp g, target k is usable only if it puts the grasp
        # point at or above the part centre along the insertion axis. For a part held near one end this picks which
        # end goes in; without it a lying part's two upright targets tie. (`act` applies it with the axis in the
        # world, pointing up; here it is checked once for the base part at rest.)
        if not ((self.axis @ self.seat_rot) @ self.grasp_pos.T >= -_SIDE_TOLERANCE).any(0).all():
            raise ValueError(f"every grasp pose of {plan.part} must leave the grasp point above the part centre in "
                             "some seated pose")


class InsertionExpert:
    """Batched state machine. Call `act(obs_terms)` each control step and `reset(done_mask)` after env resets.

    plan: one InsertionPlan (a one-pair task) or an ExpertPlan (the pairs in assembly order)."""

    def __init__(
        self, spec: TaskSpec, plan: InsertionPlan | ExpertPlan, num_envs: int, cfg: ExpertConfig | None = None
    ) -> None:
        self.cfg = cfg or ExpertConfig()
        self.num_envs = num_envs
        plans = (plan,) if isinstance(plan, InsertionPlan) else tuple(plan)
        if not plans:
            raise ValueError("the expert's plan needs at least one step")
        self.steps = [_Step(spec, p) for p in plans]
        self.checker = AssemblyChecker(spec)
        self.generator = torch.Generator().manual_seed(self.cfg.seed)
        self.step = torch.zeros(num_envs, dtype=torch.long)  # index into the plan
        self.phase = torch.zeros(num_envs, dtype=torch.long)
        self.timer = torch.zeros(num_envs, dtype=torch.long)
        self.grasp_choice = torch.zeros(num_envs, dtype=torch.long)
        self.speed = torch.ones(num_envs, dtype=torch.float64)
        self.best_depth = torch.zeros(num_envs, dtype=torch.float64)  # insertion progress, for jam detection
        self.stall = torch.zeros(num_envs, dtype=torch.long)
        self.retreat_z = torch.zeros(num_envs, dtype=torch.float64)
        self.reset(torch.ones(num_envs, dtype=torch.bool))

    def reset(self, mask: torch.Tensor) -> None:
        """Start over in the envs where `mask` is true (their episode just ended) with a new per-episode speed."""
        mask = mask.to("cpu", torch.bool)
        self.step[mask] = 0
        self.phase[mask] = Phase.REACH
        self.timer[mask] = 0
        self.grasp_choice[mask] = -1  # chosen on the first step of each part
        lo, hi = self.cfg.speed_range
        draw = torch.rand(self.num_envs, generator=self.generator, dtype=torch.float64)
        self.speed = torch.where(mask, lo + (hi - lo) * draw, self.speed)

    def _targets(
        self, k: int, ee_pos: torch.Tensor, ee_rot: torch.Tensor, poses: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Plan step k's goals for every env (the caller keeps those of the envs at step k)."""
        st, rows = self.steps[k], torch.arange(self.num_envs)
        part_pos, part_rot = poses[:, st.part_idx, :3], quat_to_matrix(poses[:, st.part_idx, 3:])
        base_pos, base_rot = poses[:, st.base_idx, :3], quat_to_matrix(poses[:, st.base_idx, 3:])

        # Grasp pose: the candidate closest to the current tool orientation, chosen once per part.
        cand_rot = part_rot[:, None] @ st.grasp_rot  # (N, G, 3, 3)
        unset = (self.grasp_choice < 0) & (self.step == k)
        if unset.any():
            best = _rotation_angle(cand_rot, ee_rot[:, None]).argmin(-1)
            self.grasp_choice = torch.where(unset, best, self.grasp_choice)
        choice = self.grasp_choice.clamp(0, len(st.grasp_pos) - 1)
        grasp_rot = cand_rot[rows, choice]
        grasp_pos = part_pos + (part_rot @ st.grasp_pos[choice][..., None])[..., 0]

        axis = base_rot @ st.axis
        axis = torch.where(axis[:, 2:] < -0.5, -axis, axis)  # a vertical axis points up, whichever way the base stands
        # Target: of the symmetric ones whose grasp point is on the approach side, the one the part is closest to
        # entering in.
        seat_rot_all = base_rot[:, None] @ st.seat_rot  # (N, K, 3, 3)
        entry_rot_all = base_rot[:, None] @ st.entry_rot
        grasp_side = ((seat_rot_all @ st.grasp_pos[choice][:, None, :, None])[..., 0] * axis[:, None]).sum(-1)
        seat_pos_all = base_pos[:, None] + (base_rot[:, None] @ st.seat_pos[..., None])[..., 0]
        ahead = ((seat_pos_all - base_pos[:, None]) * axis[:, None]).sum(-1)  # the target's side of the base centre
        usable = (grasp_side >= -_SIDE_TOLERANCE) & (ahead >= ahead.max(-1, keepdim=True).values - _SIDE_TOLERANCE)
        angle = _rotation_angle(entry_rot_all, part_rot[:, None]).masked_fill(~usable, torch.inf)
        target = angle.argmin(-1)
        target_pos = seat_pos_all[rows, target]
        seat_pos = target_pos + st.hang * _UP  # where the insertion ends
        return {
            "part_pos": part_pos, "part_rot": part_rot, "grasp_pos": grasp_pos, "grasp_rot": grasp_rot,
            "axis": axis, "seat_pos": seat_pos, "target_pos": target_pos, "target_rot": seat_rot_all[rows, target],
            "entry_rot": entry_rot_all[rows, target], "pre_pos": seat_pos + st.approach * axis,
            "approach": torch.full((self.num_envs,), st.approach, dtype=torch.float64),
        }

    def act(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """obs: the env's observation terms (ee_pos, ee_quat, gripper_width, parts_poses). Returns (N, 10) on the
        device of the observations."""
        cfg, device = self.cfg, obs["ee_pos"].device
        ee_pos = obs["ee_pos"].to("cpu", torch.float64)
        ee_rot = quat_to_matrix(obs["ee_quat"].to("cpu", torch.float64))
        poses = obs["parts_poses"].to("cpu", torch.float64).reshape(self.num_envs, -1, 7)
        t: dict[str, torch.Tensor] = {}
        for k in range(len(self.steps)):
            here = self.step == k
            for name, value in self._targets(k, ee_pos, ee_rot, poses).items():
                mask = here.view(-1, *([1] * (value.dim() - 1)))
                t[name] = torch.where(mask, value, t[name]) if name in t else value
        assembled = self.checker.check(poses[..., :3], poses[..., 3:])  # (N, pairs)
        pair = torch.tensor([st.pair for st in self.steps])[self.step]
        pair_done = assembled[torch.arange(self.num_envs), pair]
        sets = torch.tensor([st.sets for st in self.steps])[self.step]
        last = self.step == len(self.steps) - 1

        part_pos, part_rot, axis = t["part_pos"], t["part_rot"], t["axis"]
        # Tool pose that would put the held part at (pos, rot): keep the current part-to-tool transform.
        tool_in_part_rot = part_rot.transpose(1, 2) @ ee_rot
        tool_in_part_pos = (part_rot.transpose(1, 2) @ (ee_pos - part_pos)[..., None])[..., 0]

        def tool_for_part(pos: torch.Tensor, rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return pos + (rot @ tool_in_part_pos[..., None])[..., 0], rot @ tool_in_part_rot

        self._advance(ee_pos, ee_rot, t, pair_done, sets, last)

        phase = self.phase
        goal_pos, goal_rot = t["grasp_pos"] + t["approach"][:, None] * _UP, t["grasp_rot"]  # REACH
        lift_pos = part_pos + (t["pre_pos"][:, 2:] - part_pos[:, 2:]).clamp_min(0) * _UP
        pressed = t["seat_pos"] - cfg.press_depth * axis
        set_pos = t["target_pos"] - cfg.press_depth * _UP
        retreat = torch.cat((ee_pos[:, :2], self.retreat_z[:, None]), -1)
        for which, (pos, rot) in (
            (Phase.DESCEND, (t["grasp_pos"], t["grasp_rot"])),
            (Phase.GRASP, (t["grasp_pos"], t["grasp_rot"])),
            (Phase.LIFT, tool_for_part(lift_pos, part_rot)),
            (Phase.ALIGN, tool_for_part(t["pre_pos"], t["entry_rot"])),
            (Phase.INSERT, tool_for_part(t["seat_pos"], t["entry_rot"])),
            (Phase.SEAT, tool_for_part(pressed, t["entry_rot"])),
            (Phase.SET, tool_for_part(set_pos, t["target_rot"])),
            (Phase.RELEASE, (ee_pos, ee_rot)),
            (Phase.RETREAT, (retreat, ee_rot)),
            (Phase.DONE, (ee_pos, ee_rot)),
        ):
            sel = phase == which
            goal_pos = torch.where(sel[:, None], pos, goal_pos)
            goal_rot = torch.where(sel[:, None, None], rot, goal_rot)

        delta = clip_norm(goal_pos - ee_pos, cfg.max_step * self.speed)
        # Inserting: slow along the insertion axis, but correct sideways at full rate so the part stays centred.
        axial = ((goal_pos - ee_pos) * axis).sum(-1, keepdim=True)
        lateral = clip_norm(goal_pos - ee_pos - axial * axis, cfg.max_step)
        insert_delta = lateral + axial.clamp(-cfg.insert_step, cfg.insert_step) * axis
        delta = torch.where(_is_in(phase, (Phase.INSERT, Phase.SEAT, Phase.SET))[:, None], insert_delta, delta)
        rot_delta = clip_norm(matrix_to_axis_angle(goal_rot @ ee_rot.transpose(1, 2)), cfg.max_rot_step * self.speed)

        noisy = _is_in(phase, _NOISY)
        noisy &= torch.rand(self.num_envs, generator=self.generator, dtype=torch.float64) < cfg.noise_prob
        scale = noisy * ((goal_pos - ee_pos).norm(dim=-1) / cfg.noise_distance).clamp(max=1.0)
        jitter = torch.randn(self.num_envs, 6, generator=self.generator, dtype=torch.float64)
        delta = delta + scale[:, None] * cfg.pos_noise * jitter[:, :3]
        rot_delta = rot_delta + scale[:, None] * cfg.rot_noise * jitter[:, 3:]

        target_pos = ee_pos + delta
        target_rot = axis_angle_to_matrix(rot_delta) @ ee_rot
        gripper = torch.where(_is_in(phase, _HOLDING), 1.0, -1.0).to(torch.float64)[:, None]
        self.timer += 1
        return torch.cat((target_pos, matrix_to_rot6d(target_rot), gripper), dim=-1).to(device, torch.float32)

    def _advance(
        self, ee_pos: torch.Tensor, ee_rot: torch.Tensor, t: dict[str, torch.Tensor], pair_done: torch.Tensor,
        sets: torch.Tensor, last: torch.Tensor,
    ) -> None:
        """Phase transitions from the current state; each env moves at most one phase per step. pair_done (N,): the
        step's pair is assembled; sets (N,): the step ends with a SET; last (N,): it is the plan's last step."""
        cfg, phase = self.cfg, self.phase
        part_pos, part_rot, axis = t["part_pos"], t["part_rot"], t["axis"]
        to_grasp = (t["grasp_pos"] - ee_pos).norm(dim=-1)
        grasp_rot_err = _rotation_angle(t["grasp_rot"], ee_rot)
        above = (t["grasp_pos"] + t["approach"][:, None] * _UP - ee_pos).norm(dim=-1)
        part_err = t["pre_pos"] - part_pos
        seat_err = t["seat_pos"] - part_pos
        lateral = (seat_err - (seat_err * axis).sum(-1, keepdim=True) * axis).norm(dim=-1)
        depth = (seat_err * axis).sum(-1).neg()  # how far short of the seated pose along the insertion axis
        part_rot_err = _rotation_angle(t["entry_rot"], part_rot)
        lost = to_grasp > cfg.lost_grasp_distance
        inserting = _is_in(phase, (Phase.INSERT, Phase.SEAT))
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
        new[(phase == Phase.SEAT) & sets & (depth < cfg.set_depth)] = Phase.SET
        new[(phase == Phase.SET) & (self.timer >= cfg.set_steps)] = Phase.SEAT
        new[_is_in(phase, _HOLDING[1:]) & lost] = Phase.REACH
        # Assembled: let go after a plain seat, or once a SET has brought the part all the way (the assembled check's
        # bounds would pass a twist tens of degrees early).
        set_done = (_rotation_angle(t["target_rot"], part_rot) < 2 * cfg.rot_tolerance) & (
            (t["target_pos"] - part_pos).norm(dim=-1) < cfg.stage_tolerance)
        new[(((phase == Phase.SEAT) & ~sets) | ((phase == Phase.SET) & set_done)) & pair_done] = Phase.RELEASE
        new[(phase == Phase.RELEASE) & (self.timer >= cfg.release_steps)] = Phase.RETREAT
        done = (phase == Phase.RETREAT) & (ee_pos[:, 2] > self.retreat_z - cfg.reach_tolerance)
        new[done] = torch.where(last[done], Phase.DONE, Phase.REACH)
        self.step += (done & ~last).long()
        changed = new != phase
        self.timer[changed] = 0
        self.grasp_choice[changed & (new == Phase.REACH)] = -1
        self.retreat_z = torch.where(new == Phase.RETREAT, self.retreat_z, ee_pos[:, 2] + cfg.retreat_height)
        self.phase = new
