"""Shared fixtures: temporary landing zone and lake on real disk or a real S3 endpoint (moto's
server on loopback), and a real Dagster instance."""

from __future__ import annotations

import gzip
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from trade_platform.core.landing.files import TRADE_FIELDS
from trade_platform.core.pseudonymise import PiiKey
from trade_platform.definitions import build_defs
from trade_platform.lib.sqlite_storage import embedded_instance_yaml
from trade_platform.settings import Settings

DAY = "2026-11-20"
BAD_INPUTS = Path(__file__).parent / "bad_inputs"
"""The bad-input catalogue: one file per kind of broken landing file."""
TEST_RETRIES = 2
TEST_PII_KEY = PiiKey(b"trade-platform tests' PII key (not a secret)")
"""Every test's key unless it says otherwise (``settings_for(..., pii_key=None)``)."""
ENVIRONMENT = {  # every TRADE_PLATFORM_* variable, none at its default
    "TRADE_PLATFORM_LANDING_URL": "s3://landing/zone",
    "TRADE_PLATFORM_LAKE_URL": "s3://lake/tables",
    "TRADE_PLATFORM_START_DATE": "2025-02-03",
    "TRADE_PLATFORM_OHLCV_INTERVALS": "1m, 15m",
    "TRADE_PLATFORM_MAX_RETRIES": "5",
    "TRADE_PLATFORM_RETRY_DELAY_SECONDS": "0.5",
    "TRADE_PLATFORM_SPILL_BUDGET_MB": "64",
    "TRADE_PLATFORM_FRESHNESS_DEADLINE": "03:30",
    "TRADE_PLATFORM_SCHEDULE_TIME": "01:45",
    "TRADE_PLATFORM_HOLIDAYS": "2024-12-25, 2024-12-26",
    "TRADE_PLATFORM_DLQ_WARN_RATE": "0.1",
    "TRADE_PLATFORM_DLQ_ERROR_RATE": "0.3",
    "TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN": "2",
    "TRADE_PLATFORM_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "TRADE_PLATFORM_CELERY_BACKEND_URL": "redis://127.0.0.1:6379/1",
    "TRADE_PLATFORM_RETENTION": "landing=30, raw_trades=90,trades_dlq=365",
    "TRADE_PLATFORM_GLUE_DATABASE": " trade_lake ",
    "TRADE_PLATFORM_PII_KEY": " test-environment-pii-key-0123456789abcdef ",
    "TRADE_PLATFORM_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/token",
    "TRADE_PLATFORM_ALERT_SMTP_URL": "smtps://alerts:secret@mail.example.com:465",
    "TRADE_PLATFORM_ALERT_EMAIL_TO": "ops@example.com, desk@example.com",
    "TRADE_PLATFORM_UI_URL": "https://dagster.example.com/",
    "TRADE_PLATFORM_PII_DEVELOPMENT_KEY": "true",
    "TRADE_PLATFORM_TABLE_FORMAT": "Iceberg",
    "TRADE_PLATFORM_ICEBERG_CATALOG": "stack",
    "TRADE_PLATFORM_ICEBERG_NAMESPACE": "trades",
    "TRADE_PLATFORM_SNAPSHOT_RETENTION": "30d",
    "TRADE_PLATFORM_DBT_MODELS": "symbol_hourly, account_daily",
}


def settings_for(landing: Path | str, lake: Path | str, **overrides) -> Settings:
    """A test's settings: its own landing zone and lake, and storage retries without the
    production back-off (the policy is kept, the waiting is not), and ``TEST_PII_KEY``. No dbt
    model is an asset unless the test asks (``dbt_models=None``: all): each run would add a dbt invocation
    of a few seconds (trade_platform_tests/defs/test_dbt_models.py runs them)."""
    return Settings(
        landing_url=str(landing),
        lake_url=str(lake),
        max_retries=TEST_RETRIES,
        retry_delay_seconds=0.1,
        **{"pii_key": TEST_PII_KEY, "dbt_models": (), **overrides},
    )


