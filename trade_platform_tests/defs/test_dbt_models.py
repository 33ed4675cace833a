"""The dbt project's models as daily-partitioned assets: a range run builds each day of the three
models as independent polars computations from the platform's tables say, dbt tests are checks
per partition (a failing one fails that day only), a re-run writes the same files, ``trade-platform
sql`` reads them by name, and an analyst's new model is an asset."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult
from polars.testing import assert_frame_equal

from trade_platform.core.dbt_project import PROJECT_DIR
from trade_platform.core.dlq_codes import ALL_CODES
from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.kafka.messages import landing_files
from trade_platform.core.pseudonymise import TOKEN_PATTERN
from trade_platform.core.sql_tables import Catalog
from trade_platform.definitions import build_defs
from trade_platform.defs.analytics import definitions as analytics
from trade_platform.defs.analytics.project import prepared_project
from trade_platform_tests.conftest import S3, Platform, new_dagster_home, settings_for, trade

DAYS = ["2026-11-18", "2026-11-19", "2026-11-20"]
MODELS = ("symbol_hourly", "account_daily", "dlq_daily_summary")
COLUMNS = {
    "symbol_hourly": ["date", "hour", "symbol", "trade_count", "volume", "notional", "vwap", "high", "low"],
    "account_daily": ["date", "account_id", "trade_count", "notional", "buy_notional", "sell_notional"],
    "dlq_daily_summary": ["date", "error_code", "records"],
}
KEYS = {"symbol_hourly": ["date", "hour", "symbol"], "account_daily": ["date", "account_id"]}
KEYS["dlq_daily_summary"] = ["date", "error_code"]
RECONCILES = "symbol_hourly_reconciles_with_daily_volume"


def run(
    platform: Platform, first: str, last: str, assets: tuple[str, ...] | None = None, **settings
) -> ExecuteInProcessResult:
    """One run of ``first..last`` with every dbt model an asset: every asset, or only ``assets``
    (``settings``: more settings, such as the table format)."""
    job = build_defs(
        settings_for(platform.landing, platform.lake, dbt_models=None, **settings)
    ).resolve_implicit_global_asset_job_def()
    if assets is not None:
        job = job.get_subset(asset_selection={AssetKey(name) for name in assets})
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return job.execute_in_process(tags=tags, instance=platform.instance, raise_on_error=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Platform, ExecuteInProcessResult]:
    """Three days landed in every format, with bad records and a corrupt file, and a Kafka batch
    whose trade has no account; every asset built over the range in one run."""
    root = tmp_path_factory.mktemp("dbt")
    with DagsterInstance.from_config(str(new_dagster_home(root))) as instance:
        platform = Platform(landing=root / "landing", lake=root / "lake", instance=instance)
        for index, day in enumerate(DAYS):
            generated = generate_day(date.fromisoformat(day), 300, seed=7, bad_fraction=0.05)
            write_day(generated, str(platform.landing), corrupt_file=index == 0)
        value = json.dumps(trade("K-1", symbol="SYM000", timestamp=f"{DAYS[-1]}T09:00:00Z"))
        messages = pl.DataFrame(
            {
                "topic": ["trades"],
                "partition": [0],
                "offset": [7],
                "timestamp_ms": [1_763_629_200_000],
                "value": [value],
            }
        )
        for path, content in landing_files(messages, date(2026, 11, 1), date.fromisoformat(DAYS[-1])).items():
            (platform.landing / path).parent.mkdir(parents=True, exist_ok=True)
            (platform.landing / path).write_bytes(content)
        yield platform, run(platform, DAYS[0], DAYS[-1])


def lake_table(lake: Path, asset: str) -> pl.DataFrame:
    """An asset's partition files read one by one, with ``date`` from each folder's name."""
    return pl.concat(
        (
            pl.read_parquet(file).with_columns(date=pl.lit(date.fromisoformat(file.parent.name[5:])))
            for file in sorted((lake / asset).glob("date=*/*.parquet"))
        ),
        how="diagonal_relaxed",  # raw_trades has Kafka columns on the day a Kafka batch landed
    )


def expected(lake: Path) -> dict[str, pl.DataFrame]:
    """The three models computed with polars from the platform's own tables."""
    validated = lake_table(lake, "validated_trades")
    notional = pl.col("price") * pl.col("quantity")
    symbol_hourly = (
        validated.group_by("date", pl.col("timestamp").dt.truncate("1h").alias("hour"), "symbol")
        .agg(
            trade_count=pl.len().cast(pl.Int64),
            volume=pl.col("quantity").sum(),
            notional=notional.sum(),
            high=pl.col("price").max(),
            low=pl.col("price").min(),
        )
        .with_columns(vwap=pl.col("notional") / pl.col("volume"))
    )
    account_daily = validated.group_by("date", "account_id").agg(
        trade_count=pl.len().cast(pl.Int64),
        notional=notional.sum(),
        buy_notional=notional.filter(pl.col("side") == "buy").sum(),
        sell_notional=notional.filter(pl.col("side") == "sell").sum(),
    )
    dlq_daily_summary = (
        lake_table(lake, "trades_dlq")
        .select("date", error_code=pl.col("error_codes").list.unique())
        .explode("error_code")
        .group_by("date", "error_code")
        .agg(records=pl.len().cast(pl.Int64))
    )
    frames = {"symbol_hourly": symbol_hourly, "account_daily": account_daily}
    frames["dlq_daily_summary"] = dlq_daily_summary
    return {
        name: frame.select(COLUMNS[name]).sort(KEYS[name], nulls_last=False) for name, frame in frames.items()
    }


