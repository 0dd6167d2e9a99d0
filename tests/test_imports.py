"""No module of ``src/hyperrace`` imports itself through a circle of other modules.

The import graph is built from the source with :mod:`ast` (nothing is imported). Every import
statement of a module counts, wherever it stands: at module level, inside a function or method
(a lazy import), and under ``if TYPE_CHECKING:``. A circle through a lazy or a typing-only
import is still two modules that each need the other, so it counts the same. Relative imports
are resolved against the importing module's package; ``from package import name`` is an edge
to the submodule ``package.name`` when there is one, and to the package (its ``__init__``)
otherwise. Importing a submodule is not counted as importing its parent package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: Circles known today that another change removes, each as the set of modules that import one
#: another; each is allowed only while it exists (the test below fails once one is gone, so that
#: it is taken off this list). None today.
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, whether it is a package's ``__init__``)."""
    out = {}
    for path in sorted((root / "hyperrace").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts.pop()
        out[".".join(parts)] = (path, package)
    return out


def _imported(node: ast.AST, module: str, package: bool) -> Iterator[str]:
    """The dotted names an import statement names (``from a import b``: ``a.b`` and ``a``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            yield f"{source}.{alias.name}"
            yield source


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (see the module docstring)."""
    modules = _modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = list(_imported(node, name, package))
            if isinstance(node, ast.ImportFrom):
                # ``from a import b``: the submodule a.b if there is one, else the module a
                pairs = zip(names[0::2], names[1::2], strict=True)
                targets = [sub if sub in modules else resolve(src) for sub, src in pairs]
            else:
                targets = [resolve(n) for n in names]
            graph[name].update(t for t in targets if t is not None and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Each group of modules that import one another (a strongly connected group of more than
    one module), with one circle through it: its modules in import order, the first repeated
    at the end."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(frozenset(group), _circle(graph, group)) for group in groups]


def _circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest circle through the first module of ``group`` (breadth first, inside it)."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in came_from:
                    came_from[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not a circle")  # pragma: no cover


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "hyperrace.storage" in graph["hyperrace.study._stored"]  # module level
    assert "hyperrace.benchmarks.peers" in graph["hyperrace.benchmarks._runner"]  # in a function
    assert "hyperrace.study._race" in graph["hyperrace.study._keeper"]
    assert "hyperrace.visual._plotly" in graph["hyperrace.visual._views"]  # `from pkg import mod`
    toy = {"a": {"b"}, "b": {"c", "a"}, "c": {"a", "d"}, "d": set()}
    assert cycles(toy) == [(frozenset("abc"), ["a", "b", "a"])]


def test_no_module_imports_itself_through_others() -> None:
    found = dict(cycles(import_graph()))
    unknown = [
        f"{' -> '.join(circle)} (modules in the circle: {', '.join(sorted(group))})"
        for group, circle in found.items()
        if group not in KNOWN_CYCLES
    ]
    assert not unknown, "import circles: " + "; ".join(unknown)
    gone = [sorted(k) for k in KNOWN_CYCLES if k not in found]
    assert not gone, f"take these circles off KNOWN_CYCLES, they are gone: {gone}"
