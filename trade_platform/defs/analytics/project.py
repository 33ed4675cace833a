"""The dbt project as dagster-dbt sees it, with its manifest prepared offline.

The manifest (``target/manifest.json``) is made by ``dbt parse``, which reads only the project's
files: no network, no database; the parse itself is kept beside it for the runs (``runner.py``).
It is prepared when the code location loads and either is missing or older than a file of the
project (a fresh clone, an analyst's new or edited model), so ``dg check defs``, ``make test`` and
``make ui`` need no step of their own. (Not at every load under ``dagster dev`` as dagster-dbt's
``prepare_if_dev`` does: every ``dg`` command sets its flag, and a parse at each load of the code
location, runs included, costs seconds for nothing.)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from trade_platform.core.dbt_project import PROJECT_DIR
from trade_platform.defs.analytics.runner import PARSED

DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
"""This interpreter's dbt (the virtualenv's), whatever is on PATH."""
GENERATED = ("target", "logs", "dbt_packages")
"""dbt's own output folders in the project: not sources of the manifest."""


def prepared_project(project_dir: Path = PROJECT_DIR) -> DbtProject:
    project = DbtProject(project_dir=project_dir)
    if _stale(project):
        _parse(project)
    return project


def _parse(project: DbtProject) -> None:
    """``dbt parse`` into a folder of its own, then the parsed project a run builds from
    (``runner.PARSED``) and the manifest moved into place, each in one rename and in this order,
    so another process loading the code location at the same time never reads half a file nor a
    manifest newer than the parse."""
    target = Path(project.project_dir, project.target_path)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=target) as scratch:
        dbt = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        dbt.cli(["parse", "--quiet"], target_path=Path(scratch)).wait()
        os.replace(Path(scratch, PARSED), target / PARSED)
        os.replace(Path(scratch, "manifest.json"), project.manifest_path)


def _stale(project: DbtProject) -> bool:
    if not (project.manifest_path.exists() and project.manifest_path.with_name(PARSED).exists()):
        return True
    built = project.manifest_path.stat().st_mtime
    sources = (
        path
        for path in Path(project.project_dir).rglob("*")
        if path.is_file() and path.relative_to(project.project_dir).parts[0] not in GENERATED
    )
    return any(path.stat().st_mtime > built for path in sources)
