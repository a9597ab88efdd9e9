"""The layers point down: hw < flows < sim < api < scripts < tests (docs/architecture.md).

Every module of the project is parsed (not imported) and each of its imports, at module level or
inside a function, is checked against the layer order; ``hw`` imports nothing of the project
but itself and only hardware libraries besides the standard library; nothing outside tests
imports ``tests``; and the module-level imports between the project's modules have no cycle.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"hw": 0, "flows": 1, "sim": 2, "api": 3, "scripts": 4, "tests": 5}
#: What the hardware library may import besides the standard library and itself.
HW_THIRD_PARTY = {"amaranth", "sentinel_cpu", "amaranth_boards"}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path):
    """``[(imported module, line, at module level)]`` of one file (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            # "from pkg import mod" imports the module pkg.mod when there is one.
            names = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name, node.lineno, id(node) in top_level) for name in names]
    return found


def _project_files():
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def _layer_violations(files):
    bad = []
    for path in files:
        layer = path.relative_to(ROOT).parts[0]
        for name, line, _ in _imports(path):
            top = name.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if top in LAYERS and LAYERS[top] > LAYERS[layer]:
                bad.append(where)
            elif layer == "hw" and top not in LAYERS and top not in HW_THIRD_PARTY \
                    and top not in sys.stdlib_module_names:
                bad.append(where + " (hw imports only Amaranth and hardware libraries)")
    return bad


def _cycles(files):
    """Strongly connected groups of project modules tied by module-level imports."""
    modules = {_module_name(p): p for p in files}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported, _, top_level in _imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if top_level and imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):                     # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            # A package and its own modules import each other by design (the __init__ hands
            # names on); a cycle is one between modules that are not each other's package.
            plain = [m for m in group
                     if not any(o.startswith(m + ".") for o in group if o != m)]
            if len(plain) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_layers_point_down():
    assert _layer_violations(_project_files()) == []


def test_no_import_cycles():
    assert _cycles(_project_files()) == []


@pytest.mark.parametrize("source, layer, expected", [
    ("from sim.golden import fp\n", "hw", ["imports sim.golden"]),
    ("from tests.cluster import x\n", "sim", ["imports tests.cluster"]),
    ("def f():\n    from scripts.synth import main\n", "flows", ["imports scripts.synth"]),
    ("import numpy\n", "hw", ["imports numpy (hw imports only"]),
    ("from ..config import get_config\n", "hw", []),
    ("from hw.config import get_config\nimport numpy\n", "sim", []),
])
def test_the_check_can_fail(tmp_path, monkeypatch, source, layer, expected):
    """The checker itself: an upward import in a throwaway tree is reported."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = tmp_path / layer / "pkg" / "mod.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    found = _layer_violations([path])
    assert len(found) == len(expected)
    for got, want in zip(found, expected):
        assert want in got


def test_a_cycle_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "a.py").write_text("from . import b\n")
    (tmp_path / "hw" / "b.py").write_text("from .a import x\n")
    (tmp_path / "hw" / "c.py").write_text("def f():\n    from . import a\n")
    assert _cycles(sorted((tmp_path / "hw").glob("*.py"))) == [["hw.a", "hw.b"]]
