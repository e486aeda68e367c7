"""Interleaving IL and RL updates: the 1:m schedule, gradient surgery and the alignment rho(t)."""

from inril.interleave.alignment import ActionDelta, action_space_alignment, full_network_alignment
from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler
from inril.interleave.surgery import (
    METHODS,
    SurgeryResult,
    assign_flat_grad,
    cosine,
    flatten_grads,
    project,
    project_away,
)

__all__ = [
    "METHODS",
    "ActionDelta",
    "InterleaveConfig",
    "InterleaveScheduler",
    "SurgeryResult",
    "action_space_alignment",
    "assign_flat_grad",
    "cosine",
    "flatten_grads",
    "full_network_alignment",
    "project",
    "project_away",
]
