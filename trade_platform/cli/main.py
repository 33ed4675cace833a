"""trade-platform: generate synthetic landing data, run the demo pipeline, query the lake, trace a
trade, and run the scale-out and streaming processes."""

# One module of this package per command: add_parser() declares it, run() carries it out.

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from pathlib import Path

from trade_platform.cli import backfill, demo, generate, iceberg, sql, stream, trace, worker
from trade_platform.cli.instance import NoInstanceError
from trade_platform.core.storage import StorageError
from trade_platform.settings import Settings, export

COMMANDS = (generate, demo, worker, backfill, stream, sql, trace, iceberg)


class DefaultsShown(argparse.HelpFormatter):
    """Each option's help ends with its default, unless it has none (a flag, a required value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class Subcommands:
    """Each command's summary is also its own help's description, and its defaults are shown."""

    def __init__(self, action: argparse._SubParsersAction) -> None:
        self._action = action

    def add_parser(self, name: str, *, help: str) -> argparse.ArgumentParser:
        return self._action.add_parser(name, help=help, description=help, formatter_class=DefaultsShown)


def main(argv: list[str] | None = None) -> int:
    """Run as a program (``argv`` None), it first reads the working directory's ``.env``, as the
    ``dagster`` and ``dg`` commands do, so that all use the repository's instance."""
    if argv is None:
        from dotenv import dotenv_values  # Dagster's own reader of .env files

        export(dotenv_values(Path.cwd() / ".env"))  # its ${NAME:-default} keeps a value already set
    parser = argparse.ArgumentParser(prog="trade-platform", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('trade-platform')}")
    subcommands = Subcommands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    try:
        current = Settings.from_env()
    except ValueError as exc:  # a variable set wrong: one line naming it, no traceback
        print(f"trade-platform: {exc}", file=sys.stderr)
        return 2
    for command in COMMANDS:
        subparser = command.add_parser(subcommands, current)
        subparser.set_defaults(run=command.run, subparser=subparser)
    args = parser.parse_args(argv)
    try:
        return args.run(args.subparser, args, current)
    except (NoInstanceError, StorageError) as exc:  # what the user can fix: one line, no traceback
        print(f"trade-platform {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