@dataclass
class Platform:
    """A landing zone, a lake and a Dagster instance under one temporary folder."""

    landing: Path
    lake: Path
    instance: DagsterInstance

    def definitions(self, **overrides) -> Definitions:
        return build_defs(settings_for(self.landing, self.lake, **overrides))

    def run_job(
        self, name: str, partition: str = DAY, *, raise_on_error: bool = True
    ) -> ExecuteInProcessResult:
        job = self.definitions().resolve_job_def(name)
        return job.execute_in_process(
            partition_key=partition, instance=self.instance, raise_on_error=raise_on_error
        )

    def materialize(
        self, partition: str = DAY, *, until: str | None = None, raise_on_error: bool = True
    ) -> ExecuteInProcessResult:
        """Run every asset and check for one partition, or for ``partition..until`` in one run."""
        job = self.definitions().resolve_implicit_global_asset_job_def()
        if until is None:
            return job.execute_in_process(
                partition_key=partition, instance=self.instance, raise_on_error=raise_on_error
            )
        tags = {"dagster/asset_partition_range_start": partition, "dagster/asset_partition_range_end": until}
        return job.execute_in_process(tags=tags, instance=self.instance, raise_on_error=raise_on_error)

    def day_dir(self, day: str = DAY) -> Path:
        path = self.landing / "trades" / f"date={day}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def partition_file(self, asset: str, day: str = DAY) -> Path:
        return self.lake / asset / f"date={day}" / "part-0.parquet"

    def read(self, asset: str, day: str = DAY) -> pl.DataFrame:
        return pl.read_parquet(self.partition_file(asset, day))


def new_dagster_home(folder: Path, **settings: Any) -> Path:
    """``folder/dagster_home`` with the repository's embedded instance (``lib/sqlite_storage.py``)
    and any further top-level ``settings`` of its ``dagster.yaml``."""
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(embedded_instance_yaml(home, **settings))
    return home


