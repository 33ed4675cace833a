"""``trade-platform sql`` run as a subprocess over a lake the platform materialized: the one-shot
form (table and CSV), the prompt fed from a pipe, an ``s3://`` lake on moto's server, and a lake
that lacks some tables. Every answer is compared with the Parquet files read directly."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import boto3
import polars as pl
import pytest
from dagster import DagsterInstance

from trade_platform.cli.sql import Shell
from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.names import ALL, RAW_TRADES, VALIDATED_TRADES
from trade_platform.settings import LAKE_URL_ENV
from trade_platform_tests.conftest import S3, Platform, new_dagster_home

CLI = Path(sys.executable).with_name("trade-platform")
DAYS = ("2026-11-20", "2026-11-21")


def counts(tables: tuple[str, ...] = ALL) -> str:
    """The statement counting each table's rows per date."""
    union = " UNION ALL ".join(
        f"SELECT '{t}' AS asset, date, count(*) AS n FROM {t} GROUP BY date" for t in tables
    )
    return f"{union} ORDER BY asset, date"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Two small days of every asset, materialized once for the module."""
    root = tmp_path_factory.mktemp("sql")
    for index, day in enumerate(DAYS):
        generated = generate_day(date.fromisoformat(day), 300, seed=7, bad_fraction=0.05)
        write_day(generated, str(root / "landing"), corrupt_file=index == 0)
    with DagsterInstance.from_config(str(new_dagster_home(root))) as instance:
        Platform(root / "landing", root / "lake", instance).materialize(DAYS[0], until=DAYS[-1])
    return root / "lake"


def sql(*args: str, lake: Path | str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with the lake from the platform's own variable (and the AWS variables of this
    process, which the S3 fixtures set)."""
    env = {**os.environ, LAKE_URL_ENV: str(lake)}
    return subprocess.run(
        [str(CLI), "sql", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def read_directly(lake: Path, asset: str) -> pl.DataFrame:
    """An asset's partition files read one by one, with ``date`` from each folder's name."""
    files = sorted((lake / asset).glob("date=*/*.parquet"))
    return pl.concat(
        pl.read_parquet(file).with_columns(date=pl.lit(date.fromisoformat(file.parent.name[5:])))
        for file in files
    )


def expected_counts(lake: Path) -> pl.DataFrame:
    rows = [
        {"asset": asset, "date": date.fromisoformat(file.parent.name[5:]), "n": pl.read_parquet(file).height}
        for asset in ALL
        for file in (lake / asset).glob("date=*/*.parquet")
    ]
    return pl.DataFrame(rows).sort("asset", "date")


def test_one_shot_counts_per_date_equal_the_parquet_files_as_a_table_and_as_csv(lake: Path):
    expected = expected_counts(lake)
    assert expected.height == len(ALL) * len(DAYS) and expected["n"].min() > 0

    table = sql(counts(), lake=lake)
    assert table.returncode == 0, table.stderr
    assert table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[-1] == f"{expected.height} rows"
    assert "┆ date       ┆" in lines[1] and "┆ date       ┆" in lines[3]  # date is a Date column
    for asset, day, n in expected.iter_rows():
        assert any(f"│ {asset}" in line and f"┆ {day} ┆ {n} " in line for line in lines), (asset, day)

    csv = sql("--csv", counts(), lake=lake)
    assert csv.returncode == 0, csv.stderr
    parsed = pl.read_csv(io.StringIO(csv.stdout), try_parse_dates=True)
    assert parsed.schema["date"] == pl.Date()
    assert parsed.equals(expected.cast({"n": pl.Int64}))


def test_csv_of_a_whole_table_parses_back_to_its_parquet_files(lake: Path):
    expected = read_directly(lake, VALIDATED_TRADES).sort("trade_id")
    completed = sql("--csv", f"SELECT * FROM {VALIDATED_TRADES} ORDER BY trade_id", lake=lake)
    assert completed.returncode == 0, completed.stderr
    assert pl.read_csv(io.StringIO(completed.stdout), schema=expected.schema).equals(expected)


def test_a_table_result_shows_max_rows_and_counts_them_all(lake: Path):
    total = read_directly(lake, RAW_TRADES).height
    completed = sql("--max-rows", "3", f"SELECT trade_id, date FROM {RAW_TRADES}", lake=lake)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.count("│ T") == 3
    assert completed.stdout.splitlines()[-1] == f"first 3 of {total:,} rows shown (--max-rows)"


def test_the_prompt_reads_statements_across_lines_dot_commands_and_goes_on_after_an_error(lake: Path):
    script = "\n".join(
        [
            ".tables",
            "SELECT date,",
            "       count(*) AS n  -- a ';' in a comment does not end it",
            f"FROM {RAW_TRADES}",
            "GROUP BY date ORDER BY date;",
            "SELECT no_such_column FROM ohlcv;",
            "SELECT 'a;b' AS text; SELECT count(*) AS symbols FROM daily_volume",
            ";",
            ".quit",
            "SELECT 'never run';",
        ]
    )
    completed = sql(lake=lake, stdin=script)
    assert completed.returncode == 2  # from a pipe, a failed statement fails the whole input
    errors = completed.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith('error: unable to find column "no_such_column"')
    out = completed.stdout
    for asset in ALL:  # .tables: every table, then its columns with their types
        assert f"\n{asset} (" in f"\n{out}"
    assert "  date          Date" in out and "  error_codes   List(String)" in out
    raw = read_directly(lake, RAW_TRADES).group_by("date").len()
    for day, n in raw.iter_rows():
        assert f"│ {day} ┆ {n} " in out
    assert "│ a;b  │" in out
    daily = read_directly(lake, "daily_volume").height
    assert f"│ {daily} " in out
    assert "never run" not in out


def test_an_s3_lake_answers_like_the_local_one(lake: Path, s3: S3):
    bucket = s3.new_bucket()
    client = boto3.client("s3")
    for file in lake.rglob("*.parquet"):
        if "daily_volume" not in file.parts:  # one table not materialized yet
            client.upload_file(str(file), bucket, f"lake/{file.relative_to(lake).as_posix()}")
    url = f"s3://{bucket}/lake"

    completed = sql("--csv", counts(tuple(t for t in ALL if t != "daily_volume")), lake=url)
    assert completed.returncode == 0, completed.stderr
    expected = expected_counts(lake).filter(pl.col("asset") != "daily_volume")
    assert pl.read_csv(io.StringIO(completed.stdout), try_parse_dates=True).equals(
        expected.cast({"n": pl.Int64})
    )

    missing = sql("SELECT * FROM daily_volume", lake=url)
    assert missing.returncode == 2
    assert missing.stderr == (
        f"error: relation 'daily_volume' was not found (no partitions yet under {url} for: daily_volume)\n"
    )


def test_missing_tables_and_bad_statements_get_one_line_errors_and_exit_code_2(lake: Path, tmp_path: Path):
    partial = tmp_path / "lake"
    shutil.copytree(lake / RAW_TRADES, partial / RAW_TRADES)
    absent = ", ".join(name for name in ALL if name != RAW_TRADES)

    listing = sql(lake=partial, stdin=".tables\n")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith(f"{RAW_TRADES} (14 columns)\n")
    assert listing.stdout.endswith(f"no partitions yet under {partial} for: {absent}\n")

    cases = {
        "SELECT * FROM ohlcv": f"relation 'ohlcv' was not found (no partitions yet under {partial} for: {absent})",
        "SELEC 1": "sql parser error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
        f"SELECT CAST(symbol AS INT) FROM {RAW_TRADES}": "conversion from `str` to `i32` failed in column",
        "": "no SQL statement given",
    }
    for statement, message in cases.items():
        completed = sql(statement, lake=partial)
        assert completed.returncode == 2, statement
        assert completed.stdout == ""
        assert completed.stderr.startswith(f"error: {message}") and completed.stderr.count("\n") == 1

    nowhere = sql("SELECT count(*) AS n FROM raw_trades", lake=tmp_path / "no_lake")
    assert nowhere.returncode == 2
    assert nowhere.stderr.startswith("error: relation 'raw_trades' was not found (no partitions yet under")
    assert sql("--max-rows", "0", "SELECT 1", lake=partial).returncode == 2


def test_csv_writes_list_columns_as_json_text(lake: Path):
    expected = read_directly(lake, "trades_dlq").sort("_source_file", "_source_row")
    statement = "SELECT error_codes FROM trades_dlq ORDER BY _source_file, _source_row"
    completed = sql("--csv", statement, lake=lake)
    assert completed.returncode == 0, completed.stderr
    parsed = pl.read_csv(io.StringIO(completed.stdout)).select(
        pl.col("error_codes").str.json_decode(pl.List(pl.String))
    )
    assert parsed["error_codes"].to_list() == expected["error_codes"].to_list()


SECRET = "not,for\nthe,lake\n"
# Every spelling of a file reader polars' SQL would run: each table function, upper case, quoted,
# commented, inside CTEs, subqueries, joins and set operations.
READER_STATEMENTS = [
    "SELECT * FROM read_csv('{path}')",
    "SELECT * FROM READ_PARQUET('{path}')",
    "SELECT * FROM read_ipc('{path}')",
    "SELECT * FROM read_json('{path}')",
    "SELECT * FROM Read_NDJson('{path}')",
    "SELECT * FROM \"read_csv\"('{path}')",
    "SELECT * FROM `READ_CSV`('{path}')",
    "SELECT * FROM read_csv /* a /* nested */ comment */ ('{path}')",
    "SELECT * FROM read_csv\n-- a comment\n  ('{path}', has_header => true)",
    "WITH c AS (SELECT * FROM read_csv('{path}')) SELECT * FROM c",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM read_csv('{path}')))",
    "SELECT (SELECT count(*) FROM read_csv('{path}')) AS n FROM ohlcv",
    "SELECT * FROM ohlcv WHERE symbol IN (SELECT symbol FROM read_csv('{path}'))",
    "SELECT symbol FROM ohlcv UNION ALL SELECT * FROM read_csv('{path}')",
    "SELECT * FROM ohlcv JOIN read_csv('{path}') r ON true",
    "SELECT * FROM ohlcv, read_csv('{path}') AS r",
    "EXPLAIN SELECT * FROM read_csv('{path}')",
]


