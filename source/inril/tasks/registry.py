"""Task names ("<Family>-<Level>") to specs and scripted-expert plans."""

from __future__ import annotations

from dataclasses import dataclass

from inril.tasks import one_leg, peg_in_hole
from inril.tasks.expert import InsertionPlan
from inril.tasks.spec import TaskSpec


@dataclass(frozen=True)
class TaskEntry:
    spec: TaskSpec
    plan: InsertionPlan


# One line per task family and level; a new family adds its module's specs here.
_TASKS: dict[str, TaskEntry] = {
    spec.name: TaskEntry(spec, family.PLAN) for family in (peg_in_hole, one_leg) for spec in family.SPECS.values()
}


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def _entry(name: str) -> TaskEntry:
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    return _TASKS[name]


def get_task(name: str) -> TaskSpec:
    return _entry(name).spec


def get_expert_plan(name: str) -> InsertionPlan:
    return _entry(name).plan
