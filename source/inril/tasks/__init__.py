"""Task families: part geometry specs, randomness levels, observation / reward / episode-end terms (`terms`),
assembly checks and scripted experts."""

from inril.tasks.registry import get_expert_plan, get_task, list_tasks

__all__ = ["get_expert_plan", "get_task", "list_tasks"]
