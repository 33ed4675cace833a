"""``trade-platform demo``: generate days of trades and materialize them through Dagster, one run
of ``trades_daily_job`` per day on the persistent instance, then print what each day did.

The demo's first day becomes the partitions' start date (``TRADE_PLATFORM_START_DATE`` in the
``.env`` file that Dagster's CLIs read from the directory they start in), so ``make ui`` shows the
demo's days as the whole range of every asset's partitions, and the runs are created from the
code location of ``workspace.yaml``, as the UI creates them (``lib/workspace_runs.py``)."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from trade_platform.cli.dotenv_file import set_defaults
from trade_platform.cli.generate import add_day_arguments, chosen_days, generate_days
from trade_platform.core.names import TRADES_DLQ
from trade_platform.settings import LANDING_URL_ENV, PII_KEY_ENV, PII_KEY_FILE_ENV, START_DATE_ENV, Settings

# Step-level progress only; the full event stream is in the UI.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
DEMO_JOB = "trades_daily_job"


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    command = add_day_arguments(
        commands.add_parser("demo", help="generate days of trades and materialize them through Dagster"),
        current,
    )
    command.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        help=f"where the demo writes {START_DATE_ENV} (its first day, unless the shell sets one), "
        "keeping the file's other lines: the .env that dagster CLIs read from the directory they start in",
    )
    return command


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    # The demo's first day becomes the start date, so it may lie before the current one.
    days = chosen_days(parser, args, replace(current, start_date=date.min))
    generate_days(days, args)
    set_defaults(args.env_file, {START_DATE_ENV: days[0].isoformat()}, replace_plain=True)
    print(
        f"{START_DATE_ENV}={days[0]} written to {args.env_file}: the partitions start at the demo's first day"
    )
    return run_demo(days, replace(current, landing_url=args.landing, start_date=days[0]))


def run_demo(days: list[date], current: Settings) -> int:
    """Materialize every asset and check, one run of ``trades_daily_job`` per day, on the
    persistent instance; the code location it loads reads ``current``'s landing zone, start date
    and PII key from this process's environment."""
    from dagster import DagsterRunStatus

    from trade_platform.cli.instance import instance_of_dagster_home
    from trade_platform.core.pseudonymise import DEVELOPMENT_KEY
    from trade_platform.lib.workspace_runs import workspace_jobs
    from trade_platform.settings import export

    variables = {LANDING_URL_ENV: current.landing_url, START_DATE_ENV: current.start_date.isoformat()}
    if current.pii_key is None:  # the generated trades carry account_id and trader_id
        variables[PII_KEY_ENV] = DEVELOPMENT_KEY.decode()
        print(
            f"PII key: {PII_KEY_ENV} and {PII_KEY_FILE_ENV} are not set, so the demo "
            "pseudonymises account_id and trader_id with the built-in development key (never for real data)",
            flush=True,
        )
    export(variables)

    instance = instance_of_dagster_home()
    summaries = []
    with workspace_jobs(instance) as jobs:
        for index, day in enumerate(days, start=1):
            started = time.monotonic()
            run = jobs.run(DEMO_JOB, tags={"dagster/partition": day.isoformat()}, run_config=QUIET_RUN)
            ok = run.status == DagsterRunStatus.SUCCESS
            print(
                f"materialize [{index}/{len(days)}] {day}: {'ok' if ok else 'FAILED'} "
                f"in {time.monotonic() - started:.1f}s (run {run.run_id[:8]})",
                flush=True,
            )
            summaries.append((day, ok, RunFacts.read(instance, run.run_id)))
    print()
    for day, _, facts in summaries:
        print(format_summary(day, facts))
    freshness = sorted(
        f"{asset} {'fresh' if passed else 'STALE'}"
        for asset, check, passed, _ in summaries[-1][2].evaluations
        if check == "freshness"
    )
    print("freshness (yesterday's partition by the deadline): " + ", ".join(freshness))
    return 0 if all(ok for _, ok, _ in summaries) else 1


@dataclass(frozen=True)
class RunFacts:
    """What the summary prints of one run, read from the instance's event log."""

    dlq_metadata: dict
    evaluations: list[tuple[str, str, bool, str]]  # (asset, check, passed, severity)

    @classmethod
    def read(cls, instance, run_id: str) -> RunFacts:
        from dagster import DagsterEventType

        dlq_metadata, evaluations = {}, []
        kinds = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
        for entry in instance.all_logs(run_id, of_type=kinds):
            event = entry.dagster_event
            data = event.event_specific_data
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                if event.asset_key.to_user_string() == TRADES_DLQ:
                    dlq_metadata = {key: value.value for key, value in data.materialization.metadata.items()}
            else:
                asset = data.asset_key.to_user_string()
                evaluations.append((asset, data.check_name, data.passed, data.severity.value))
        return cls(dlq_metadata, evaluations)


def format_summary(day: date, facts: RunFacts) -> str:
    """Rows, DLQ by code and every check result of one partition's run."""
    split = facts.dlq_metadata
    by_code = Counter(split.get("dlq_by_code") or {})  # the event log stores the codes sorted by name
    # Freshness judges yesterday's partition whatever day ran; it is printed once, at the end.
    checks = sorted(
        (f"{asset}.{check}", "PASS" if passed else f"FAIL ({severity})")
        for asset, check, passed, severity in facts.evaluations
        if check != "freshness"
    )
    return "\n".join(
        [
            f"{day}  raw {split.get('raw_rows', '?')}  validated {split.get('validated_rows', '?')}  "
            f"DLQ {split.get('dlq_rows', '?')}",
            "  DLQ by code: "
            + (", ".join(f"{code}={count}" for code, count in by_code.most_common()) or "none"),
            "  checks: " + ", ".join(f"{name} {status}" for name, status in checks),
        ]
    )