@pytest.fixture(scope="session", autouse=True)
def session_dagster_home(tmp_path_factory) -> Iterator[Path]:
    """Whatever the shell (or ``make``) exported, the tests and every command they start use
    instances of their own, never the demo's ``.dagster_home``; and no development PII key
    from a repository's ``.env`` (a test that wants one says so); and no dbt model in the code
    locations the commands load (as ``settings_for``; a test that runs them says so)."""
    home = new_dagster_home(tmp_path_factory.mktemp("session"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("TRADE_PLATFORM_PII_DEVELOPMENT_KEY", "false")
        patch.setenv("TRADE_PLATFORM_DBT_MODELS", "none")
        yield home


@pytest.fixture
def dagster_home(tmp_path: Path) -> Iterator[Path]:
    home = new_dagster_home(tmp_path)
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = previous


@pytest.fixture
def instance(dagster_home: Path) -> Iterator[DagsterInstance]:
    """A real Dagster instance (SQLite storage) in the temporary DAGSTER_HOME."""
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        yield instance


@pytest.fixture
def split_losing_a_row(monkeypatch) -> None:
    """A bug in validation: the first chunk's first validated row vanishes (reconciliation must
    catch it)."""
    import trade_platform.core.ingest as ingest_module

    split = ingest_module.split_trades
    leaked = []

    def leaky_split(*args, **kwargs):
        result = split(*args, **kwargs)
        if leaked:
            return result
        leaked.append(result.validated[0])
        return type(result)(validated=result.validated.slice(1), dlq=result.dlq)

    monkeypatch.setattr(ingest_module, "split_trades", leaky_split)


@pytest.fixture
def platform(tmp_path: Path, instance: DagsterInstance) -> Platform:
    return Platform(landing=tmp_path / "landing", lake=tmp_path / "lake", instance=instance)


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    # One attempt per call inside boto3/s3fs: retrying is the step RetryPolicy's job.
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
}


@dataclass
class S3:
    endpoint: str

    def new_bucket(self) -> str:
        import boto3

        name = f"test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        import boto3

        pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    """moto's S3 server on a free loopback port, configured through the standard AWS variables."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in [*S3_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(S3_ENV, AWS_ENDPOINT_URL=endpoint)
    yield S3(endpoint=endpoint)
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def s3(s3_server: S3) -> Iterator[S3]:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a cached filesystem keeps old listings
    yield s3_server
    s3fs.S3FileSystem.clear_instance_cache()


# --- landing files: real CSV, JSONL, gzip and Parquet files from rows of text fields --------


def trade(trade_id: str, **overrides: str | None) -> dict[str, str | None]:
    """A valid trade on 2026-11-20 with some fields replaced."""
    row = {
        "trade_id": trade_id,
        "symbol": "BTC-USD",
        "side": "buy",
        "price": "100.5",
        "quantity": "2",
        "timestamp": "2026-11-20T10:00:00Z",
        "exchange": "BINANCE",
    }
    row.update(overrides)
    return row


def write_csv(
    path: Path, rows: list[dict], *, extra_lines: list[str] = (), header: list[str] | None = None
) -> Path:
    header = header or list(TRADE_FIELDS)
    lines = [",".join(header)]
    lines += [",".join("" if row.get(name) is None else str(row[name]) for name in header) for row in rows]
    lines += list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, rows: list[dict], *, extra_lines: list[str] = ()) -> Path:
    text = "\n".join([json.dumps(row) for row in rows] + list(extra_lines)) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())
    return path


def write_parquet(path: Path, rows: list[dict], schema: dict | None = None) -> Path:
    pl.DataFrame(rows, schema=schema or {name: pl.String for name in TRADE_FIELDS}).write_parquet(path)
    return path


# --- landing text: one hard line at a time ---------------------------------------------------

HEADER = "trade_id,symbol,side,price,quantity,timestamp,exchange"
TS = f"{DAY}T10:00:00Z"
STRAY = '1"5'  # a quote inside an unquoted field
# 10:00Z, stored as 15:30+05:30 (from an integer: pyarrow's reading of aware datetimes varies).
TEN_UTC_MICROS = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()) * 1_000_000


def row(trade_id: str, price: str = "1.5", exchange: str = "X") -> str:
    return f"{trade_id},BTC,buy,{price},2,{TS},{exchange}"


def json_line(**fields: object) -> str:
    base = {
        "trade_id": "J",
        "symbol": "BTC",
        "side": "buy",
        "price": 1.5,
        "quantity": 2,
        "timestamp": TS,
        "exchange": "X",
    }
    return json.dumps({**base, **fields})


# --- who wrote which days when: the write intervals of runs, from their event logs ------------


@dataclass(frozen=True)
class Writing:
    run_id: str
    step: str
    days: frozenset[str]
    start: float
    """When the step held its days (``partition_locks.HOLDING``)."""
    end: float
    """When the step ended (its outputs were written by then)."""


def writings(instance: DagsterInstance, run_ids: list[str]) -> list[Writing]:
    from trade_platform.lib.partition_locks import HOLDING

    found = []
    for run_id in run_ids:
        held: dict[str, tuple[frozenset[str], float]] = {}
        for entry in instance.all_logs(run_id):
            if entry.user_message.startswith(HOLDING):
                days = frozenset(entry.user_message.removeprefix(HOLDING).strip().split(", "))
                held[entry.step_key] = (days, entry.timestamp)
            elif entry.is_dagster_event and entry.dagster_event.is_step_event and entry.step_key in held:
                if entry.dagster_event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                    days, start = held.pop(entry.step_key)
                    found.append(Writing(run_id, entry.step_key, days, start, entry.timestamp))
    return found


def overlapping_writes(found: list[Writing]) -> list[tuple[Writing, Writing]]:
    """Pairs of steps of different runs that held a common day at the same time."""
    return [
        (a, b)
        for i, a in enumerate(found)
        for b in found[i + 1 :]
        if a.run_id != b.run_id and a.days & b.days and a.start < b.end and b.start < a.end
    ]


# --- `make test` on two workers (pytest-xdist's ``-n 2``) -------------------------------------

SHARED_WORKER = {"system/test_kafka_": "kafka"}
"""Modules whose tests run on one worker, by the start of their path: one Kafka broker (a JVM)."""
LONGEST_FIRST = (
    "system/test_scaleout.py",  # mostly waits for the backfill daemon's 30 s ticks
    "system/test_crash_safety.py",
    "system/test_large_file.py",
    "kafka",
    "system/test_daemon_and_webserver.py",
)
"""Handed to the workers first, so that neither is left with a long one at the end."""


def worker_unit(nodeid: str) -> str:
    """The tests that run on one worker, in order: a module's (its module-scoped fixtures, a
    stack or a webserver, start once), or the modules' of ``SHARED_WORKER``."""
    path = nodeid.split("::")[0].removeprefix("trade_platform_tests/")
    return next((unit for start, unit in SHARED_WORKER.items() if path.startswith(start)), path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest units first; the order of the tests inside a module is kept (sort is stable)."""

    def rank(item: pytest.Item) -> int:
        unit = worker_unit(item.nodeid)
        return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``-n``, each worker takes whole ``worker_unit``s in the collection order. (Not
    ``--dist loadgroup``: xdist 3.8 marks a group on the node id, which pytest 9.2 no longer
    lets it change, so the groups are silently split; pytest-xdist issue 1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):  # as xdist's own loadfile and loadgroup: a scope per unit
        def _split_scope(self, nodeid: str) -> str:
            return worker_unit(nodeid)

    config.option.loadscopereorder = False  # not by number of tests: the collection order
    return ByUnit(config, log)
