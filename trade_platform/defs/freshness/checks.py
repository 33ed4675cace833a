"""Partition-aware freshness: yesterday's partition must exist by a deadline (default 02:00 UTC).

A plain ``FreshnessPolicy`` looks at the last materialization of any partition, so a backfill of
an old day would make a stale asset look fresh. Here the check asks for one partition by key:
once the deadline of day D+1 has passed, partition D must be materialized. The sensor evaluates
the checks once after each deadline; every run that materializes the assets evaluates them too.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    multi_asset_check,
)

from trade_platform.core.names import DAILY_VOLUME, OHLCV, VALIDATED_TRADES

FRESH_ASSETS = (VALIDATED_TRADES, OHLCV, DAILY_VOLUME)
RECENT_DAYS = 7
# The key Dagster's own freshness sensor reads; kept so either sensor can drive these checks.
FRESH_UNTIL_KEY = "dagster/fresh_until_timestamp"


def expected_partition(now: datetime, deadline: time) -> tuple[str, datetime]:
    """The day that must be materialized at ``now``, and the deadline it was due by.

    Day D is due at ``deadline`` on day D+1 (UTC); before today's deadline, the day before
    yesterday is the newest day that is due.
    """
    now = now.astimezone(UTC)
    due = datetime.combine(now.date(), deadline, tzinfo=UTC)
    if now < due:
        due -= timedelta(days=1)
    return (due.date() - timedelta(days=1)).isoformat(), due


def build_freshness_checks(
    deadline: time, first_day: date, assets: Sequence[str] = FRESH_ASSETS
) -> AssetChecksDefinition:
    """The ``freshness`` check of each asset; no partition is due before ``first_day``."""

    @multi_asset_check(
        name="freshness",
        specs=[
            AssetCheckSpec(
                "freshness",
                asset=asset,
                description=f"Yesterday's partition is materialized after the day ended, by "
                f"{deadline:%H:%M} UTC (a run while the day was open, or of older days, does not count).",
                metadata={"deadline_utc": f"{deadline:%H:%M}"},
            )
            for asset in assets
        ],
        can_subset=True,
    )
    def freshness(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        now = datetime.now(UTC)
        for check_key in context.selected_asset_check_keys:
            yield judge_freshness(context.instance, check_key.asset_key, now, deadline, first_day)

    return freshness


def judge_freshness(
    instance, asset_key: AssetKey, now: datetime, deadline: time, start: date
) -> AssetCheckResult:
    key, due = expected_partition(now, deadline)
    next_due = due + timedelta(days=1)
    if date.fromisoformat(key) < start:
        return AssetCheckResult(
            asset_key=asset_key,
            passed=True,
            description=f"no partition is due yet (partitions start {start})",
            metadata={FRESH_UNTIL_KEY: MetadataValue.timestamp(next_due.timestamp())},
        )
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    recent = [(date.fromisoformat(key) - timedelta(days=n)).isoformat() for n in range(RECENT_DAYS)]
    recent = [day for day in recent if date.fromisoformat(day) >= start]
    materialized = instance.get_materialized_partitions(asset_key)
    metadata = {
        "expected_partition": key,
        "deadline": MetadataValue.timestamp(due.timestamp()),
        "latest_materialized_partition": max(materialized) if materialized else "none",
        f"missing_in_last_{RECENT_DAYS}_days": [day for day in recent if day not in materialized],
    }
    # Today is a partition too: a run while the day was open does not make it fresh.
    day_over = datetime.combine(date.fromisoformat(key) + timedelta(days=1), time(0), UTC).timestamp()
    closed = [r for r in records if r.timestamp >= day_over]
    if closed:
        metadata["materialized_at"] = MetadataValue.timestamp(closed[0].timestamp)
        metadata[FRESH_UNTIL_KEY] = MetadataValue.timestamp(next_due.timestamp())
        description = f"partition {key} is materialized (due {due:%Y-%m-%d %H:%M} UTC)"
    elif records:
        metadata["materialized_at"] = MetadataValue.timestamp(records[0].timestamp)
        description = (
            f"partition {key} was last materialized while the day was open, not since it ended "
            f"(due {due:%Y-%m-%d %H:%M} UTC)"
        )
    else:
        overdue = now - due
        metadata["overdue_by"] = str(overdue - timedelta(microseconds=overdue.microseconds))
        description = f"partition {key} was due by {due:%Y-%m-%d %H:%M} UTC and is not materialized"
    return AssetCheckResult(
        asset_key=asset_key, passed=bool(closed), description=description, metadata=metadata
    )
