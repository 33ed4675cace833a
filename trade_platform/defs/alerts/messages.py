"""The alert of a failed run and of a failed check evaluation: which kind, what, which partition,
why, and the page of the UI that shows it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from dagster import AssetCheckEvaluation, DagsterEvent, DagsterRun, TimestampMetadataValue

from trade_platform.core.alerts.messages import (
    CHECK_FAILED,
    DLQ_RATE_ABOVE_ERROR_GATE,
    FRESHNESS_VIOLATION,
    RUN_FAILED,
    Alert,
)

# The checks whose failures have a kind of their own: ``freshness`` (defs/freshness/checks.py)
# and ``dlq_rate`` (defs/ingest/checks.py), which fails at ERROR above the DLQ error gate.
CHECK_KINDS = {"freshness": FRESHNESS_VIOLATION, "dlq_rate": DLQ_RATE_ABOVE_ERROR_GATE}
EXPECTED_PARTITION = "expected_partition"
"""The freshness check's metadata entry: the day it found missing (the check is not partitioned)."""


def run_partition(tags: Mapping[str, str]) -> str | None:
    """The run's partition, or its range ``first...last``, from Dagster's run tags."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    if start and end:
        return start if start == end else f"{start}...{end}"
    return None


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url}/runs/{run_id}"


def run_alert(run: DagsterRun, steps_failed: list[DagsterEvent], why: str | None, ui_url: str) -> Alert:
    """A failed run: the job, the run's reason and each failed step's error."""
    details = [why] if why else []
    details += [
        f"step {event.step_key}: {event.step_failure_data.error.message}"
        for event in steps_failed
        if event.step_failure_data.error
    ]
    return Alert(
        kind=RUN_FAILED,
        subject=f"job {run.job_name}, run {run.run_id}",
        partition=run_partition(run.tags),
        link=run_link(ui_url, run.run_id),
        details=details,
    )


def check_alert(
    evaluation: AssetCheckEvaluation, run_id: str, run_tags: Mapping[str, str], ui_url: str
) -> Alert:
    """A failed check evaluation: the asset and check, its description and metadata, and links
    to the check's page and to the run that evaluated it."""
    asset = evaluation.asset_key
    metadata = evaluation.metadata
    partition = evaluation.partition or _text(metadata.get(EXPECTED_PARTITION)) or run_partition(run_tags)
    path = "/".join(quote(part, safe="") for part in asset.path)
    query = urlencode({"view": "checks", "checkDetail": evaluation.check_name})
    details = [evaluation.description] if evaluation.description else []
    details += [f"{name}: {_text(value)}" for name, value in metadata.items()]
    if run_id:
        details.append(f"run: {run_link(ui_url, run_id)}")
    return Alert(
        kind=CHECK_KINDS.get(evaluation.check_name, CHECK_FAILED),
        subject=f"{asset.to_user_string()} check {evaluation.check_name} ({evaluation.severity.value})",
        partition=partition,
        link=f"{ui_url}/assets/{path}?{query}",
        details=details,
    )


def _text(value) -> str | None:
    """A metadata value as a person reads it (a timestamp in UTC)."""
    if value is None:
        return None
    if isinstance(value, TimestampMetadataValue):
        return datetime.fromtimestamp(value.value, UTC).isoformat(timespec="seconds")
    return str(getattr(value, "value", value))
