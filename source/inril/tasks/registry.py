"""Task names ("<Family>-<Level>") to specs and scripted-expert plans."""

from __future__ import annotations

from dataclasses import dataclass

from inril.tasks import lamp, mug_rack, one_leg, peg_in_hole, round_table
from inril.tasks.expert import ExpertPlan, InsertionPlan
from inril.tasks.spec import TaskSpec


@dataclass(frozen=True)
class TaskEntry:
    """A registered task: its spec and the scripted expert's plan."""
    spec: TaskSpec
    plan: ExpertPlan  # the scripted expert's steps, one per pair in assembly order


def _steps(plan: InsertionPlan | ExpertPlan) -> ExpertPlan:
    return (plan,) if isinstance(plan, InsertionPlan) else tuple(plan)


# One line per task family and level; a new family adds its module's specs here.
_TASKS: dict[str, TaskEntry] = {
    spec.name: TaskEntry(spec, _steps(family.PLAN))
    for family in (peg_in_hole, one_leg, lamp, round_table, mug_rack)
    for spec in family.SPECS.values()
}


def list_tasks() -> list[str]:
    """The registered task names ("<family>-<Level>"), sorted."""
    return sorted(_TASKS)


def _entry(name: str) -> TaskEntry:
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    return _TASKS[name]


def get_task(name: str) -> TaskSpec:
    """The TaskSpec of task `name`. Raises ValueError for an unknown name (the message lists the known ones)."""
    return _entry(name).spec


def get_expert_plan(name: str) -> ExpertPlan:
    """The scripted expert's plan of task `name`. Raises ValueError for an unknown name."""
    return _entry(name).plan
