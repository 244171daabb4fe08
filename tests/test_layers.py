"""The house's layers: handlers (the product) import nothing of `bot/` (the edges) and never
see HTTP, only the forge's outcomes (`handlers.forge`'s errors); the modules of both import
each other without a loop, counting every import (deferred and type-only ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
HTTP_WORDS = {"status", "status_code", "response_code", "http_status"}


def modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(HANDLERS.rglob("*.py"))]


def test_handlers_import_nothing_of_bot() -> None:
    found = []
    for path, tree in modules():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "bot"]
    assert found == []


def test_handlers_read_no_http_status() -> None:
    found = [
        f"{path.relative_to(HANDLERS)}:{node.lineno} .{node.attr}"
        for path, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in HTTP_WORDS
    ]
    assert found == []


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `bot/` and `handlers/` it imports, anywhere in its file."""
    files = {}
    for package in ("bot", "handlers"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in imported if target in files and target != name}
    return graph


def test_modules_import_each_other_without_a_loop() -> None:
    graph = import_graph()
    assert "bot.jobs.store" in graph["bot.runtime"]  # the graph holds the real imports
    done: set[str] = set()
    loops: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            loops.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert loops == []
