"""The lake as SQL tables: one lazy polars scan per asset folder (or Iceberg table, as it is now
or was at a time), queried with polars' SQL engine.

Each asset's folder ``<lake>/<asset>/date=YYYY-MM-DD/part-0.parquet`` is one table whose ``date``
column (a ``Date``) comes from the hive path. The lake is reached the way the platform's own
readers reach it (fsspec to list it, polars' object-store reader with the standard AWS
variables), so a local folder and an ``s3://`` URL behave alike and nothing is downloaded at run
time. No Dagster here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import polars as pl
from polars._plr import PySQLContext
from upath import UPath

from trade_platform.core import names
from trade_platform.core.dbt_project import model_names
from trade_platform.core.lake_layout import HIVE_SCHEMA
from trade_platform.core.storage import polars_storage_options, storage_errors

if TYPE_CHECKING:
    from trade_platform.core.iceberg.catalog import IcebergTables

PARTITION_FILES = "**/*.parquet"
"""Every Parquet file under a table folder, whatever its hive levels; the hidden temporary files
of writes in progress (``.part-0.parquet.<id>.tmp``) do not match."""
TABLES = (*names.ALL, *model_names())
"""The platform's assets, then the dbt project's models (an analyst's new one included)."""
FILE_READER = re.compile(r"(?:read|scan)_\w+", re.IGNORECASE)
"""The names of polars SQL's file and URL table functions: read_csv, read_parquet, read_ipc,
read_json and read_ndjson in polars 2.1, and any reader it may add (``tables_read``)."""

WRITING = re.compile(
    r"(?:\s|--[^\n]*\n?|/\*.*?\*/|\()*(delete|truncate|create|drop|insert|update|copy|alter|merge)\b",
    re.IGNORECASE | re.DOTALL,
)
"""A statement that would change a table (after any comments and opening parentheses)."""


class QueryError(Exception):
    """A statement failed (SQL, a column or table, the data or the storage): a one-line message."""


@dataclass(frozen=True)
class Catalog:
    """The tables of a lake as it is when ``open`` lists it."""

    lake_url: str
    tables: dict[str, pl.LazyFrame]
    """The assets that have a folder, each a lazy scan of its partitions."""
    absent: tuple[str, ...]
    """The platform's assets with no folder yet (nothing materialized); the dbt models are not
    named: a deployment may select none of them (``TRADE_PLATFORM_DBT_MODELS``)."""

    @classmethod
    def open(cls, lake_url: str, statement: str | None = None) -> Catalog:
        """List the lake's asset folders and the files of the tables ``statement`` names (all
        without one), whose footers give the columns; a missing lake has no tables."""
        lake = UPath(lake_url)
        with storage_errors("list", lake_url):
            try:
                entries = lake.fs.ls(lake.path, detail=False, refresh=True)
            except FileNotFoundError:
                entries = []
        folders = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries}
        named = TABLES if statement is None else tables_read(statement)
        tables = {name: _scan(lake / name) for name in named if name in folders}
        return cls(lake_url, tables, tuple(name for name in names.ALL if name not in folders))

    @classmethod
    def open_iceberg(
        cls, tables: IcebergTables, statement: str | None = None, as_of: str | None = None
    ) -> Catalog:
        """The Iceberg tables ``statement`` names (all without one), as they are now or were at
        ``as_of`` (``core.iceberg.reads.as_of_millis``); a table with no snapshot then is absent."""
        from trade_platform.core.iceberg.reads import as_of_millis, scan_as_of

        named = TABLES if statement is None else tables_read(statement)
        with storage_errors("list", tables.identifier("*")), query_errors():
            found = {name: table for name in named if (table := tables.existing(name)) is not None}
            try:
                millis = None if as_of is None else as_of_millis(found.values(), as_of)
            except ValueError as exc:
                raise QueryError(str(exc)) from None
            scans = {name: scan_as_of(table, name, millis) for name, table in found.items()}
        present = {name: scan for name, scan in scans.items() if scan is not None}
        where = f"Iceberg catalog {tables.catalog_name} ({tables.namespace})" + (
            f" as of {as_of}" if as_of else ""
        )
        return cls(where, present, tuple(name for name in names.ALL if name in named and name not in present))

    def absent_note(self) -> str:
        """One line naming the tables that do not exist yet, or ``""``."""
        if not self.absent:
            return ""
        return f"no partitions yet under {self.lake_url} for: {', '.join(self.absent)}"

    def schemas(self) -> dict[str, pl.Schema | str]:
        """Each table's columns and types, or the one-line reason it cannot be read."""
        described: dict[str, pl.Schema | str] = {}
        for name, frame in self.tables.items():
            try:
                with query_errors():
                    described[name] = frame.collect_schema()
            except QueryError as exc:
                described[name] = str(exc)
        return described

    def query(self, sql: str) -> pl.LazyFrame:
        """The lazy result of one SQL statement over the tables; nothing is read yet."""
        with query_errors():
            return pl.SQLContext(frames=self.tables).execute(sql)

    def explain(self, error: QueryError) -> QueryError:
        """``error``, naming the tables that do not exist yet when it is about one of them."""
        if any(f"'{name}'" in str(error) for name in self.absent):
            return QueryError(f"{error} ({self.absent_note()})")
        return error


