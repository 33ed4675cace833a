"""Crash safety and concurrency: a killed or concurrent run never leaves a partial partition."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import boto3
import polars as pl
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from trade_platform.core.generate import generate_day, write_day
from trade_platform_tests.conftest import DAY, S3, overlapping_writes, writings

LAKE_ASSETS = ("raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume")
KILL_PHASES = {"local": ("before", "ingest", "marts", "after"), "s3": ("ingest", "marts")}
"""Where in a run to kill it (``kill_points``); S3 differs from local disk in the writes only (a run
on S3 is slower: its later points cost the most)."""
pytestmark = pytest.mark.slow


def start(landing: str, lake: str, home: Path, first: str = DAY, last: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    days = [first, last] if last else [first]
    return subprocess.Popen(
        [sys.executable, "-m", "trade_platform_tests.system.materialize_main", landing, lake, *days],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def land(landing: str, seed: int) -> None:
    write_day(generate_day(date.fromisoformat(DAY), 150_000, seed=seed, n_symbols=50), landing)


class LocalLake:
    def __init__(self, root: Path):
        self.root, self.url = root, str(root)

    def snapshot(self) -> dict[str, bytes | None]:
        files = {a: self.root / a / f"date={DAY}" / "part-0.parquet" for a in LAKE_ASSETS}
        return {a: f.read_bytes() if f.exists() else None for a, f in files.items()}

    def names(self, asset: str) -> list[str]:
        folder = self.root / asset / f"date={DAY}"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class S3Lake:
    def __init__(self, bucket: str):
        self.bucket, self.url = bucket, f"s3://{bucket}/lake"

    def snapshot(self) -> dict[str, bytes | None]:
        client = boto3.client("s3")
        out = {}
        for asset in LAKE_ASSETS:
            try:
                out[asset] = client.get_object(
                    Bucket=self.bucket, Key=f"lake/{asset}/date={DAY}/part-0.parquet"
                )["Body"].read()
            except client.exceptions.NoSuchKey:
                out[asset] = None
        return out

    def names(self, asset: str) -> list[str]:
        prefix = f"lake/{asset}/date={DAY}/"
        pages = (
            boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return sorted(i["Key"][len(prefix) :] for p in pages for i in p.get("Contents", []))


# Which run rejected a record and when differ from run to run; the rows must not.
RUN_COLUMNS = {"trades_dlq": ["run_id", "rejected_at"]}


def digest(asset: str, content: bytes | None) -> str | None:
    """The partition's content (a complete, readable Parquet file is required) as a hash: of its
    schema and its rows' hashes in order (polars' row hashes are stable within its version, and
    about 100 times faster than the rows as Python objects)."""
    if content is None:
        return None
    frame = pl.read_parquet(content).drop(RUN_COLUMNS.get(asset, []))
    return hashlib.sha256(str(frame.schema).encode() + frame.hash_rows().to_numpy().tobytes()).hexdigest()


def assert_whole(found: dict[str, str | None], allowed: dict[str, set]) -> None:
    for asset, content in found.items():
        assert content in allowed[asset], f"{asset}: neither the old nor the new version"


def digests(snapshot) -> dict[str, str | None]:
    return {asset: digest(asset, content) for asset, content in snapshot.items()}


@pytest.fixture(params=["local", "s3"])
def lake_and_landing(request, tmp_path: Path):
    if request.param == "local":
        return LocalLake(tmp_path / "lake"), str(tmp_path / "landing"), KILL_PHASES["local"]
    s3: S3 = request.getfixturevalue("s3")
    bucket = s3.new_bucket()
    return S3Lake(bucket), f"s3://{bucket}/landing", KILL_PHASES["s3"]


def kill_points(started: float, ended: float, phases: tuple[str, ...]) -> list[float]:
    """Seconds after its start at which to kill a run, one per phase, from the last run of the
    instance, which ran from ``started`` to ``ended`` (its process; time.time()): halfway to its
    first write ("before": it starts and reads), halfway through the ingest's write and through
    the marts' ("ingest", "marts"), and halfway from its last write to its exit ("after": it
    checks and records its end). A slower machine moves the points with the run."""
    with DagsterInstance.get() as instance:
        [run] = instance.get_runs(limit=1)
        found = writings(instance, [run.run_id])
    ingest = [w for w in found if w.step == "ingest_trades"]
    marts = [w for w in found if w.step != "ingest_trades"]
    assert len(ingest) == 1 and marts, found
    first, last = min(w.start for w in found), max(w.end for w in found)
    spans = {
        "before": (started, first),
        "ingest": (ingest[0].start, ingest[0].end),
        "marts": (min(w.start for w in marts), max(w.end for w in marts)),
        "after": (last, ended),
    }
    return [(spans[phase][0] + spans[phase][1]) / 2 - started for phase in phases]


def test_a_killed_run_leaves_each_partition_old_or_new_and_a_rerun_completes_it(
    lake_and_landing, tmp_path: Path, dagster_home: Path
):
    lake, landing, phases = lake_and_landing
    land(landing, seed=1)
    started = time.time()
    assert start(landing, lake.url, dagster_home).wait(timeout=300) == 0
    delays = kill_points(started, time.time(), phases)  # the next runs take as long: as many rows
    old = digests(lake.snapshot())
    land(landing, seed=2)  # same file names, new content: the next run replaces every partition

    seen_new: set[str] = set()
    new_candidates = {a: {old[a]} for a in LAKE_ASSETS}
    for delay in delays:
        process = start(landing, lake.url, dagster_home)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        found = digests(lake.snapshot())
        # Each partition is the old version, or a complete new one (always the same new bytes).
        for asset, digest in found.items():
            if digest != old[asset]:
                new_candidates[asset].add(digest)
                seen_new.add(asset)
        assert all(len(c) <= 2 for c in new_candidates.values()), new_candidates
        assert_whole(found, new_candidates)

    assert start(landing, lake.url, dagster_home).wait(timeout=300) == 0
    final = digests(lake.snapshot())
    for asset in LAKE_ASSETS:
        assert final[asset] != old[asset], asset
        assert final[asset] in new_candidates[asset] or asset not in seen_new
        assert lake.names(asset) == ["part-0.parquet"]  # the re-run removed crashed writers' leftovers


def test_two_runs_of_the_same_partition_at_once_end_as_last_writer_wins(tmp_path: Path, dagster_home: Path):
    lake, landing = LocalLake(tmp_path / "lake"), str(tmp_path / "landing")
    land(landing, seed=3)
    assert start(landing, lake.url, dagster_home).wait(timeout=300) == 0  # also creates the instance's tables
    alone = lake.snapshot()
    first, second = start(landing, lake.url, dagster_home), start(landing, lake.url, dagster_home)
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()[-2000:]
    assert second.wait(timeout=300) == 0, second.stderr.read().decode()[-2000:]
    concurrent = lake.snapshot()
    for asset in ("raw_trades", "validated_trades", "ohlcv", "daily_volume"):
        assert concurrent[asset] == alone[asset], asset  # same input, same bytes, whoever won
    for asset in LAKE_ASSETS:
        assert lake.names(asset) == ["part-0.parquet"]
    assert pl.read_parquet(concurrent["validated_trades"])["trade_id"].is_unique().all()
    with DagsterInstance.get() as instance:
        runs = [run.run_id for run in instance.get_runs()]
        assert len(runs) == 3 and not overlapping_writes(writings(instance, runs))  # they took turns


def test_two_runs_over_overlapping_ranges_never_write_a_day_at_the_same_time(
    tmp_path: Path, dagster_home: Path
):
    lake, landing = LocalLake(tmp_path / "lake"), str(tmp_path / "landing")
    days = [(date.fromisoformat(DAY) + timedelta(days=n)).isoformat() for n in (-2, -1, 0)]
    for seed, day in enumerate(days):
        write_day(generate_day(date.fromisoformat(day), 100_000, seed=seed, n_symbols=50), landing)
    with DagsterInstance.get():  # creates its tables, which the two processes would race to create
        pass
    first = start(landing, lake.url, dagster_home, days[0], days[1])
    second = start(landing, lake.url, dagster_home, days[1], days[2])
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()[-2000:]
    assert second.wait(timeout=300) == 0, second.stderr.read().decode()[-2000:]
    with DagsterInstance.get() as instance:
        runs = [run.run_id for run in instance.get_runs(limit=2)]
        found = writings(instance, runs)
        assert {w.step for w in found} == {"ingest_trades", "ohlcv", "daily_volume"}
        assert not overlapping_writes(found)
        # The shared day really was contended: one run waited for it.
        waits = [
            e for run in runs for e in instance.all_logs(run) if e.user_message.startswith("waiting for")
        ]
        assert {e.user_message for e in waits} == {f"waiting for {days[1]}: another run is writing it"}


def test_a_run_marked_canceled_while_it_computes_writes_nothing(platform, monkeypatch):
    """Force-termination marks a run CANCELED without reaching its process (a worker that is
    gone or unreachable): the process must not publish a partition after that."""
    import trade_platform.defs.ingest.assets as ingest_asset

    write_day(generate_day(date.fromisoformat(DAY), 2_000, seed=4), str(platform.landing))
    ingest_day = ingest_asset.ingest_day

    def ingest_then_force_terminated(*args, **kwargs):
        summary = ingest_day(*args, **kwargs)
        [run] = platform.instance.get_runs(limit=1)
        platform.instance.report_run_canceled(run, message="Terminate pressed (force)")
        return summary

    monkeypatch.setattr(ingest_asset, "ingest_day", ingest_then_force_terminated)
    result = platform.materialize(raise_on_error=False)
    assert not result.success
    assert platform.instance.get_run_by_id(result.run_id).status == DagsterRunStatus.CANCELED
    assert not result.get_asset_materialization_events()
    assert not list(platform.lake.rglob("*.parquet"))
