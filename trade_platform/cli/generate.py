"""``trade-platform generate``: write synthetic trades into the landing zone."""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from trade_platform.settings import LANDING_URL_ENV, START_DATE_ENV, Settings


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    return add_day_arguments(
        commands.add_parser("generate", help="write synthetic trades into the landing zone"), current
    )


def add_day_arguments(command: argparse.ArgumentParser, current: Settings) -> argparse.ArgumentParser:
    """The days and the shape of the generated trades (``generate`` and ``demo``)."""
    yesterday = date.today() - timedelta(days=1)
    command.add_argument(
        "--end", type=date.fromisoformat, default=yesterday, help="last day (UTC, YYYY-MM-DD): yesterday"
    )
    command.add_argument("--days", type=int, default=7, help="number of days ending at --end")
    command.add_argument("--trades-per-day", type=int, default=20_000, help="records generated per day")
    command.add_argument("--symbols", type=int, default=8, help="distinct symbols traded")
    command.add_argument(
        "--bad-fraction", type=float, default=0.01, help="share of records made bad (every DLQ code's kind)"
    )
    command.add_argument(
        "--seed", type=int, default=42, help="random seed: the same seed gives the same files"
    )
    command.add_argument(
        "--landing", default=current.landing_url, help=f"landing URL (env {LANDING_URL_ENV})"
    )
    return command


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    generate_days(chosen_days(parser, args, current), args)
    return 0


def chosen_days(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> list[date]:
    if args.days < 1:
        parser.error("--days must be at least 1")
    days = [args.end - timedelta(days=offset) for offset in reversed(range(args.days))]
    if days[0] < current.start_date:
        parser.error(f"--end/--days reach before {START_DATE_ENV}={current.start_date}")
    return days


def generate_days(days: list[date], args: argparse.Namespace) -> None:
    from trade_platform.core.generate import generate_day, write_day

    for index, day in enumerate(days, start=1):
        generated = generate_day(
            day, args.trades_per_day, seed=args.seed, n_symbols=args.symbols, bad_fraction=args.bad_fraction
        )
        # Every third day also receives a corrupt file, so unreadable_file shows up too.
        files = write_day(generated, args.landing, corrupt_file=index % 3 == 0)
        print(
            f"generate [{index}/{len(days)}] {day}: {generated.records.height} records in {len(files)} files",
            flush=True,
        )
