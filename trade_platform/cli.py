"""``trade-platform``: generate synthetic landing data and run the demo pipeline."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta

from trade_platform import settings
from trade_platform.core.names import TRADES_DLQ

# Step-level progress only; the full event stream is in the UI.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trade-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    current = settings.Settings.from_env()
    yesterday = date.today() - timedelta(days=1)

    generate = commands.add_parser("generate", help="write synthetic trades into the landing zone")
    demo = commands.add_parser("demo", help="generate days of trades and materialize them through Dagster")
    for command in (generate, demo):
        command.add_argument(
            "--end", type=date.fromisoformat, default=yesterday, help="last day (UTC), default yesterday"
        )
        command.add_argument("--days", type=int, default=7, help="number of days ending at --end (default 7)")
        command.add_argument("--trades-per-day", type=int, default=20_000)
        command.add_argument("--symbols", type=int, default=8)
        command.add_argument("--bad-fraction", type=float, default=0.01)
        command.add_argument("--seed", type=int, default=42)
        command.add_argument(
            "--landing", default=current.landing_url, help=f"landing URL (env {settings.LANDING_URL_ENV})"
        )
    worker = commands.add_parser(
        "worker",
        help="start a Celery run worker (dagster-celery): one run at a time, a fresh process per run",
    )
    worker.add_argument("--name", required=True, help="recorded on each run it runs as trade_platform/worker")
    worker.add_argument("--queue", default="dagster", help="Celery queue to take runs from (default dagster)")
    worker.add_argument("--loglevel", default="INFO")
    backfill = commands.add_parser(
        "backfill", help="submit a backfill of every asset over a range of days to the instance's daemon"
    )
    backfill.add_argument(
        "--from", dest="first", type=date.fromisoformat, required=True, help="first day (UTC)"
    )
    backfill.add_argument("--to", dest="last", type=date.fromisoformat, required=True, help="last day (UTC)")
    backfill.add_argument("--wait", action="store_true", help="follow the runs until the backfill finishes")
    stream = commands.add_parser(
        "stream",
        help=f"consume the Kafka topic ({settings.KAFKA_TOPIC_ENV}) into the landing zone until SIGTERM",
    )
    stream.add_argument(
        "--landing", default=current.landing_url, help=f"landing URL (env {settings.LANDING_URL_ENV})"
    )
    sql = commands.add_parser(
        "sql", help="query the lake's tables with SQL (polars): one statement, or an interactive prompt"
    )
    sql.add_argument("query", nargs="?", help="statements to run; without it, a prompt (or stdin's)")
    sql.add_argument("--csv", action="store_true", help="print results as CSV instead of a table")
    sql.add_argument("--lake", default=current.lake_url, help=f"lake URL (env {settings.LAKE_URL_ENV})")
    sql.add_argument("--max-rows", type=int, default=50, help="rows shown of a result table (default 50)")
    args = parser.parse_args(argv)
    if args.command == "sql":
        return query_lake(parser, args)
    if args.command in ("worker", "backfill"):
        return scaleout(parser, args, current)
    if args.command == "stream":
        from trade_platform.streaming.commands import run_stream

        return run_stream(current, args.landing)
    if args.days < 1:
        parser.error("--days must be at least 1")
    days = [args.end - timedelta(days=offset) for offset in reversed(range(args.days))]
    if days[0] < current.start_date:
        parser.error(f"--end/--days reach before {settings.START_DATE_ENV}={current.start_date}")
    generate_days(days, args)
    if args.command == "demo":
        return run_demo(days, current)
    return 0


def quiet_dagster() -> None:
    """The versions are pinned; a user of the CLI has no use for Dagster's API-stability notes."""
    import warnings

    from dagster import BetaWarning, PreviewWarning

    for category in (BetaWarning, PreviewWarning):
        warnings.simplefilter("ignore", category)


def query_lake(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from trade_platform.core.sql_shell import Shell

    if args.max_rows < 1:
        parser.error("--max-rows must be at least 1")
    shell = Shell(args.lake, csv=args.csv, max_rows=args.max_rows)
    return shell.prompt(sys.stdin) if args.query is None else shell.one_shot(args.query)


def scaleout(parser: argparse.ArgumentParser, args: argparse.Namespace, current: settings.Settings) -> int:
    from trade_platform.scaleout.commands import run_backfill, run_worker

    quiet_dagster()
    try:
        if args.command == "worker":
            return run_worker(args.name, args.queue, args.loglevel, current)
        return run_backfill(args.first, args.last, args.wait, current)
    except (ValueError, ConnectionError) as exc:
        parser.error(str(exc))


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


def run_demo(days: list[date], current: settings.Settings) -> int:
    """Materialize every asset and check, one run per day, on the persistent instance."""
    from dataclasses import replace

    from dagster import DagsterInstance

    from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
    from trade_platform.definitions import build_defs

    quiet_dagster()
    if current.pii_key is None:  # the generated trades carry account_id and trader_id
        current = replace(current, pii_key=PiiKey(DEVELOPMENT_KEY))
        print(
            f"PII key: {settings.PII_KEY_ENV} and {settings.PII_KEY_FILE_ENV} are not set, so the demo "
            "pseudonymises account_id and trader_id with the built-in development key (never for real data)",
            flush=True,
        )

    job = build_defs(current).resolve_implicit_global_asset_job_def()
    instance = DagsterInstance.get()
    failures = 0
    summaries = []
    for index, day in enumerate(days, start=1):
        started = time.monotonic()
        result = job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False, run_config=QUIET_RUN
        )
        seconds = time.monotonic() - started
        status = "ok" if result.success else "FAILED"
        failures += not result.success
        print(
            f"materialize [{index}/{len(days)}] {day}: {status} in {seconds:.1f}s (run {result.run_id[:8]})",
            flush=True,
        )
        summaries.append((day, result))
    print()
    for day, result in summaries:
        print(format_summary(day, result))
    freshness = sorted(
        f"{e.asset_key.to_user_string()} {'fresh' if e.passed else 'STALE'}"
        for e in summaries[-1][1].get_asset_check_evaluations()
        if e.check_name == "freshness"
    )
    print("freshness (yesterday's partition by the deadline): " + ", ".join(freshness))
    return 1 if failures else 0


def format_summary(day: date, result) -> str:
    """Rows, DLQ by code and every check result of one partition's run."""
    split = next(
        (
            event.event_specific_data.materialization.metadata
            for event in result.get_asset_materialization_events()
            if event.asset_key.to_user_string() == TRADES_DLQ
        ),
        {},
    )

    def value(key: str):
        return split[key].value if key in split else "?"

    by_code = value("dlq_by_code") if "dlq_by_code" in split else {}
    # Freshness judges yesterday's partition whatever day ran; it is printed once, at the end.
    checks = sorted(
        (
            f"{e.asset_key.to_user_string()}.{e.check_name}",
            "PASS" if e.passed else f"FAIL ({e.severity.value})",
        )
        for e in result.get_asset_check_evaluations()
        if e.check_name != "freshness"
    )
    return "\n".join(
        [
            f"{day}  raw {value('raw_rows')}  validated {value('validated_rows')}  DLQ {value('dlq_rows')}",
            "  DLQ by code: " + (", ".join(f"{code}={count}" for code, count in by_code.items()) or "none"),
            "  checks: " + ", ".join(f"{name} {status}" for name, status in checks),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
