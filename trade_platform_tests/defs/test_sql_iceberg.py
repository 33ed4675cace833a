"""``trade-platform sql`` over Iceberg tables (``TRADE_PLATFORM_TABLE_FORMAT=iceberg``), now and
``--as-of`` a snapshot id or a time."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from trade_platform.cli.main import main
from trade_platform.cli.sql import Shell
from trade_platform.core.iceberg.catalog import IcebergTables
from trade_platform.settings import LAKE_URL_ENV, TABLE_FORMAT_ENV
from trade_platform_tests.core.test_iceberg_tables import D1, D2, overwrite, volume
from trade_platform_tests.defs.test_sql import CLI


def sql(*args: str, lake: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, LAKE_URL_ENV: str(lake), TABLE_FORMAT_ENV: "iceberg"}
    return subprocess.run(
        [str(CLI), "sql", "--csv", *args], capture_output=True, text=True, env=env, timeout=60
    )


def shell_rows(tables: IcebergTables, statement: str, as_of: str | None = None) -> tuple[list[tuple], str]:
    out, err = io.StringIO(), io.StringIO()
    Shell(tables.lake_url, csv=True, out=out, err=err, iceberg=tables, as_of=as_of).attempt(statement)
    return (
        pl.read_csv(io.StringIO(out.getvalue()), try_parse_dates=True).rows() if out.getvalue() else []
    ), err.getvalue()


def test_sql_reads_the_iceberg_tables_now_and_as_of_a_snapshot_or_a_time(tmp_path: Path, monkeypatch, capsys):
    lake = tmp_path / "lake"
    tables = IcebergTables(str(lake), "default", "trade_platform")
    first = overwrite(tables, "daily_volume", volume(D1, ["A", "B"]))
    committed_at = tables.table("daily_volume").snapshot_by_id(first).timestamp_ms
    overwrite(tables, "daily_volume", volume(D1, ["A"]), volume(D2, ["C"]))
    query = "SELECT date, count(*) AS n FROM daily_volume GROUP BY date ORDER BY date"
    assert shell_rows(tables, query) == ([(D1, 1), (D2, 1)], "")
    completed = sql("--as-of", str(first), query, lake=lake)  # the command line, end to end
    assert completed.returncode == 0, completed.stderr
    assert pl.read_csv(io.StringIO(completed.stdout), try_parse_dates=True).rows() == [(D1, 2)]
    midnight = date.fromtimestamp(committed_at / 1000).isoformat()  # before the first commit
    rows, error = shell_rows(tables, query, as_of=midnight)
    assert rows == [] and "daily_volume" in error and "no partitions yet" in error
    monkeypatch.setenv(LAKE_URL_ENV, str(lake))
    monkeypatch.delenv(TABLE_FORMAT_ENV, raising=False)
    with pytest.raises(SystemExit):  # the Parquet layout has no snapshots
        main(["sql", "--as-of", str(first), query])
    assert (
        "--as-of reads Iceberg snapshots: it needs TRADE_PLATFORM_TABLE_FORMAT=iceberg"
        in capsys.readouterr().err
    )
