"""Core is used by every app and uses none (DESIGN.md): not even lazily, inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import reviewapp.core

CORE = Path(reviewapp.core.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def is_an_app(module: str) -> bool:
    top = module.split(".")[0]
    if top in {"catalog", "playbooks"}:
        return True
    return top == "reviewapp" and not module.startswith("reviewapp.core")


def test_core_imports_no_app():
    offenders = {
        str(path.relative_to(CORE)): sorted(m for m in imported_modules(path) if is_an_app(m))
        for path in CORE.rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}
