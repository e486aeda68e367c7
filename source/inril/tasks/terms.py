"""Backend-neutral observation, reward and termination terms of the assembly tasks.

A backend reads its robot and parts in the robot base frame (the embedded env's world frame, Isaac Lab's env frame
with the robot at the env origin; z up, the table top at z = 0) into a `TaskState`; everything from there on is
defined once, here: how each observation term of the task layout (`TaskSpec.observation_layout` / `critic_layout`)
is formed, the groups in layout order, the reward (FurnitureBench's sparse +1 per pair newly assembled plus the
optional keypoint shaping of `inril.tasks.assembly.AssemblyProgress`), and when an episode ends.

How a backend gets the state is its own business (forward kinematics and MuJoCo's free-joint velocities in
`inril.backends.mujoco.vec_env`, link states turned into the base frame in `inril_isaac.frames`). Units: metres,
radians, seconds; quaternions (w, x, y, z). All functions take batched torch tensors (leading dim N = envs, P =
parts in spec order) and keep their dtype and device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from inril.tasks.spec import EE_QUAT_REFERENCE
from inril.utils.rotations import quat_canonical, quat_hemisphere


@dataclass(frozen=True)
class TaskState:
    """What the observation terms read, in the robot base frame; N envs, P parts in spec order (obstacles too).

    tcp_pos (N, 3) m and tcp_quat (N, 4) unit (w, x, y, z), either sign: the tool centre point's pose;
    tcp_linvel (N, 3) m/s and tcp_angvel (N, 3) rad/s: its twist;
    finger_pos (N, F) m: each finger's opening from the closed position (the Franka: F = 2, 0 to 0.04 each);
    part_pos (N, P, 3) m and part_quat (N, P, 4): the parts' body frames, the quaternion as `part_orientation`
        returns it (unit, w >= 0);
    part_linvel (N, P, 3) m/s and part_angvel (N, P, 3) rad/s: the body frames' velocities.
    """

    tcp_pos: torch.Tensor
    tcp_quat: torch.Tensor
    tcp_linvel: torch.Tensor
    tcp_angvel: torch.Tensor
    finger_pos: torch.Tensor
    part_pos: torch.Tensor
    part_quat: torch.Tensor
    part_linvel: torch.Tensor
    part_angvel: torch.Tensor


# ------------------------------------------------------------------------------------------ observations


def part_orientation(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) (w, x, y, z) of any nonzero norm -> unit, w >= 0: how a part's orientation is observed and checked.

    q and -q are one rotation; w >= 0 is the hemisphere of the parts' rest pose (the identity), so it does not flip
    where they move (`inril.tasks.spec.EE_QUAT_REFERENCE` explains why the convention matters). A zero quaternion
    gives NaNs (no epsilon: the backends hand over unit quaternions up to rounding).
    """
    return quat_canonical(quat / quat.norm(dim=-1, keepdim=True))


def ee_quat(tcp_quat: torch.Tensor) -> torch.Tensor:
    """(N, 4) unit (w, x, y, z) of the tool, either sign -> the sign in the gripper-down hemisphere
    (`EE_QUAT_REFERENCE`, pi about x), which does not flip where the robot works."""
    return quat_hemisphere(tcp_quat, EE_QUAT_REFERENCE)


def gripper_width(finger_pos: torch.Tensor) -> torch.Tensor:
    """(N, F) finger openings, m -> (N, 1) distance between the fingers, m (0 closed, 0.08 open on the Franka)."""
    return finger_pos.sum(-1, keepdim=True)


def parts_poses(part_pos: torch.Tensor, part_quat: torch.Tensor) -> torch.Tensor:
    """(N, P, 3) m and (N, P, 4) `part_orientation` quaternions -> (N, 7P): [x, y, z, w, qx, qy, qz] per part."""
    return torch.cat((part_pos, part_quat), dim=-1).reshape(part_pos.shape[0], -1)


def parts_vels(part_linvel: torch.Tensor, part_angvel: torch.Tensor) -> torch.Tensor:
    """(N, P, 3) m/s and (N, P, 3) rad/s, base frame -> (N, 6P): [vx, vy, vz, wx, wy, wz] per part (privileged:
    the critic group only)."""
    return torch.cat((part_linvel, part_angvel), dim=-1).reshape(part_linvel.shape[0], -1)


