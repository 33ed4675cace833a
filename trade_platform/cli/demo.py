"""``trade-platform demo``: generate days of trades and materialize them through Dagster, one run
per day on the persistent instance, then print what each day did."""

from __future__ import annotations

import argparse
import time
from datetime import date

from trade_platform.cli.generate import add_day_arguments, chosen_days, generate_days
from trade_platform.core.names import TRADES_DLQ
from trade_platform.settings import PII_KEY_ENV, PII_KEY_FILE_ENV, Settings

# Step-level progress only; the full event stream is in the UI.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    return add_day_arguments(
        commands.add_parser("demo", help="generate days of trades and materialize them through Dagster"),
        current,
    )


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    days = chosen_days(parser, args, current)
    generate_days(days, args)
    return run_demo(days, current)


def run_demo(days: list[date], current: Settings) -> int:
    """Materialize every asset and check, one run per day, on the persistent instance."""
    from dataclasses import replace

    from trade_platform.cli.instance import instance_of_dagster_home
    from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
    from trade_platform.definitions import build_defs

    if current.pii_key is None:  # the generated trades carry account_id and trader_id
        current = replace(current, pii_key=PiiKey(DEVELOPMENT_KEY))
        print(
            f"PII key: {PII_KEY_ENV} and {PII_KEY_FILE_ENV} are not set, so the demo "
            "pseudonymises account_id and trader_id with the built-in development key (never for real data)",
            flush=True,
        )

    job = build_defs(current).resolve_implicit_global_asset_job_def()
    instance = instance_of_dagster_home()
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