def tables_read(statement: str) -> list[str]:
    """The lake tables ``statement`` reads, found by polars' own SQL parser (the one that runs
    it) in every FROM and JOIN, CTEs and subqueries included. A statement calling a file reader
    such as ``read_csv('/any/path')`` is refused before anything runs: the command reads the lake
    and nothing else, though polars would read any file or URL with the platform's credentials."""
    verb = WRITING.match(statement)
    if verb:  # polars would run it on an in-memory copy and print an empty result: as if it worked
        raise QueryError(f"{verb[1].upper()}: the lake's tables are read-only; only queries run")
    with query_errors():
        named = PySQLContext.table_identifiers(statement, include_schema=False, unique=True)
    readers = sorted({name for name in named if FILE_READER.fullmatch(name)})
    if readers:
        raise QueryError(f"{', '.join(readers)}: only the lake's tables can be read, not files or URLs")
    return [name for name in TABLES if name in {n.lower() for n in named}]


def _scan(table: UPath) -> pl.LazyFrame:
    """The table's partitions as one scan. Days may differ in columns (``raw_trades`` keeps each
    day's extra and Kafka columns), so the scan takes the union of the files' schemas and a day
    without a column reads it as null."""
    options = polars_storage_options(table)
    with storage_errors("list", str(table)):
        files = [
            table.fs.unstrip_protocol(f) for f in sorted(table.fs.glob(f"{table.path}/{PARTITION_FILES}"))
        ]
    columns: dict[str, pl.DataType] = {}
    with query_errors():
        for url in files:
            schema = pl.scan_parquet(url, storage_options=options, hive_partitioning=False).collect_schema()
            columns.update((name, dtype) for name, dtype in schema.items() if name not in columns)
    return pl.scan_parquet(
        f"{table}/{PARTITION_FILES}",
        hive_partitioning=True,
        hive_schema=HIVE_SCHEMA,
        schema=pl.Schema(columns) if columns else None,
        missing_columns="insert",
        storage_options=options,
    )


@contextmanager
def query_errors() -> Iterator[None]:
    """Turn what a statement can raise (polars, its object-store reader, a Rust panic) into a
    ``QueryError`` with the first line of the message."""
    try:
        yield
    except BrokenPipeError:  # the reader of the output went away: not the statement's fault
        raise
    except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException) as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        raise QueryError(lines[0] if lines else type(exc).__name__) from None


def first_rows(result: pl.LazyFrame, limit: int) -> tuple[pl.DataFrame, int]:
    """The first ``limit`` rows of ``result`` and its row count; the rows beyond are counted
    batch by batch as they stream past, never held."""
    kept: list[pl.DataFrame] = []
    held = total = 0
    with query_errors():
        for batch in result.collect_batches():
            total += batch.height
            if held < limit:
                kept.append(batch.head(limit - held))
                held += kept[-1].height
        head = pl.concat(kept) if kept else pl.DataFrame(schema=result.collect_schema())
    return head, total


def write_csv(result: pl.LazyFrame, out: IO[str]) -> int:
    """Stream ``result`` to ``out`` as CSV with a header; nested values (lists, structs) become
    JSON text. Returns the row count."""
    with query_errors():
        schema = result.collect_schema()
        nested = [name for name, dtype in schema.items() if dtype.is_nested()]
        flat = result.with_columns(
            pl.struct(pl.col(name).alias("v")).struct.json_encode().str.json_path_match("$.v").alias(name)
            for name in nested
        )
        rows = 0
        for batch in flat.collect_batches():
            out.write(batch.write_csv(include_header=rows == 0 and batch.height > 0))
            rows += batch.height
        if rows == 0:
            out.write(pl.DataFrame(schema=flat.collect_schema()).write_csv())
    return rows


def render_table(head: pl.DataFrame, total: int, width: int | None) -> str:
    """``head`` as polars prints it, every column shown (cells wrap to fit ``width`` characters;
    None: one line per row), then the row count."""
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_hide_dataframe_shape=True,
        tbl_width_chars=width or 65_535,
        fmt_str_lengths=100,
        fmt_table_cell_list_len=10,
    ):
        text = str(head)
    count = f"{total:,} row{'s' if total != 1 else ''}"
    if head.height < total:
        count = f"first {head.height:,} of {count} shown (--max-rows)"
    return f"{text}\n{count}"


def split_statements(text: str) -> tuple[list[str], str]:
    """The complete ``;``-terminated statements of ``text`` (without the ``;``) and the
    unfinished rest; a ``;`` inside quotes or a ``--`` comment does not end a statement."""
    statements: list[str] = []
    start = 0
    quote = ""
    comment = False
    for index, char in enumerate(text):
        if comment:
            comment = char != "\n"
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "-" and text.startswith("--", index):
            comment = True
        elif char == ";":
            statements.append(text[start:index].strip())
            start = index + 1
    return [s for s in statements if s], text[start:]
