"""The shape of the product packages: imports flow one way (api -> search -> ingest, models a leaf
beside them) and no module imports itself back through others. Computed from the source with ast,
so it holds for lazy imports inside functions too (only ``if TYPE_CHECKING:`` imports are left out:
they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ingest", "search", "api", "models")
# which product packages each one may import (besides itself)
ALLOWED = {
    "ingest": set(),
    "models": {"ingest"},
    "search": {"ingest", "models"},
    "api": {"ingest", "search", "models"},
}
MAX_SEARCH_MODULE_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "nordsearch." + ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for package in PACKAGES
        for p in (REPO / package).rglob("*.py")
        if "multilingual-e5-small" not in p.parts
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The product modules ``name`` imports at run time (a package's submodule counts as itself)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
            for n in ast.walk(node)}  # fmt: skip
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # a submodule by its name, else a name defined in ``base`` itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_finds_the_modules_and_their_imports():
    graph = _graph()
    assert "nordsearch.search.index" in graph and "nordsearch.api.cli" in graph
    assert "nordsearch.search.store" in graph["nordsearch.search.index"]


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_product_module_imports_itself_back():
    assert _cycle(_graph()) is None


def test_imports_flow_one_way_between_packages():
    wrong = []
    for name, targets in _graph().items():
        package = name.split(".")[1]
        for target in targets:
            other = target.split(".")[1]
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, wrong


def test_search_modules_stay_small():
    long = {
        p.name: n
        for p in (REPO / "search").glob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_SEARCH_MODULE_LINES
    }
    assert not long, long
