"""The lake's I/O manager through ``dg.materialize``: tiny daily-partitioned assets, the
platform's real resources, a lake on disk and a real (SQLite) Dagster instance."""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from trade_platform.lib import io_manager
from trade_platform.lib.dagster_types import frame_type
from trade_platform.lib.partitions import daily_partitions
from trade_platform_tests.lib.conftest import DEFAULT_PARTITION

PARTITIONS = daily_partitions(date(2026, 11, 1))
EMPTY_DAY = "2026-11-19"
DAYS = ("2026-11-18", EMPTY_DAY, DEFAULT_PARTITION)
"""A run's default partition is the last."""
RANGE = {
    "dagster/asset_partition_range_start": DAYS[0],
    "dagster/asset_partition_range_end": DAYS[-1],
}
SCHEMA = {"symbol": pl.String, "price": pl.Float64, "date": pl.Date}


class Prices(pa.DataFrameModel):
    """A tiny model: a price must be positive."""

    symbol: str = pa.Field(metadata={"classification": "public"})
    price: float = pa.Field(gt=0, metadata={"classification": "public"})
    date: pl.Date = pa.Field(metadata={"classification": "internal"})


PRICES_TYPE = frame_type(Prices)


def day_rows(day: str, price: float = 1.5) -> pl.DataFrame:
    """A few rows of ``day``: two on the 18th, none on ``EMPTY_DAY``, three on the 20th."""
    count = {"2026-11-18": 2, EMPTY_DAY: 0}.get(day, 3)
    rows = [(f"S{i}", price * (i + 1), date.fromisoformat(day)) for i in range(count)]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def prices_asset(
    rows: Callable[[str], pl.DataFrame] = day_rows, *, lazy: bool = False, before: Callable = lambda _: None
) -> dg.AssetsDefinition:
    """``prices``: the rows of each day of the run, as one DataFrame or one LazyFrame."""

    @dg.asset(partitions_def=PARTITIONS, dagster_type=PRICES_TYPE)
    def prices(context):
        before(context)
        frame = pl.concat([rows(day) for day in context.partition_keys])
        return frame.lazy() if lazy else frame

    return prices


def reader_asset(loaded: list[pl.DataFrame], **asset_in) -> dg.AssetsDefinition:
    """``seen``: keeps what the I/O manager loads of ``prices`` in ``loaded`` and writes the rows
    of its own days again."""

    @dg.asset(partitions_def=PARTITIONS, ins={"prices": dg.AssetIn(**asset_in)})
    def seen(context, prices: pl.LazyFrame) -> pl.DataFrame:
        assert isinstance(prices, pl.LazyFrame)
        loaded.append(prices.collect())
        own_days = [date.fromisoformat(key) for key in context.partition_keys]
        return loaded[-1].filter(pl.col("date").is_in(own_days))

    return seen


def files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_each_partition_is_one_parquet_file_in_hive_layout_without_the_date_column(materialize, lake):
    materialize([prices_asset()])
    assert files(lake) == ["prices/date=2026-11-20/part-0.parquet"]
    stored = pl.read_parquet(lake / "prices/date=2026-11-20/part-0.parquet")
    assert stored.equals(day_rows(DAYS[-1]).drop("date"))


def test_a_range_run_writes_each_day_and_an_empty_day_as_a_file_with_the_columns(materialize, lake):
    materialize([prices_asset()], tags=RANGE)
    assert files(lake) == [f"prices/date={day}/part-0.parquet" for day in DAYS]
    for day in DAYS:
        assert pl.read_parquet(lake / f"prices/date={day}/part-0.parquet").equals(day_rows(day).drop("date"))
    assert pl.read_parquet_schema(lake / f"prices/date={EMPTY_DAY}/part-0.parquet") == {
        "symbol": pl.String,
        "price": pl.Float64,
    }


