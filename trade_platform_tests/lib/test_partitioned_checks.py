"""``evaluate_per_partition`` and ``latest_materializations`` through a tiny partitioned asset and
its check, materialized with ``dg.materialize`` on a real (SQLite) instance."""

from collections.abc import Callable

import dagster as dg
import polars as pl
import pytest

from trade_platform.lib import partitioned_checks
from trade_platform.lib.partitioned_checks import Verdict, evaluate_per_partition, latest_materializations
from trade_platform_tests.lib.test_io_manager import DAYS, EMPTY_DAY, PARTITIONS, RANGE, prices_asset

PRICES = dg.AssetKey("prices")


def rows_check(
    judge: Callable[[str, int], Verdict] | None = None, *, blocking: bool = False
) -> dg.AssetChecksDefinition:
    """``prices:has_rows``: each day's verdict from its row count (by default: passed if any)."""

    def has_rows_verdict(day: str, rows: int) -> Verdict:
        return Verdict(passed=rows > 0, description=f"{rows} rows", metadata={"rows": rows})

    @dg.asset_check(asset="prices", partitions_def=PARTITIONS, blocking=blocking)
    def has_rows(context, prices: pl.LazyFrame):
        per_day = prices.group_by("date").len().select(pl.col("date").cast(pl.String), "len").collect()
        counts = dict(per_day.iter_rows())
        yield from evaluate_per_partition(
            context, lambda day: (judge or has_rows_verdict)(day, counts.get(day, 0))
        )

    return has_rows


def by_partition(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    evaluations = result.get_asset_check_evaluations()
    assert len({e.partition for e in evaluations}) == len(evaluations)  # one per partition
    return {e.partition: e for e in evaluations}


def materialization_ids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """The storage id of each partition's materialization of ``prices`` by the run."""
    records = instance.fetch_materializations(PRICES, limit=100).records
    return {r.partition_key: r.storage_id for r in records if r.run_id == run_id}


def test_a_range_run_records_one_evaluation_per_partition_naming_its_materialization(materialize, instance):
    result = materialize([prices_asset(), rows_check()], tags=RANGE)
    evaluations = by_partition(result)
    assert sorted(evaluations) == list(DAYS)
    assert {day: (e.passed, e.description, e.metadata["rows"].value) for day, e in evaluations.items()} == {
        "2026-11-18": (True, "2 rows", 2),
        EMPTY_DAY: (False, "0 rows", 0),
        "2026-11-20": (True, "3 rows", 3),
    }
    materialized = materialization_ids(instance, result.run_id)
    for day, evaluation in evaluations.items():
        target = evaluation.target_materialization_data
        assert (target.run_id, target.storage_id) == (result.run_id, materialized[day])
        assert (evaluation.asset_key, evaluation.check_name) == (PRICES, "has_rows")


def test_each_evaluation_carries_its_verdicts_severity(materialize):
    def warn_on_empty_days(day: str, rows: int) -> Verdict:
        severity = dg.AssetCheckSeverity.WARN if rows == 0 else dg.AssetCheckSeverity.ERROR
        return Verdict(passed=rows > 0, description="", severity=severity)

    result = materialize([prices_asset(), rows_check(warn_on_empty_days)], tags=RANGE)
    assert {day: e.severity for day, e in by_partition(result).items()} == {
        "2026-11-18": dg.AssetCheckSeverity.ERROR,
        EMPTY_DAY: dg.AssetCheckSeverity.WARN,
        "2026-11-20": dg.AssetCheckSeverity.ERROR,
    }
    assert result.success  # a failed evaluation records a verdict; it does not fail the step


def test_a_check_run_alone_names_the_latest_materialization_of_each_partition(materialize, instance):
    whole_range = materialize([prices_asset()], tags=RANGE)
    last_day_again = materialize([prices_asset()], partition=DAYS[-1])
    result = materialize(
        [prices_asset(), rows_check()], tags=RANGE, selection=dg.AssetSelection.all_asset_checks()
    )
    targets = {day: e.target_materialization_data.run_id for day, e in by_partition(result).items()}
    assert targets == {
        DAYS[0]: whole_range.run_id,
        DAYS[1]: whole_range.run_id,
        DAYS[2]: last_day_again.run_id,
    }


def test_a_failed_blocking_evaluation_of_any_partition_stops_downstream_assets(materialize):
    @dg.asset(partitions_def=PARTITIONS, deps=["prices"])
    def downstream() -> None:
        raise AssertionError("a blocking check failed upstream: this must not run")

    result = materialize(
        [prices_asset(), rows_check(blocking=True), downstream], tags=RANGE, raise_on_error=False
    )
    evaluations = by_partition(result)
    assert all(e.blocking for e in evaluations.values())
    assert not evaluations[EMPTY_DAY].passed
    [failure] = result.get_step_failure_events()  # the check's step, not downstream: it never ran
    assert failure.step_key == "prices_has_rows"
    assert "blocking asset check failed" in failure.step_failure_data.error.message
    assert result.asset_materializations_for_node("downstream") == []


def test_latest_materializations_reads_the_newest_per_partition_across_pages(instance, monkeypatch):
    """Newer materializations of one day fill the first pages; the other day's is still found."""
    monkeypatch.setattr(partitioned_checks, "MATERIALIZATIONS_PAGE", 1)
    for day in (DAYS[0], DAYS[2], DAYS[2], DAYS[2]):
        instance.report_runless_asset_event(dg.AssetMaterialization(PRICES, partition=day))
    records = instance.fetch_materializations(PRICES, limit=10).records  # newest first
    newest = {
        day: next(r.storage_id for r in records if r.partition_key == day) for day in (DAYS[0], DAYS[2])
    }
    context = dg.build_asset_context(instance=instance)
    latest = latest_materializations(context, PRICES, [DAYS[0], DAYS[1], DAYS[2]])
    assert {day: record.storage_id for day, record in latest.items()} == newest  # none for DAYS[1]


@pytest.mark.parametrize("keys", [[], [DAYS[1]]])
def test_latest_materializations_of_days_never_materialized_is_empty(instance, keys):
    context = dg.build_asset_context(instance=instance)
    assert latest_materializations(context, PRICES, keys) == {}
