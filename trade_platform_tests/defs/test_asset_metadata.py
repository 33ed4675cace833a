"""What the UI shows about the assets, checks and sensors, read from the definitions: every
column described, owners and tags, one backfill policy, targets that read as names."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from dagster import AssetKey, AssetRecordsFilter, BackfillPolicy

from trade_platform.core import names
from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings
from trade_platform_tests.conftest import DAY

TAGS = {
    "raw_trades": {"layer": "raw", "pii": "true"},
    "validated_trades": {"layer": "validated", "pii": "true"},
    "trades_dlq": {"layer": "dlq", "pii": "true"},
    "ohlcv": {"layer": "mart", "pii": "false"},
    "daily_volume": {"layer": "mart", "pii": "false"},
    # the dbt project's models (Settings() has every one)
    "symbol_hourly": {"layer": "mart", "pii": "false"},
    "account_daily": {"layer": "mart", "pii": "true"},
    "dlq_daily_summary": {"layer": "mart", "pii": "false"},
}


@pytest.fixture(scope="module")
def repository():
    return build_defs(Settings()).get_repository_def()


@pytest.mark.parametrize("asset", list(TAGS))
def test_every_column_of_the_asset_has_a_description(repository, asset):
    columns = repository.asset_graph.get(AssetKey(asset)).metadata["dagster/column_schema"].columns
    assert len(columns) >= (9 if asset in names.ALL else 3)  # the dbt models are narrower
    assert [c.name for c in columns if not (c.description or "").strip()] == []


def test_the_pii_columns_say_what_they_hold(repository):
    def described(asset: str) -> dict[str, str]:
        schema = repository.asset_graph.get(AssetKey(asset)).metadata["dagster/column_schema"]
        return {c.name: c.description for c in schema.columns}

    validated, raw = described("validated_trades"), described("raw_trades")
    assert all("HMAC-SHA256 token" in validated[c] for c in ("account_id", "trader_id"))
    assert all("in clear" in raw[c] for c in ("account_id", "trader_id", "_raw_record"))
    assert "UTC" in validated["timestamp"] and "UTC" in described("ohlcv")["timestamp"]
    assert "not from Kafka" in raw["_kafka_offset"]


@pytest.mark.parametrize("asset", names.ALL)
@pytest.mark.parametrize("table_format", ["parquet", "iceberg"])
def test_the_asset_has_the_teams_owner_and_layer_domain_format_and_pii_tags(asset, table_format):
    node = (
        build_defs(Settings(table_format=table_format)).get_repository_def().asset_graph.get(AssetKey(asset))
    )
    assert node.owners == ["team:trade-data"]
    assert node.tags == {**TAGS[asset], "domain": "trades", "format": table_format, "dagster/kind/polars": ""}


def test_the_assets_backfilled_together_share_one_backfill_policy():
    for settings, policy in (
        (Settings(), BackfillPolicy.single_run()),
        (Settings(max_partitions_per_run=3), BackfillPolicy.multi_run(3)),
    ):
        graph = build_defs(settings).get_repository_def().asset_graph
        assert {graph.get(AssetKey(a)).backfill_policy for a in names.ALL} == {policy}


def test_every_sensor_and_schedule_targets_a_job_the_ui_names(repository):
    """A selection of checks has no selection string: the UI showed the target of a sensor
    targeting one as a Python repr (``AndAssetSelection(operands=[…``)."""
    targets = {sensor.name: {t.job_name for t in sensor.targets} for sensor in repository.sensor_defs}
    targets |= {schedule.name: {schedule.job_name} for schedule in repository.schedule_defs}
    assert all(sensor.asset_selection is None for sensor in repository.sensor_defs)
    anonymous = {name: jobs for name, jobs in targets.items() if any(job.startswith("__") for job in jobs)}
    assert anonymous == {}
    assert targets["freshness_sensor"] == {"freshness_checks_job"}
    assert targets["landing_sensor"] == targets["daily_schedule"] == {"trades_daily_job"}


def test_each_day_of_a_range_run_records_its_marts_candles_symbols_notional_and_trade_times(platform):
    days = [DAY, (date.fromisoformat(DAY) + timedelta(days=1)).isoformat()]
    for day, symbols in zip(days, (4, 6), strict=True):
        write_day(
            generate_day(date.fromisoformat(day), 400, seed=2, n_symbols=symbols), str(platform.landing)
        )
    platform.materialize(days[0], until=days[1])

    def metadata(asset: str, day: str) -> dict:
        [record] = platform.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
        ).records
        return {key: entry.value for key, entry in record.asset_materialization.metadata.items()}

    for day, symbols in zip(days, (4, 6), strict=True):
        validated, candles, volume = (metadata(a, day) for a in ("validated_trades", "ohlcv", "daily_volume"))
        trades = platform.read("validated_trades", day)
        assert candles["candles_1m"] >= candles["candles_5m"] >= candles["candles_1h"] >= symbols
        assert (
            candles["candles_1m"] + candles["candles_5m"] + candles["candles_1h"]
            == candles["dagster/row_count"]
        )
        assert candles["symbols"] == volume["symbols"] == symbols == len(volume["symbol_list"])
        assert volume["total_notional"] == pytest.approx((trades["price"] * trades["quantity"]).sum())
        for mart in (candles, volume):
            assert mart["first_trade_time"] == trades["timestamp"].min().timestamp()
            assert mart["last_trade_time"] == trades["timestamp"].max().timestamp()
        assert "symbols" not in validated