def test_a_lazy_output_is_streamed_in_batches_a_partition_at_a_time(materialize, lake, monkeypatch):
    monkeypatch.setattr(io_manager, "STREAM_BATCH_ROWS", 2)  # the 20th's three rows are two batches
    materialize([prices_asset(lazy=True)], tags=RANGE)
    for day in DAYS:
        assert pl.read_parquet(lake / f"prices/date={day}/part-0.parquet").equals(day_rows(day).drop("date"))


def test_each_partition_records_its_row_count_and_path(materialize, lake):
    result = materialize([prices_asset()], tags=RANGE)
    recorded = {
        m.partition: (m.metadata["dagster/row_count"].value, m.metadata["path"].value)
        for m in result.asset_materializations_for_node("prices")
    }
    assert recorded == {
        day: (day_rows(day).height, str(lake / f"prices/date={day}/part-0.parquet")) for day in DAYS
    }


def test_materializing_again_replaces_the_file_atomically_with_the_same_content(materialize, lake):
    path = lake / "prices/date=2026-11-20/part-0.parquet"
    materialize([prices_asset()])
    before, inode = path.read_bytes(), path.stat().st_ino
    materialize([prices_asset()])
    assert path.read_bytes() == before
    assert path.stat().st_ino != inode  # a new file renamed into place, not the old one rewritten
    assert files(lake) == ["prices/date=2026-11-20/part-0.parquet"]  # no temporary file left


def test_a_write_removes_stale_parts_and_crashed_writes_but_not_a_write_in_progress(materialize, lake):
    folder = lake / "prices/date=2026-11-20"
    folder.mkdir(parents=True)
    (folder / "part-1.parquet").write_bytes(b"an older layout's part")
    (folder / ".part-0.parquet.crashed.tmp").write_bytes(b"a crashed write")
    in_progress = folder / ".part-0.parquet.writing.tmp"
    with in_progress.open("wb") as writing:
        fcntl.flock(writing, fcntl.LOCK_EX)  # as ``storage.staged_file`` holds it while it writes
        materialize([prices_asset(rows=lambda day: day_rows(day, price=2.0))])
    assert files(folder) == [".part-0.parquet.writing.tmp", "part-0.parquet"]
    assert pl.read_parquet(folder / "part-0.parquet")["price"].to_list() == [2.0, 4.0, 6.0]


def test_a_downstream_asset_reads_its_partition_with_the_date_from_the_path(materialize):
    loaded: list[pl.DataFrame] = []
    materialize([prices_asset(), reader_asset(loaded)])
    assert loaded[0].equals(day_rows(DAYS[-1]))


def test_a_downstream_range_run_reads_every_partition_as_one_scan(materialize, lake):
    materialize([prices_asset()], tags=RANGE)
    loaded: list[pl.DataFrame] = []
    materialize([prices_asset(), reader_asset(loaded)], selection=["seen"], tags=RANGE)
    assert loaded[0].sort("date", "symbol").equals(pl.concat([day_rows(day) for day in DAYS]))
    assert files(lake / "seen") == [f"date={day}/part-0.parquet" for day in DAYS]


def test_a_single_partition_run_reads_the_upstream_days_its_partition_mapping_names(materialize):
    materialize([prices_asset()], tags=RANGE)
    loaded: list[pl.DataFrame] = []
    three_days = dg.TimeWindowPartitionMapping(start_offset=-2)
    materialize([prices_asset(), reader_asset(loaded, partition_mapping=three_days)], selection=["seen"])
    assert loaded[0].sort("date", "symbol").equals(pl.concat([day_rows(day) for day in DAYS]))


def test_a_missing_upstream_partition_fails_the_read_and_names_it(materialize, lake):
    materialize([prices_asset()])
    loaded: list[pl.DataFrame] = []
    two_days = dg.TimeWindowPartitionMapping(start_offset=-1)
    result = materialize(
        [prices_asset(), reader_asset(loaded, partition_mapping=two_days)],
        selection=["seen"],
        raise_on_error=False,
    )
    assert not result.success and loaded == []
    assert f"prices: partition(s) 2026-11-19 not materialized under {lake}" in failure(result)


