"""Dagster's private names, all in ``lib/dagster_private.py``: run this first on a Dagster upgrade."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from trade_platform.lib import dagster_private

PACKAGE = Path(__file__).resolve().parents[1] / "trade_platform"
FENCE = PACKAGE / "lib" / "dagster_private.py"


def private_imports(path: Path) -> dict[str, str]:
    """``{name: private module}`` of a module's ``from dagster._... import name`` statements."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "dagster",
            "dagster_shared",
        ):
            if "._" in f".{node.module}" or node.module.startswith("dagster_shared"):
                found.update({alias.name: node.module for alias in node.names})
        elif isinstance(node, ast.Import):
            found.update(
                {a.name: a.name for a in node.names if a.name.startswith(("dagster._", "dagster_shared"))}
            )
    return found


@pytest.mark.parametrize("name", dagster_private.__all__)
def test_every_private_name_still_exists_under_the_pinned_dagster(name: str):
    module = private_imports(FENCE)[name]
    assert getattr(importlib.import_module(module), name) is getattr(dagster_private, name)


def test_the_fence_exports_exactly_what_it_imports():
    assert sorted(dagster_private.__all__) == sorted(private_imports(FENCE))


def test_no_other_module_imports_dagsters_private_modules():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(imports)
        for path in PACKAGE.rglob("*.py")
        if path != FENCE and (imports := private_imports(path))
    }
    assert offenders == {}
