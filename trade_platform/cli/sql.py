"""``trade-platform sql``: one SQL statement, or an interactive prompt, over the lake's tables.

The prompt reads statements ending with ``;`` (over as many lines as they take) and a few dot
commands; a failed statement prints its error and the prompt goes on. From a pipe it reads the
same input without prompts. Each statement sees the lake as it is when it runs; with Iceberg
tables, ``--as-of`` shows them as they were at a snapshot or time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from trade_platform.core.sql_tables import (
    Catalog,
    QueryError,
    first_rows,
    render_table,
    split_statements,
    write_csv,
)
from trade_platform.core.storage import StorageError
from trade_platform.settings import LAKE_URL_ENV, TABLE_FORMAT_ENV, Settings

if TYPE_CHECKING:
    from trade_platform.core.iceberg.catalog import IcebergTables

QUERY_FAILED = 2
"""The exit code when a statement (or, from a pipe, any statement) failed."""

HELP = """\
Statements end with ';' and may span lines. Tables: one per asset, `date` is a Date column.
  .tables  (\\dt)        the tables with their columns and types
  .help    (\\?)         this help
  .quit    (\\q, .exit)  leave (or end of input, Ctrl-D)
Example: SELECT date, count(*) AS trades FROM validated_trades GROUP BY date ORDER BY date;"""


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    sql = commands.add_parser(
        "sql", help="query the lake's tables with SQL (polars): one statement, or an interactive prompt"
    )
    sql.add_argument("query", nargs="?", help="statements to run; without it, a prompt (or stdin's)")
    sql.add_argument("--csv", action="store_true", help="print results as CSV instead of a table")
    sql.add_argument("--lake", default=current.lake_url, help=f"lake URL (env {LAKE_URL_ENV})")
    sql.add_argument("--max-rows", type=int, default=50, help="rows shown of a result table")
    sql.add_argument(
        "--as-of",
        help="an Iceberg snapshot id or ISO timestamp (UTC unless it has an offset): the tables as they "
        f"were then ({TABLE_FORMAT_ENV}=iceberg)",
    )
    return sql


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    if args.max_rows < 1:
        parser.error("--max-rows must be at least 1")
    iceberg = None
    if current.table_format == "iceberg":
        from trade_platform.core.iceberg.catalog import IcebergTables  # pyiceberg: Iceberg lakes only

        iceberg = IcebergTables(args.lake, current.iceberg.catalog, current.iceberg.namespace)
    elif args.as_of:
        parser.error(f"--as-of reads Iceberg snapshots: it needs {TABLE_FORMAT_ENV}=iceberg")
    shell = Shell(args.lake, csv=args.csv, max_rows=args.max_rows, iceberg=iceberg, as_of=args.as_of)
    return shell.prompt(sys.stdin) if args.query is None else shell.one_shot(args.query)


@dataclass(frozen=True)
class Shell:
    lake_url: str
    csv: bool = False
    max_rows: int = 50
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    iceberg: IcebergTables | None = None
    """The lake's Iceberg tables, when it has them instead of Parquet folders."""
    as_of: str | None = None
    """Read the Iceberg tables as they were at this snapshot id or time."""

    def catalog(self, statement: str | None = None) -> Catalog:
        if self.iceberg is not None:
            return Catalog.open_iceberg(self.iceberg, statement, self.as_of)
        return Catalog.open(self.lake_url, statement)

    def width(self) -> int | None:
        """A terminal's width (polars wraps cells to fit it); elsewhere one line per row."""
        return shutil.get_terminal_size().columns if self.out.isatty() else None

    def run(self, sql: str) -> None:
        """Run the statements of ``sql`` and print each result; raises QueryError or StorageError."""
        statements, rest = split_statements(sql)
        statements += [rest.strip()] if rest.strip() else []
        if not statements:
            raise QueryError("no SQL statement given")
        for statement in statements:
            catalog = self.catalog(statement)
            try:
                result = catalog.query(statement)
                if self.csv:
                    write_csv(result, self.out)
                else:
                    head, total = first_rows(result, self.max_rows)
                    print(render_table(head, total, self.width()), file=self.out)
            except QueryError as exc:
                raise catalog.explain(exc) from None
            self.out.flush()

    def one_shot(self, sql: str) -> int:
        return 0 if self.attempt(sql) else QUERY_FAILED

    def prompt(self, stdin: IO[str]) -> int:
        """Read statements and dot commands from ``stdin`` until ``.quit`` or its end."""
        interactive = stdin.isatty()
        if interactive:
            import readline  # noqa: F401  (line editing and history for input())

            self.banner()
        failed = False
        pending = ""

        def prompt() -> str:
            return "   ...> " if pending.strip() else "lake> "

        for line in _lines(stdin, interactive, prompt):
            if line is None:  # Ctrl-C: drop the statement being typed
                pending = ""
                continue
            if not pending.strip() and line.strip().startswith((".", "\\")):
                keep_going, ok = self.command(line.strip())
                failed |= not ok
                if not keep_going:
                    return 0 if interactive or not failed else QUERY_FAILED
                continue
            statements, pending = split_statements(pending + line + "\n")
            for statement in statements:
                failed |= not self.attempt(statement + ";")
        if pending.strip():
            failed |= not self.attempt(pending)
        return 0 if interactive or not failed else QUERY_FAILED

    def banner(self) -> None:
        print(f"trade-platform sql on {self.lake_url}", file=self.out)
        try:
            catalog = self.catalog()
        except StorageError as exc:
            print(f"error: {exc}", file=self.err)
        else:
            print(f"tables: {', '.join(catalog.tables) or 'none'}", file=self.out)
            if catalog.absent_note():
                print(catalog.absent_note(), file=self.out)
        print("Statements end with ';'. .help for help, .quit to leave.", file=self.out)

    def attempt(self, sql: str) -> bool:
        """Run ``sql``; print its error instead of raising."""
        try:
            self.run(sql)
        except (QueryError, StorageError) as exc:
            print(f"error: {exc}", file=self.err)
            return False
        except KeyboardInterrupt:
            print("interrupted", file=self.err)
            return False
        except BrokenPipeError:  # `| head` stopped reading: the rest of the output is not wanted
            _discard_stdout()
        return True

    def command(self, text: str) -> tuple[bool, bool]:
        """Run a dot command: (whether to keep reading, whether it succeeded)."""
        name = text.split()[0].rstrip(";")
        if name in (".quit", ".exit", "\\q"):
            return False, True
        if name in (".help", "\\?"):
            print(HELP, file=self.out)
            return True, True
        if name in (".tables", "\\dt"):
            try:
                print(self.describe(), file=self.out)
            except StorageError as exc:
                print(f"error: {exc}", file=self.err)
                return True, False
            return True, True
        print(f"error: unknown command {name} (.help lists the commands)", file=self.err)
        return True, False

    def describe(self) -> str:
        """Every table with its columns and types, then the tables that do not exist yet."""
        catalog = self.catalog()
        lines = []
        for name, schema in catalog.schemas().items():
            if isinstance(schema, str):
                lines.append(f"{name}: cannot be read: {schema}")
                continue
            lines.append(f"{name} ({len(schema)} columns)")
            wide = max(len(column) for column in schema)
            lines += [f"  {column:<{wide}}  {dtype}" for column, dtype in schema.items()]
        if catalog.absent_note():
            lines.append(catalog.absent_note())
        return "\n".join(lines) or f"no tables under {self.lake_url}"


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _lines(stdin: IO[str], interactive: bool, prompt) -> Iterator[str | None]:
    """The input's lines without their newline; None for a Ctrl-C at the prompt."""
    if not interactive:
        for line in stdin:
            yield line.rstrip("\n")
        return
    while True:
        try:
            yield input(prompt())
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            yield None
