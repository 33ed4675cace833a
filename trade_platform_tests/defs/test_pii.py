"""PII through Dagster: landed account and trader ids become keyed tokens in validated_trades and
leave no trace downstream, the key leaks nowhere, a missing key writes nothing, rotation re-keys,
and the UI shows every column's classification. Real files, a real instance."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io

import polars as pl
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from trade_platform.core.classification import column_classifications
from trade_platform.core.landing.columns import LANDING_FIELDS
from trade_platform.core.pseudonymise import PiiKey
from trade_platform.core.schemas import ASSET_MODELS
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings
from trade_platform_tests.conftest import (
    DAY,
    Platform,
    new_dagster_home,
    trade,
    write_csv,
    write_jsonl,
    write_parquet,
)

SECRET = "pii-key-that-must-never-leak-7f3a9c0e5b1d"
IDENTIFIERS = {  # trade_id -> (account_id, trader_id) as landed; each id is unique text
    "C1": ("  ACC-CSV-0001 ", "TRD-CSV-0001"),
    "C2": ("ACC-SHARED-0005", None),
    "J1": ("ACC-JSONL-0002", " TRD-JSONL-0002"),
    "P1": ("ACC-SHARED-0005", "TRD-PARQUET-0003"),
}
MALFORMED = {"BAD-A": ("acct ACC-BAD-0006", None), "BAD-T": (None, "-TRD-BAD-0007")}
DOWNSTREAM = ("validated_trades", "ohlcv", "daily_volume")
# Building the UI's snapshot of the definitions reads a deprecated schedule property (Dagster 1.13).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Property `ScheduleDefinition.environment_vars`:DeprecationWarning"
)


def token(value: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), value.strip().encode(), hashlib.sha256).hexdigest()


def with_ids(trade_id: str, ids: tuple[str | None, str | None]) -> dict:
    return trade(trade_id, account_id=ids[0], trader_id=ids[1])


def land_every_format(platform: Platform) -> None:
    day = platform.day_dir()
    rows = {tid: with_ids(tid, ids) for tid, ids in {**IDENTIFIERS, **MALFORMED}.items()}
    header = [name.upper() if name == "account_id" else name for name in LANDING_FIELDS]
    write_csv(
        day / "a.csv",
        [{**rows[t], "ACCOUNT_ID": rows[t]["account_id"]} for t in ("C1", "C2", "BAD-A")],
        header=header,
    )
    jsonl = [
        {("Trader_Id" if k == "trader_id" else k): v for k, v in rows[t].items()} for t in ("J1", "BAD-T")
    ]
    write_jsonl(day / "b.jsonl.gz", jsonl)
    write_parquet(day / "c.parquet", [rows["P1"]], schema=dict.fromkeys(LANDING_FIELDS, pl.String))


def materialize(
    platform: Platform, key: PiiKey | None, *, raise_on_error: bool = True
) -> ExecuteInProcessResult:
    job = platform.definitions(pii_key=key).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        partition_key=DAY, instance=platform.instance, raise_on_error=raise_on_error
    )


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> tuple[Platform, ExecuteInProcessResult, str]:
    """Every format landed and materialized once with ``SECRET``; also what the run printed."""
    root = tmp_path_factory.mktemp("pii")
    with DagsterInstance.from_config(str(new_dagster_home(root))) as instance:
        platform = Platform(landing=root / "landing", lake=root / "lake", instance=instance)
        land_every_format(platform)
        printed = io.StringIO()
        with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
            result = materialize(platform, PiiKey(SECRET.encode()))
        yield platform, result, printed.getvalue()


def test_identifiers_of_every_format_become_the_hmac_of_the_trimmed_value(landed):
    platform, _, _ = landed
    validated = platform.read("validated_trades").sort("trade_id")
    assert validated.select("trade_id", "account_id", "trader_id").rows() == [
        (tid, *(None if v is None else token(v) for v in ids)) for tid, ids in sorted(IDENTIFIERS.items())
    ]
    # The same account gives the same token in every file: counts by account still work.
    assert validated.group_by("account_id").len().sort("len")["len"].to_list() == [1, 1, 2]


def test_no_identifier_from_the_landing_files_appears_in_validated_trades_or_the_marts(landed):
    platform, _, _ = landed
    landed_ids = [v.strip() for ids in [*IDENTIFIERS.values(), *MALFORMED.values()] for v in ids if v]
    for asset in DOWNSTREAM:
        frame = platform.read(asset)
        assert frame.height > 0, asset
        cells = frame.select(pl.all().cast(pl.String)).unpivot()["value"].drop_nulls()
        for identifier in landed_ids:
            assert not cells.str.contains(identifier, literal=True).any(), (asset, identifier)
            assert identifier.encode() not in platform.partition_file(asset).read_bytes(), (asset, identifier)


def test_raw_trades_and_the_dlq_keep_identifiers_as_received(landed):
    platform, _, _ = landed
    raw = platform.read("raw_trades")
    received = {tid: (a, t) for tid, a, t in raw.select("trade_id", "account_id", "trader_id").rows()}
    assert received == {**IDENTIFIERS, **MALFORMED}
    dlq = platform.read("trades_dlq").sort("trade_id")
    assert dlq.select("trade_id", "error_codes").rows() == [
        ("BAD-A", ["invalid_account_id"]),
        ("BAD-T", ["invalid_trader_id"]),
    ]
    assert "acct ACC-BAD-0006" in dlq["raw_record"][0] and "-TRD-BAD-0007" in dlq["raw_record"][1]


def test_the_key_appears_nowhere_in_the_event_log_metadata_lake_logs_or_ui(landed):
    platform, result, printed = landed
    assert "RUN_SUCCESS" in printed  # the run's console log was captured
    events = serialize_value(list(platform.instance.all_logs(result.run_id)))
    snapshot = serialize_value(RepositorySnap.from_def(platform.definitions().get_repository_def()))
    for text in (printed, events, snapshot, repr(Settings(pii_key=PiiKey(SECRET.encode())))):
        assert SECRET not in text
    root = platform.lake.parent  # the lake, the landing zone and the instance's storage
    files = [path for path in root.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in files) and any(path.suffix == ".parquet" for path in files)
    assert [path for path in files if SECRET.encode() in path.read_bytes()] == []


def test_a_missing_key_fails_the_run_at_once_naming_the_variables_and_writes_nothing(platform: Platform):
    land_every_format(platform)
    result = materialize(platform, None, raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "TRADE_PLATFORM_PII_KEY or TRADE_PLATFORM_PII_KEY_FILE" in message and "account_id" in message
    assert not [ids for ids in IDENTIFIERS.values() if ids[0].strip() in message]
    assert not platform.lake.exists() or not [p for p in platform.lake.rglob("*") if p.is_file()]
    assert result.get_asset_materialization_events() == []


def test_a_day_without_identifying_values_needs_no_key(platform: Platform):
    write_csv(platform.day_dir() / "a.csv", [trade("N1"), trade("N2")])
    write_jsonl(platform.day_dir() / "b.jsonl", [{**trade("N3"), "account_id": " ", "trader_id": None}])
    materialize(platform, None)
    assert platform.read("validated_trades").select("account_id", "trader_id").null_count().row(0) == (
        0 + 3,
        3,
    )


def test_rotating_the_key_changes_every_token_on_rematerialization(platform: Platform):
    land_every_format(platform)
    old, new = "old-" + SECRET, "new-" + SECRET
    materialize(platform, PiiKey(old.encode()))
    before = platform.read("validated_trades").sort("trade_id")
    materialize(platform, PiiKey(new.encode()))
    after = platform.read("validated_trades").sort("trade_id")
    assert after["account_id"].to_list() == [token(IDENTIFIERS[t][0], new) for t in after["trade_id"]]
    assert set(before["account_id"]).isdisjoint(after["account_id"])  # joins across a rotation break
    assert before.drop("account_id", "trader_id").equals(after.drop("account_id", "trader_id"))


def test_every_column_of_every_asset_carries_its_classification_in_the_ui_column_schema():
    snapshot = RepositorySnap.from_def(build_defs(Settings()).get_repository_def())
    shown = {
        node.asset_key.to_user_string(): {
            column.name: column.tags.get("classification")
            for column in node.metadata["dagster/column_schema"].schema.columns
        }
        for node in snapshot.asset_nodes
    }
    assert {asset: shown[asset] for asset in ASSET_MODELS} == {
        asset: {name: classification.value for name, classification in column_classifications(model).items()}
        for asset, model in ASSET_MODELS.items()
    }
    # The dbt models' columns (their YAML's meta.classification): the account token stays pii.
    dbt_models = {asset: columns for asset, columns in shown.items() if asset not in ASSET_MODELS}
    assert sorted(dbt_models) == ["account_daily", "dlq_daily_summary", "symbol_hourly"]
    assert {c for columns in dbt_models.values() for c in columns.values()} == {"public", "internal", "pii"}
    assert dbt_models["account_daily"]["account_id"] == "pii"
    assert shown["validated_trades"]["account_id"] == shown["raw_trades"]["_raw_record"] == "pii"
