"""The layout's rules, read from the imports of every module (docs/design.md, "Layout").

Each room (a folder of source/inril, or a file standing alone there) has a floor; an import may stay in its
room or go down to a lower floor, never up or sideways. Imports inside functions count: they are
dependencies too. The Isaac Lab extension (exts/inril_isaac) is one room above the library's pipeline.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"inril": REPO / "source" / "inril", "inril_isaac": REPO / "exts" / "inril_isaac" / "inril_isaac"}
# Isaac Lab's manager-based task folder: its env, config and MDP terms refer to each other, as Isaac Lab's own do.
CYCLES_ALLOWED_UNDER = "inril_isaac.tasks."
MAX_LINES = 400

# room -> floor, from the ground up. Rooms on one floor never import each other.
FLOORS = {
    "inril.utils": 0,
    "inril.tasks": 1,
    "inril.data": 2,
    "inril.policies": 3, "inril.interleave": 3,
    "inril.eval": 4,
    "inril.backends": 5,
    "inril.residual": 6,
    "inril.algos": 7, "inril.algos.common": 7, "inril.algos.bc": 7,
    "inril.algos.network_separation": 8, "inril.algos.gradient_surgery": 8,
    "inril.export": 9,
    "inril.pipeline": 10, "inril_isaac": 10,
    "inril.apps": 11,
}


def modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = (package, *path.relative_to(root).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def imports_of(path: Path) -> set[str]:
    """The project modules `path` imports anywhere in it (a `from package import name` of a submodule counts as
    an import of the submodule)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module in MODULES:
            subs = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            out |= subs if len(subs) == len(node.names) else subs | {node.module}
    return out


GRAPH = {module: imports_of(path) - {module} for module, path in MODULES.items()}


def room(module: str) -> str:
    rooms = [r for r in FLOORS if module == r or module.startswith(r + ".")]
    assert rooms, f"{module} is in no room of the layout; add its folder to FLOORS (and docs/design.md)"
    return max(rooms, key=len)


def test_every_module_is_in_a_room():
    for module in MODULES:
        if module not in PACKAGES:  # the package faces
            room(module)


def test_imports_stay_in_their_room_or_go_down():
    wrong = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() if a not in PACKAGES for b in targets
                   if b not in PACKAGES and room(a) != room(b) and FLOORS[room(a)] <= FLOORS[room(b)])
    assert not wrong, "imports that run up or sideways:\n" + "\n".join(wrong)


def test_the_method_math_imports_nothing_from_the_algorithms():
    assert not {b for a, targets in GRAPH.items() if a.startswith("inril.interleave") for b in targets
                if b.startswith("inril.algos")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_outside_the_isaac_lab_task_folder():
    graph = {a: {b for b in targets if not b.startswith(CYCLES_ALLOWED_UNDER)}
             for a, targets in GRAPH.items() if not a.startswith(CYCLES_ALLOWED_UNDER)}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (at most {MAX_LINES}): split it by concern"
