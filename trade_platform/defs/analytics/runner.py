"""``dbt build`` of a run's selected models and tests, in the step's own process, on the project
the code location prepared.

A dbt process would start Python and dbt again and parse the whole project: the var ``date``
changes at every run, and dbt drops its saved parse when a var changes. That was most of the
step's time. dbt's programmatic runner takes a parsed project instead (``dbtRunner(manifest=)``,
docs.getdbt.com/reference/programmatic-invocations): the one ``dbt parse`` saved next to
``manifest.json`` (``partial_parse.msgpack``, ``project.py``). A var is rendered when a node is
compiled, not when it is parsed, so the run's days still reach the SQL; the project uses them in
SQL only (its ``vars`` default is a placeholder that no parse depends on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Failure
from dagster_dbt import DbtProject

from trade_platform.core.dbt_project import write_profile

PARSED = "partial_parse.msgpack"
"""dbt's saved parse of the project, beside ``manifest.json``."""
UNIQUE_ID = "dagster_dbt/unique_id"
"""dagster-dbt's metadata key on each asset and check spec: the dbt node it stands for."""


def dbt_build(
    context: AssetExecutionContext, project: DbtProject, scratch: Path, database: Path
) -> list[dict[str, Any]]:
    """Each node's result (as in ``run_results.json``: ``unique_id``, ``status``, ``message``,
    ``relation_name``) of ``dbt build`` of the step's selected models and tests over its days (the
    vars ``date`` and ``end_date``) on ``database``. Fails the step when dbt could not run or a
    model could not be built (a failing test does not: it is a failed check)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters
    from dbt.artifacts.schemas.run import process_run_result
    from dbt.cli.main import dbtRunner

    manifest = _parsed(project)
    days = {"date": context.partition_keys[0], "end_date": context.partition_keys[-1]}
    target = scratch / "target"
    args = [
        "build", "--quiet", "--vars", json.dumps(days), "--select", *_selected(context, manifest),
        "--indirect-selection", "empty",  # the selected tests are listed: no others
        "--project-dir", str(project.project_dir), "--profiles-dir", str(write_profile(scratch, database)),
        "--target-path", str(target), "--log-path", str(target),
        "--no-write-json",  # the results are returned; writing the manifest again took seconds
    ]  # fmt: skip
    try:
        outcome = dbtRunner(manifest=manifest).invoke(args)
    finally:  # dbt keeps its adapter and the database open for a next call: the run reads it now
        reset_adapters()
        DuckDBConnectionManager.close_all_connections()
    what = f"dbt build of {days['date']}..{days['end_date']}"
    if outcome.result is None:  # dbt stopped before running anything
        raise Failure(description=f"{what}: {outcome.exception}", allow_retries=False)
    results = [process_run_result(result).to_dict() for result in outcome.result.results]
    failed = [r for r in results if r["unique_id"].startswith("model.") and r["status"] != "success"]
    if failed:
        problems = "; ".join(f"{r['unique_id']}: {r['message']}" for r in failed)
        raise Failure(description=f"{what}: {problems}", allow_retries=False)
    return results


def _selected(context: AssetExecutionContext, manifest) -> list[str]:
    """The dbt nodes of the step's selected assets and checks, by their ``fqn`` (as dagster-dbt
    selects them), each test listed, so a subset of the checks runs only those tests."""
    specs = context.assets_def.specs_by_key
    nodes = [specs[key].metadata[UNIQUE_ID] for key in context.selected_asset_keys]
    nodes += [
        spec.metadata[UNIQUE_ID]
        for spec in context.assets_def.check_specs
        if spec.key in context.selected_asset_check_keys
    ]
    return sorted("fqn:" + ".".join(manifest.nodes[node].fqn) for node in nodes)


def _parsed(project: DbtProject):
    """The project as ``dbt parse`` saved it, read afresh for each build: dbt writes each node's
    compiled SQL (the run's days) into the object it is given."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    saved = project.manifest_path.with_name(PARSED)
    return Manifest.from_msgpack(saved.read_bytes(), decoder=extended_mashumuro_decoder)
