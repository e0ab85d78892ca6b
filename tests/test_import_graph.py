"""The project's import graph, read from the source: no module imports itself through others
(no circle, counting the imports inside functions too: a deferred import only hides a
circle until the first call), and the packages stay in layers:
``experiments -> optimizers -> curvature`` (docs/architecture.md).

Every ``import`` and ``from ... import`` statement of curvature/, optimizers/, experiments/,
benchmarks/ and tests/ is an edge from its module to the project module it names (``from
pkg import name`` goes to ``pkg.name`` where that is a module, else to ``pkg``); imports
under ``if TYPE_CHECKING:`` never run and are left out."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = ("curvature", "optimizers", "experiments", "benchmarks", "tests")
LAYERS = {"curvature": 0, "optimizers": 1, "experiments": 2}  # a package imports only lower ones


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes of ``tree``, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def edges(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:  # `import a.b.c` where only a.b is ours
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def a_cycle(graph, component) -> list[str]:
    """One concrete circle through the component's first module, for the message."""
    members, start = set(component), component[0]
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & members):
            if w == start:
                return path + [start]
            if w not in path:
                paths.append(path + [w])
    return component


def test_the_graph_is_read():
    graph = edges(project_modules())
    assert "experiments.config" in graph["experiments.runner"] or "experiments.spec" in graph["experiments.runner"]
    assert "optimizers._driver" in graph["optimizers"]
    assert "tests.optimizers.mgh_problems" in graph["tests.optimizers.reference_batches"]  # a relative import


def test_circles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_circle_anywhere():
    graph = edges(project_modules())
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(" -> ".join(a_cycle(graph, c)) for c in found)


def test_packages_import_only_lower_layers():
    graph = edges(project_modules())
    wrong = [f"{m} imports {t}" for m, targets in graph.items() for t in targets
             if m.split(".")[0] in LAYERS and t.split(".")[0] in LAYERS
             and LAYERS[t.split(".")[0]] > LAYERS[m.split(".")[0]]]
    assert not wrong, wrong
