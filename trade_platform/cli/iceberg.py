"""``trade-platform iceberg migrate``: register a Parquet lake's day files in Iceberg tables, in
place, without rewriting them (``core.iceberg.migrate``; docs/iceberg.md, "Migrating a Parquet
lake").

It uses the catalog and namespace ``TRADE_PLATFORM_TABLE_FORMAT=iceberg`` would use, whatever the
format is now: a lake is migrated before it switches. Each asset's table (and each dbt model's
with files in the lake) is created when missing and gets one commit; a second run registers
nothing new. The exit code is 1 when a file was refused, after every asset was migrated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial

import polars as pl

from trade_platform.core.dbt_project import model_names
from trade_platform.core.lake_layout import PARTITION_COLUMN
from trade_platform.core.names import ALL
from trade_platform.settings import (
    ICEBERG_CATALOG_ENV,
    ICEBERG_NAMESPACE_ENV,
    LAKE_URL_ENV,
    TABLE_FORMAT_ENV,
    Settings,
)

REFUSED = 1


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    iceberg = commands.add_parser("iceberg", help="Iceberg tables of the lake: migrate a Parquet lake")
    actions = iceberg.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser(
        "migrate",
        help="register every day file of the Parquet lake in the asset's Iceberg table, in place "
        "(no data file is rewritten); tables are created when missing; idempotent",
        description=f"Register each <lake>/<asset>/date=D/part-0.parquet as a data file of the Iceberg "
        f"table <namespace>.<asset>, one commit per table, before switching {TABLE_FORMAT_ENV} to "
        f"iceberg. The catalog is {ICEBERG_CATALOG_ENV}'s ({current.iceberg.catalog}), the namespace "
        f"{ICEBERG_NAMESPACE_ENV}'s ({current.iceberg.namespace}). A day the table holds already is "
        "left alone; a file whose columns do not fit the table is refused (exit code 1).",
        formatter_class=iceberg.formatter_class,
    )
    migrate.add_argument("--lake", default=current.lake_url, help=f"lake URL (env {LAKE_URL_ENV})")
    migrate.add_argument(
        "--assets",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="comma-separated assets or dbt models to migrate (default: every one with files in the lake)",
    )
    migrate.add_argument(
        "--dry-run",
        action="store_true",
        help="check the files and report what would be registered; commit nothing",
    )
    migrate.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    return iceberg


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    from trade_platform.core.iceberg.catalog import IcebergTables  # pyiceberg: Iceberg only
    from trade_platform.core.iceberg.migrate import migrate, parquet_days

    known = (*ALL, *model_names())
    unknown = sorted(set(args.assets or ()) - set(known))
    if unknown:
        parser.error(f"--assets: no asset or dbt model {', '.join(unknown)} (known: {', '.join(known)})")
    tables = IcebergTables(args.lake, current.iceberg.catalog, current.iceberg.namespace)
    results = []
    for asset in args.assets or known:
        files = parquet_days(args.lake, asset)
        if files or args.assets:
            results.append(migrate(tables, asset, files, partial(_planned, asset), args.dry_run))
    if args.json:
        print(json.dumps([vars(result) for result in results], indent=2))
    else:
        print(_report(tables, results, args.dry_run))
    for result in results:
        for refusal in result.refused:
            print(f"refused: {refusal}", file=sys.stderr)
    return REFUSED if any(result.refused for result in results) else 0


def _planned(asset: str, columns: pl.Schema):
    """The schema and properties of a new table: the platform's asset's from its model, a dbt
    model's from its file's columns and its YAML (docs, classifications), as its runs make it."""
    from trade_platform.core.iceberg.schema import (
        classification_properties,
        frame_schema,
        table_properties,
        table_schema,
    )

    if asset in ALL:
        return table_schema(asset), table_properties(asset)
    node = _dbt_node(asset)
    from trade_platform.defs.analytics.translator import column_classifications  # dagster-dbt: models only

    docs = {name: column.get("description") or "" for name, column in (node.get("columns") or {}).items()}
    schema = frame_schema(pl.Schema({**columns, PARTITION_COLUMN: pl.Date()}), docs)
    return schema, classification_properties(column_classifications(node))


def _dbt_node(model: str) -> dict:
    from trade_platform.defs.analytics.project import prepared_project

    manifest = json.loads(prepared_project().manifest_path.read_text())
    return next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == model)


def _report(tables, results: Sequence, dry_run: bool) -> str:
    verb = "would register" if dry_run else "registered"
    lines = [f"{'dry run: ' if dry_run else ''}Parquet lake {tables.lake_url} into {tables}"]
    for r in results:
        snapshot = f" (snapshot {r.snapshot_id})" if r.snapshot_id else ""
        lines.append(
            f"  {r.asset}: {verb} {len(r.registered)} days, {len(r.present)} already present, "
            f"{len(r.empty)} empty, {len(r.refused)} files refused{snapshot}"
        )
    return "\n".join(lines)