def test_a_range_run_builds_each_day_of_the_three_models_as_polars_computes_them(built):
    platform, result = built
    assert result.success
    for name, frame in expected(platform.lake).items():
        events = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(name)]
        assert sorted(e.partition for e in events) == DAYS, name
        actual = lake_table(platform.lake, name)
        assert actual.columns == COLUMNS[name][1:] + ["date"]  # the day is the folder, as for every asset
        assert_frame_equal(
            actual.select(COLUMNS[name]).sort(KEYS[name], nulls_last=False), frame, rel_tol=1e-9
        )
    accounts = lake_table(platform.lake, "account_daily")
    assert accounts.filter(pl.col("account_id").is_null())["date"].to_list() == [date.fromisoformat(DAYS[-1])]
    assert accounts["account_id"].drop_nulls().str.contains(f"^{TOKEN_PATTERN}$").all()  # PII as tokens
    assert lake_table(platform.lake, "raw_trades")["_kafka_topic"].drop_nulls().to_list() == ["trades"]
    assert set(lake_table(platform.lake, "dlq_daily_summary")["error_code"]) > {"unreadable_file"}


def test_every_dbt_test_is_a_check_evaluated_once_per_day(built):
    platform, result = built
    evaluations = Counter(
        (e.asset_key.path[-1], e.check_name, e.partition, e.passed)
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1] in MODELS
    )
    checks = {(model, check) for model, check, _, _ in evaluations}
    assert len(checks) == 22 and (("symbol_hourly", RECONCILES)) in checks
    assert evaluations == Counter({(*check, day, True): 1 for check in checks for day in DAYS})


def test_trade_platform_sql_reads_the_models_by_name(built):
    platform, _ = built
    statement = "SELECT date, sum(trade_count) AS trades FROM symbol_hourly GROUP BY date ORDER BY date"
    counts = Catalog.open(str(platform.lake), statement).query(statement).collect()
    validated = lake_table(platform.lake, "validated_trades").group_by("date").len().sort("date")
    assert counts.rows() == validated.rows()


def test_a_rerun_of_a_day_writes_the_same_files(built):
    platform, _ = built
    before = {name: platform.partition_file(name, DAYS[0]).read_bytes() for name in MODELS}
    assert run(platform, DAYS[0], DAYS[0], MODELS).success
    assert {name: platform.partition_file(name, DAYS[0]).read_bytes() for name in MODELS} == before


