"""Per-env assembly progress for the Isaac Lab env: which pairs are assembled, which became so this step.

The pair check is inril's `AssemblyChecker`, the same code the embedded backend runs; this class adds the
episode bookkeeping the embedded env keeps inline: a pair counts once per episode (+1 reward when it first
becomes assembled) and the episode succeeds when every pair has been assembled.
"""

from __future__ import annotations

import torch

from inril.tasks.assembly import AssemblyChecker
from inril.tasks.spec import TaskSpec


class AssemblyProgress:
    def __init__(self, spec: TaskSpec, num_envs: int, device: torch.device | str) -> None:
        self.checker = AssemblyChecker(spec)
        self.assembled = torch.zeros(num_envs, len(spec.pairs), dtype=torch.bool, device=device)
        self.newly = torch.zeros_like(self.assembled)
        self._updated_at: int | None = None

    @property
    def success(self) -> torch.Tensor:
        """(N,) bool: every pair assembled during this episode."""
        return self.assembled.all(-1)

    def update(self, part_pos: torch.Tensor, part_quat: torch.Tensor, step: int) -> None:
        """Fold in the parts' poses (N, P, 3), (N, P, 4) (w, x, y, z) after control step `step`. Repeated calls
        for the same step (the reward and the termination term both ask) change nothing."""
        if step == self._updated_at:
            return
        now = self.checker.check(part_pos, part_quat)
        self.newly = now & ~self.assembled
        self.assembled |= now
        self._updated_at = step

    def reset(self, env_ids: torch.Tensor) -> None:
        self.assembled[env_ids] = False
        self.newly[env_ids] = False
