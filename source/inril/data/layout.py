"""Observation layouts: which named terms, of which sizes, in which order make up a policy's input.

A layout is a sequence of (term name, size) pairs; the policy input is the terms concatenated in that
order. Wherever a policy meets a task or demos, the two layouts are compared by name and size (never
by total width alone): the same terms in another order are reordered by name, anything else is an
error that names both layouts.
"""

from __future__ import annotations

from collections.abc import Sequence

Layout = list[tuple[str, int]]


class LayoutError(ValueError):
    """Two observation layouts do not hold the same terms; the message names both."""


def as_layout(pairs: Sequence[Sequence]) -> Layout:
    """A layout from (name, size) pairs, as stored in JSON or a checkpoint ([[name, size], ...])."""
    return [(str(name), int(size)) for name, size in pairs]


def describe(layout: Sequence[tuple[str, int]]) -> str:
    """`[ee_pos:3, ee_quat:4, ...]`, the way error messages name a layout."""
    return "[" + ", ".join(f"{name}:{size}" for name, size in layout) + "]"


def column_index(source: Sequence[tuple[str, int]], target: Sequence[tuple[str, int]], source_name: str,
                 target_name: str) -> list[int] | None:
    """Columns of a `source`-layout vector that form the `target` layout, term by term (by name), or None when
    `source` already is `target`. Raises LayoutError unless every target term is in `source` with the same
    size; `source` may hold terms `target` does not read (they are left out)."""
    source, target = as_layout(source), as_layout(target)
    if source == target:
        return None
    starts, offset = {}, 0
    for name, size in source:
        starts[name] = (offset, size)
        offset += size
    problems = [f"{name} is missing" if name not in starts else f"{name} has {starts[name][1]} dims, not {size}"
                for name, size in target if name not in starts or starts[name][1] != size]
    if problems:
        raise LayoutError(f"the observation layouts do not match ({'; '.join(problems)} in {source_name}): "
                          f"{source_name} has {describe(source)}, {target_name} reads {describe(target)}")
    return [start + i for name, size in target for start in (starts[name][0],) for i in range(size)]