def test_an_input_that_allows_missing_partitions_reads_those_there_are(materialize):
    materialize([prices_asset()])
    loaded: list[pl.DataFrame] = []
    two_days = dg.TimeWindowPartitionMapping(start_offset=-1)
    seen = reader_asset(loaded, partition_mapping=two_days, metadata={"allow_missing_partitions": True})
    materialize([prices_asset(), seen], selection=["seen"])
    assert loaded[0].equals(day_rows(DAYS[-1]))


def failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's error with every cause, as one text."""
    [event] = result.get_step_failure_events()
    error, texts = event.step_failure_data.error, []
    while error is not None:
        texts.append(error.message)
        error = error.cause
    return "\n".join(texts)


def stored_prices(lake: Path, day: str = DAYS[-1]) -> list[float]:
    return pl.read_parquet(lake / f"prices/date={day}/part-0.parquet")["price"].to_list()


@pytest.mark.parametrize(
    ("lazy", "refusal"),
    [(False, "DagsterTypeCheckDidNotPass"), (True, "Failure")],
    ids=["DataFrame", "LazyFrame"],
)
def test_rows_that_break_the_model_are_refused_and_the_stored_partition_is_kept(
    materialize, lake, lazy, refusal
):
    """A DataFrame is refused by its Dagster type's check; a LazyFrame (whose type check sees
    only its columns) by the I/O manager as each partition is streamed, before it is published."""
    materialize([prices_asset()])
    negative = prices_asset(rows=lambda day: day_rows(day, price=-1.0), lazy=lazy)
    result = materialize([negative], raise_on_error=False)
    assert not result.success
    assert f"{refusal}: " in failure(result) and "greater_than(0)" in failure(result)
    assert stored_prices(lake) == [1.5, 3.0, 4.5]
    assert files(lake) == ["prices/date=2026-11-20/part-0.parquet"]


def test_a_bad_row_in_a_later_batch_of_a_streamed_partition_is_refused(materialize, lake, monkeypatch):
    monkeypatch.setattr(io_manager, "STREAM_BATCH_ROWS", 2)  # the 20th's bad third row is batch two
    materialize([prices_asset()])

    def last_row_negative(day: str) -> pl.DataFrame:
        last = pl.int_range(pl.len()) == pl.len() - 1
        return day_rows(day).with_columns(price=pl.when(last).then(-1.0).otherwise("price"))

    result = materialize([prices_asset(rows=last_row_negative, lazy=True)], raise_on_error=False)
    assert "Failure: " in failure(result) and "failure case examples: [{'price': -1.0}]" in failure(result)
    assert stored_prices(lake) == [1.5, 3.0, 4.5]
    assert files(lake) == ["prices/date=2026-11-20/part-0.parquet"]


def test_rows_of_a_day_outside_the_run_are_refused(materialize, lake):
    strays = prices_asset(rows=lambda day: pl.concat([day_rows(day), day_rows(DAYS[0])]))
    result = materialize([strays], raise_on_error=False)
    assert "prices: 2 rows have a date outside the partitions being written" in failure(result)
    assert files(lake) == []


def test_the_lake_refuses_an_asset_without_partitions(materialize, lake):
    @dg.asset
    def unpartitioned() -> pl.DataFrame:
        return day_rows(DAYS[-1])

    result = materialize([unpartitioned], partition=None, raise_on_error=False)
    assert "unpartitioned: the lake stores partitioned assets only" in failure(result)
    assert files(lake) == []


def test_a_run_canceled_while_it_computes_publishes_nothing(materialize, lake, instance):
    """A force-terminated run's process runs on: its writes check the run's status first."""
    materialize([prices_asset()])
    canceled = prices_asset(
        rows=lambda day: day_rows(day, price=9.0),
        before=lambda context: instance.report_run_canceling(context.run),
    )
    result = materialize([canceled], raise_on_error=False)
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
    assert f"run {result.run_id} was terminated; nothing more is written" in failure(result)
    assert stored_prices(lake) == [1.5, 3.0, 4.5]
    assert files(lake) == ["prices/date=2026-11-20/part-0.parquet"]
