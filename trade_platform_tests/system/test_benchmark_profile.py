"""How ``benchmarks.profile`` reads a py-spy speedscope profile (docs/performance-profile.md)."""

from __future__ import annotations

import gzip
import json

from benchmarks.profile import analyse, bucket_of

SITE = "/venv/lib/python3.11/site-packages"
RUN = [("materialize", f"{SITE}/dagster/_core/definitions/materialize.py")]
STORE = [("SqliteEventLogStorage.store_event", f"{SITE}/dagster/_core/storage/event_log/sqlite.py")]


def test_a_json_encode_inside_the_run_is_the_runs_time_not_the_profilers():
    dumps = [("dumps", "/usr/lib/python3.11/json/__init__.py")]
    assert bucket_of(RUN + STORE + dumps) == "event log: writes (store_event)"
    assert (
        bucket_of([("child", "/repo/benchmarks/profile.py"), *dumps]) == "profiler bookkeeping (not the run)"
    )


def test_a_check_reading_the_lake_counts_as_the_check_not_as_an_io_manager_read():
    check = [
        ("_validated_trades_checks.<locals>.unique_trade_id", "/repo/trade_platform/defs/ingest/checks.py")
    ]
    scan = [("scan_parquet", f"{SITE}/polars/io/parquet/functions.py")]
    assert bucket_of(RUN + check + scan) == "checks: other"


def test_only_the_profiled_process_main_thread_is_the_runs_wall_time(tmp_path):
    frames = [
        {"name": 'process 10:"python -m benchmarks.profile --child a b c"', "file": ""},
        {"name": 'process 11:"dbt build"', "file": ""},
        {"name": "materialize", "file": RUN[0][1]},
        {"name": "SqliteEventLogStorage.store_event", "file": STORE[0][1]},
    ]
    profiles = [
        {"name": 'Process 10 Thread 10 "MainThread"', "samples": [[0, 2, 3], [0, 2]], "weights": [0.5, 0.25]},
        {"name": 'Process 11 Thread 11 "MainThread"', "samples": [[0, 1]], "weights": [9.0]},  # a subprocess
        {"name": 'Process 10 Thread 12 "ThreadPoolExecutor-0_0"', "samples": [[0]], "weights": [9.0]},
    ]
    path = tmp_path / "run.speedscope.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump({"shared": {"frames": frames}, "profiles": profiles}, handle)
    found = analyse(path)
    assert found["main_thread_seconds"] == 0.75
    assert found["buckets"]["event log: writes (store_event)"]["seconds"] == 0.5
    assert found["buckets"]["Dagster orchestration (other)"]["share"] == 1 / 3
