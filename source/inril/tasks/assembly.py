"""Batched assembly checks shared by every backend: which part pairs sit at their target relative pose."""

from __future__ import annotations

import torch

from inril.tasks.spec import TaskSpec
from inril.utils.rotations import quat_to_matrix


def relative_pose(
    base_pos: torch.Tensor, base_rot: torch.Tensor, part_pos: torch.Tensor, part_rot: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose of the part in the base frame: position (..., 3) and rotation matrix (..., 3, 3)."""
    base_rot_t = base_rot.transpose(-1, -2)
    return (base_rot_t @ (part_pos - base_pos)[..., None])[..., 0], base_rot_t @ part_rot


def target_tensors(spec: TaskSpec, dtype: torch.dtype = torch.float64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per pair: target positions (K, 3) and rotations (K, 3, 3) of its K acceptable relative poses."""
    targets = []
    for pair in spec.pairs:
        pos = torch.tensor([p.pos for p in pair.rel_poses], dtype=dtype)
        rot = quat_to_matrix(torch.tensor([p.quat for p in pair.rel_poses], dtype=dtype))
        targets.append((pos, rot))
    return targets


class AssemblyChecker:
    """`check(part_pos, part_quat)` -> (N, num_pairs) bool: pair assembled now.

    A pair is assembled when, for one of its target relative poses, every position component is within the pair's
    tolerance and each of the three rotation axes has cosine >= ori_bound with the target's (FurnitureBench).
    """

    def __init__(self, spec: TaskSpec) -> None:
        self.pairs = [
            (spec.part_index(p.base), spec.part_index(p.part), p.pos_tolerance, p.ori_bound) for p in spec.pairs
        ]
        self.targets = target_tensors(spec)

    def check(self, part_pos: torch.Tensor, part_quat: torch.Tensor) -> torch.Tensor:
        """part_pos (N, P, 3), part_quat (N, P, 4) wxyz, in spec part order."""
        rot = quat_to_matrix(part_quat)
        results = []
        for (base, part, tol, bound), (t_pos, t_rot) in zip(self.pairs, self.targets):
            rel_pos, rel_rot = relative_pose(part_pos[:, base], rot[:, base], part_pos[:, part], rot[:, part])
            t_pos, t_rot = t_pos.to(part_pos), t_rot.to(part_pos)
            pos_ok = ((rel_pos[:, None, :] - t_pos).abs() <= tol).all(-1)  # (N, K)
            axis_cos = (rel_rot[:, None] * t_rot).sum(-2)  # column-wise dot products, (N, K, 3)
            ori_ok = (axis_cos >= bound).all(-1)
            results.append((pos_ok & ori_ok).any(-1))
        return torch.stack(results, dim=-1)