def observation_terms(state: TaskState) -> dict[str, torch.Tensor]:
    """Every term of `TaskSpec.critic_layout` (the policy terms, then the privileged part velocities), name ->
    (N, dim), in the state's dtype."""
    return {
        "ee_pos": state.tcp_pos,
        "ee_quat": ee_quat(state.tcp_quat),
        "ee_linvel": state.tcp_linvel,
        "ee_angvel": state.tcp_angvel,
        "gripper_width": gripper_width(state.finger_pos),
        "parts_poses": parts_poses(state.part_pos, state.part_quat),
        "parts_vels": parts_vels(state.part_linvel, state.part_angvel),
    }


def observation_group(terms: dict[str, torch.Tensor], layout: tuple[tuple[str, int], ...]) -> torch.Tensor:
    """The terms of `layout` ((name, dim) in order, a `TaskSpec` layout) side by side: (N, sum of dims).
    Raises ValueError naming a term that is missing or not (N, dim)."""
    for name, dim in layout:
        if name not in terms or terms[name].ndim != 2 or terms[name].shape[1] != dim:
            got = tuple(terms[name].shape) if name in terms else "missing"
            raise ValueError(f"observation term {name!r} must be (num_envs, {dim}), got {got}")
    return torch.cat([terms[name] for name, _ in layout], dim=-1)


def split_group(group: torch.Tensor, layout: tuple[tuple[str, int], ...]) -> dict[str, torch.Tensor]:
    """The inverse of `observation_group`: (N, sum of dims) -> name -> (N, dim) views, in the layout's order.
    Raises ValueError when the width is not the layout's."""
    width = sum(dim for _, dim in layout)
    if group.ndim != 2 or group.shape[1] != width:
        raise ValueError(f"observation group must be (num_envs, {width}) for this layout, got {tuple(group.shape)}")
    terms, start = {}, 0
    for name, dim in layout:
        terms[name], start = group[:, start : start + dim], start + dim
    return terms


# ------------------------------------------------------------------------------------- reward and episode end


def sparse_reward(newly_assembled: torch.Tensor) -> torch.Tensor:
    """(N, pairs) bool, pairs assembled for the first time this episode at this step (`AssemblyProgress.newly`)
    -> (N,) float32: +1 per pair, FurnitureBench's sparse reward."""
    return newly_assembled.sum(-1, dtype=torch.float32)


def task_reward(newly_assembled: torch.Tensor, shaping: torch.Tensor, shaping_weight: float) -> torch.Tensor:
    """The step reward (N,) float32: `sparse_reward` plus shaping_weight (>= 0; 0 keeps the sparse reward) times
    the keypoint shaping (N,) float32 (`AssemblyProgress.shaping`, the change of the closeness potential)."""
    reward = sparse_reward(newly_assembled)
    reward += shaping_weight * shaping
    return reward


def parts_dropped(part_pos: torch.Tensor, drop_height: float, valid: torch.Tensor) -> torch.Tensor:
    """(N, P, 3) base-frame part positions, m -> (N,) bool: some part's origin is more than drop_height (m, > 0)
    below the table top (z = 0), i.e. it fell off the table; only where valid (N,) bool (a diverged simulation,
    which the backend resets, is no outcome)."""
    return (part_pos[..., 2] < -drop_height).any(-1) & valid


def episode_ends(
    success: torch.Tensor,
    dropped: torch.Tensor,
    time_out: torch.Tensor,
    diverged: torch.Tensor,
    terminate_on_success: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(terminated, truncated), each (N,) bool, from (N,) bool conditions.

    Terminal (no bootstrapping): success (when `terminate_on_success`) or a dropped part (`parts_dropped`).
    Truncated (the value bootstraps, rsl-rl's time_outs): the episode's time limit, or a diverged simulation the
    backend resets, unless the step is also terminal.
    """
    terminated = (success & terminate_on_success) | dropped
    truncated = (time_out | diverged) & ~terminated
    return terminated, truncated
