"""Services never import task modules (tasks import services; they publish tasks by name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def service_modules() -> list[Path]:
    found: set[Path] = set()
    for pattern in (
        "reviewapp/services.py",
        "reviewapp/services/**/*.py",
        "reviewapp/*/services.py",
        "reviewapp/*/services/**/*.py",
        "catalog/services.py",
        "catalog/services/**/*.py",
        "playbooks/services.py",
        "playbooks/services/**/*.py",
        "playbooks/*/services.py",
        "playbooks/*/services/**/*.py",
    ):
        found.update(ROOT.glob(pattern))
    return sorted(found)


def _package_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1]  # a module's package; for __init__.py, the package itself


def _resolve(node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = _package_of(path)
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def task_imports(path: Path) -> list[str]:
    """Every import of a module named `tasks`, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, path)
            modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules = [node.args[0].value]
        else:
            continue
        found += [
            f"line {node.lineno}: {module}" for module in modules if "tasks" in module.split(".")
        ][:1]
    return found


def test_the_scan_sees_the_service_modules():
    names = {str(p.relative_to(ROOT)) for p in service_modules()}
    assert "reviewapp/services/ingest.py" in names
    assert "reviewapp/delivery/services/sending.py" in names
    assert "reviewapp/dashboards/services/fold.py" in names
    assert "catalog/services/workflow.py" in names


@pytest.mark.parametrize(
    "source",
    [
        "from reviewapp.tasks import route_predictions",
        "def kick():\n    from .tasks import send_due_deliveries\n",
        "from . import tasks",
        "import reviewapp.delivery.tasks as t",
        "import importlib\nimportlib.import_module('reviewapp.tasks')",
    ],
)
def test_the_scan_catches_each_way_of_importing_a_task_module(tmp_path, monkeypatch, source):
    package = tmp_path / "reviewapp" / "delivery"
    package.mkdir(parents=True)
    module = package / "services.py"
    module.write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert task_imports(module)


def test_services_never_import_task_modules():
    offenders = {
        str(path.relative_to(ROOT)): hits
        for path in service_modules()
        if (hits := task_imports(path))
    }
    assert offenders == {}, "services publish tasks by name through reviewapp.core.publish"
