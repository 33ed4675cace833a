"""``trade-platform``: generate synthetic landing data, run the demo pipeline, query the lake, and
run the scale-out and streaming processes."""

# One module of this package per command: add_parser() declares it, run() carries it out.

from __future__ import annotations

import argparse
import sys

from trade_platform.cli import backfill, demo, generate, sql, stream, trace, worker
from trade_platform.settings import Settings

COMMANDS = (generate, demo, worker, backfill, stream, sql, trace)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trade-platform", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    current = Settings.from_env()
    for command in COMMANDS:
        subparser = command.add_parser(subcommands, current)
        subparser.set_defaults(run=command.run, subparser=subparser)
    args = parser.parse_args(argv)
    return args.run(args.subparser, args, current)


if __name__ == "__main__":
    sys.exit(main())
