"""``trade-platform trace TRADE_ID``: every record with that trade_id, from its landing file row
or Kafka offset to the candles and daily-volume row it is counted in (``core.trace``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from typing import Any

from trade_platform.core.trace import TracedRecord, TraceError, trace
from trade_platform.settings import LAKE_URL_ENV, LANDING_URL_ENV, Settings

NOT_FOUND = 1
REPLAY_JOB = "replay_dlq"


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "trace",
        help="follow a trade_id: its source, raw values, validation or DLQ codes, corrections, "
        "replays, candles and daily volume",
    )
    parser.add_argument("trade_id", help="the trade_id as received or as validated")
    parser.add_argument(
        "--date", type=date.fromisoformat, help="the partition day (UTC): reads that day's files only"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--lake", default=current.lake_url, help=f"lake URL (env {LAKE_URL_ENV})")
    parser.add_argument(
        "--landing", default=current.landing_url, help=f"landing URL, for corrections (env {LANDING_URL_ENV})"
    )
    return parser


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    lake = args.lake
    if current.table_format == "iceberg":
        from trade_platform.core.iceberg.catalog import IcebergTables  # pyiceberg: Iceberg lakes only

        lake = IcebergTables(args.lake, current.iceberg.catalog, current.iceberg.namespace)
    try:
        records = trace(lake, args.landing, args.trade_id, args.date)
    except TraceError as exc:
        print(f"trace: {exc}", file=sys.stderr)
        return 2
    replays = replay_runs(sorted({record.day for record in records}))
    if args.json:
        print(json.dumps(as_json(args.trade_id, records, replays), indent=2, default=str))
    else:
        print(as_text(args.trade_id, args.date, records, replays))
    return 0 if records else NOT_FOUND


def replay_runs(days: list[date]) -> dict[str, list[dict[str, str]]] | None:
    """The ``replay_dlq`` runs of each day on the instance of ``DAGSTER_HOME`` (None: no instance)."""
    if not days or not os.environ.get("DAGSTER_HOME"):
        return None
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.get() as instance:
        return {
            day.isoformat(): [
                {"run_id": run.run_id, "status": run.status.value}
                for run in instance.get_runs(
                    RunsFilter(job_name=REPLAY_JOB, tags={"dagster/partition": day.isoformat()})
                )
            ]
            for day in days
        }


def as_json(trade_id: str, records: list[TracedRecord], replays) -> dict[str, Any]:
    return {
        "trade_id": trade_id,
        "records": [
            {
                "date": record.day,
                "source": {"file": record.source_file, "row": record.source_row, "kafka": record.kafka},
                "raw": record.raw,
                "outcome": record.outcome,
                "validated": record.validated,
                "dead_letter": record.dead_letter,
                "corrections": record.corrections,
                "replays": None if replays is None else replays.get(record.day.isoformat(), []),
                "candles": record.candles,
                "daily_volume": record.daily_volume,
            }
            for record in records
        ],
    }


def as_text(trade_id: str, day: date | None, records: list[TracedRecord], replays) -> str:
    if not records:
        return f"no record with trade_id {trade_id!r} in the lake" + (f" on {day}" if day else "")
    lines = [f"{len(records)} record(s) with trade_id {trade_id!r}"]
    for number, record in enumerate(records, start=1):
        lines += ["", f"[{number}] {record.day}  {record.outcome.upper()}"]
        source = f"{record.source_file} row {record.source_row}"
        if record.kafka:
            source += "  (Kafka " + ", ".join(f"{k} {v}" for k, v in record.kafka.items()) + ")"
        lines.append(f"  source     {source}")
        lines.append("  raw        " + _fields(record.raw))
        if record.validated is not None:
            lines.append("  validated  " + _fields(record.validated))
        if record.dead_letter is not None:
            dlq = record.dead_letter
            lines.append(f"  DLQ codes  {', '.join(dlq['error_codes'])}")
            lines.append(f"  reasons    {dlq['error']}")
            lines.append(f"  rejected   by run {dlq['run_id']} at {dlq['rejected_at']}")
        for correction in record.corrections:
            lines.append(f"  correction {_fields(correction)}")
        if replays is not None:
            runs = replays.get(record.day.isoformat(), [])
            lines.append(
                "  replays    " + (", ".join(f"{r['run_id']} ({r['status']})" for r in runs) or "none")
            )
        for candle in record.candles:
            lines.append(f"  candle     {_fields(candle)}")
        if record.daily_volume is not None:
            lines.append(f"  volume     {_fields(record.daily_volume)}")
    return "\n".join(lines)


def _fields(row: dict[str, Any] | None) -> str:
    if row is None:
        return "(none)"
    return "  ".join(f"{name}={value}" for name, value in row.items() if value is not None)