def refused(lake: Path | str, path: str) -> list[str]:
    """The one-line error of each reader statement on ``lake``, run by the command's own shell."""
    errors = []
    for statement in READER_STATEMENTS:
        out, err = io.StringIO(), io.StringIO()
        assert Shell(str(lake), out=out, err=err).one_shot(statement.format(path=path)) == 2, statement
        assert out.getvalue() == "" and err.getvalue().count("\n") == 1, statement
        errors.append(err.getvalue())
    return errors


def test_statements_reading_files_or_urls_are_refused_on_a_local_lake(lake: Path, tmp_path: Path):
    secret = tmp_path / "secret.csv"
    secret.write_text(SECRET)
    for error in refused(lake, str(secret)):
        assert error.endswith(": only the lake's tables can be read, not files or URLs\n"), error
    completed = sql(f"SELECT * FROM read_csv('{secret}')", lake=lake)
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == "error: read_csv: only the lake's tables can be read, not files or URLs\n"
    # The names in a string literal or a comment are text, not calls.
    text = sql("--csv", "SELECT 'read_csv(''x'')' AS s /* read_csv('y') */ FROM ohlcv LIMIT 1", lake=lake)
    assert (text.returncode, text.stdout) == (0, "s\nread_csv('x')\n"), text.stderr


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM ohlcv",
        "truncate ohlcv",
        "/* one */ CREATE TABLE t AS SELECT 1",
        "-- a comment\nDROP TABLE ohlcv",
        "(INSERT INTO ohlcv SELECT * FROM ohlcv)",
    ],
)
def test_statements_that_would_change_a_table_are_refused_not_run_on_a_copy(lake: Path, statement: str):
    completed = sql(statement, lake=lake)
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.endswith(": the lake's tables are read-only; only queries run\n"), (
        completed.stderr
    )
    assert sql("SELECT 'delete' AS d FROM ohlcv LIMIT 1", "--csv", lake=lake).stdout == "d\ndelete\n"


def test_statements_reading_files_or_urls_are_refused_on_an_s3_lake(lake: Path, s3: S3):
    bucket, other = s3.new_bucket(), s3.new_bucket()
    client = boto3.client("s3")
    for file in (lake / "ohlcv").rglob("*.parquet"):
        client.upload_file(str(file), bucket, f"lake/{file.relative_to(lake).as_posix()}")
    client.put_object(Bucket=other, Key="secret.csv", Body=SECRET.encode())
    assert refused(f"s3://{bucket}/lake", f"s3://{other}/secret.csv")
    completed = sql(f"SELECT * FROM read_parquet('s3://{other}/secret.csv')", lake=f"s3://{bucket}/lake")
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.startswith("error: read_parquet: only the lake's tables")