def test_a_failing_dbt_test_is_a_failed_check_of_its_day_only(built):
    platform, _ = built
    daily_volume = platform.partition_file("daily_volume", DAYS[1])
    stored = pl.read_parquet(daily_volume)
    stored.with_columns(pl.col("trade_count") + (pl.int_range(pl.len()) == 0)).write_parquet(daily_volume)

    result = run(platform, DAYS[0], DAYS[1], ("symbol_hourly",))

    verdicts = {e.partition: e for e in result.get_asset_check_evaluations() if e.check_name == RECONCILES}
    assert not verdicts[DAYS[1]].passed and verdicts[DAYS[0]].passed
    assert verdicts[DAYS[1]].metadata["failing_rows"].value == 1
    # A dbt test of severity error is a blocking check: its failure fails the step, after the
    # model's partitions were written (as ``dbt build`` keeps a model whose test failed).
    assert not result.success
    assert platform.partition_file("symbol_hourly", DAYS[1]).exists()


def test_the_models_read_their_sources_from_and_write_their_days_to_a_lake_on_s3(s3: S3, instance):
    bucket = s3.new_bucket()
    write_day(generate_day(date.fromisoformat(DAYS[0]), 200, seed=5), f"s3://{bucket}/landing")
    settings = settings_for(f"s3://{bucket}/landing", f"s3://{bucket}/lake", dbt_models=None)
    job = build_defs(settings).resolve_implicit_global_asset_job_def()

    assert job.execute_in_process(partition_key=DAYS[0], instance=instance).success

    keys = s3.keys(bucket, "lake/")
    assert {f"lake/{name}/date={DAYS[0]}/part-0.parquet" for name in MODELS} <= set(keys)
    statement = "SELECT (SELECT sum(trade_count) FROM account_daily), (SELECT count(*) FROM validated_trades)"
    hourly, validated = Catalog.open(f"s3://{bucket}/lake", statement).query(statement).collect().row(0)
    assert hourly == validated > 150


def test_the_accepted_dlq_codes_are_the_platforms():
    project = prepared_project()
    manifest = json.loads(project.manifest_path.read_text())
    accepted = [
        node["test_metadata"]["kwargs"]["values"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node["test_metadata"].get("name") == "accepted_values"
    ]
    assert accepted == [list(ALL_CODES)]


def test_a_model_added_to_a_copy_of_the_project_is_an_asset_with_its_test_as_a_check(tmp_path: Path):
    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "venue_daily.sql").write_text(
        "select date, exchange, count(*) as trades\n"
        "from {{ source('lake', 'validated_trades') }}\nwhere {{ in_run_days() }}\ngroup by date, exchange\n"
    )
    (project / "models" / "venue_daily.yml").write_text(
        "version: 2\nmodels:\n  - name: venue_daily\n    columns:\n"
        "      - name: exchange\n        data_tests: [not_null]\n"
    )

    defs = analytics.build_defs(settings_for(tmp_path, tmp_path / "lake", dbt_models=None), project)

    (assets,) = defs.assets
    venue_daily = AssetKey("venue_daily")
    assert assets.asset_deps[venue_daily] == {AssetKey("validated_trades")}
    assert assets.partitions_def is not None
    checks = {key.name for key in assets.check_keys if key.asset_key == venue_daily}
    assert checks == {"not_null_venue_daily_exchange"}


def test_a_run_builds_from_the_parse_saved_when_the_code_location_loaded(built, tmp_path: Path):
    """No dbt parse at run time: a model's file broken after the code location loaded is not read."""
    platform, _ = built
    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = analytics.build_defs(settings_for(platform.landing, platform.lake, dbt_models=None), project)
    job = Definitions.merge(platform.definitions(), models).resolve_implicit_global_asset_job_def()
    (project / "models" / "dlq_daily_summary.sql").write_text("select * from a_table_that_is_not_there")
    before = platform.partition_file("dlq_daily_summary", DAYS[0]).read_bytes()

    dlq_summary = job.get_subset(asset_selection={AssetKey("dlq_daily_summary")})
    assert dlq_summary.execute_in_process(partition_key=DAYS[0], instance=platform.instance).success
    assert platform.partition_file("dlq_daily_summary", DAYS[0]).read_bytes() == before
