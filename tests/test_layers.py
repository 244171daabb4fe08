"""The boundary between `handlers/` (the product) and `bot/` (the edges): handlers import
nothing of `bot/` and never see HTTP, only the forge's outcomes (`handlers.forge`'s errors)."""

from __future__ import annotations

import ast
from pathlib import Path

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"
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
