"""``benchmarks.floor``: the hollow code location mirrors the real one, step for step, and its
range run records what a real one records per partition. Timings are recorded, never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterEventType

from benchmarks.common import embedded_instance
from benchmarks.floor import hollow_job
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_hollow_job_has_the_real_steps_and_records_every_partition(tmp_path):
    real = build_defs(Settings(landing_url=str(tmp_path), lake_url=str(tmp_path), dbt_models=()))
    real_job = real.resolve_implicit_global_asset_job_def()
    hollow = hollow_job()
    partitioned_checks = {
        key for key in real_job.asset_layer.asset_graph.asset_check_keys if key.name != "freshness"
    }
    assert hollow.asset_layer.executable_asset_keys == real_job.asset_layer.executable_asset_keys
    assert set(hollow.asset_layer.asset_graph.asset_check_keys) == partitioned_checks
    assert {node.name for node in hollow.nodes} == {
        node.name for node in real_job.nodes if node.name != "freshness"
    }

    instance = embedded_instance(tmp_path / "home")
    tags = {
        "dagster/asset_partition_range_start": "2024-01-01",
        "dagster/asset_partition_range_end": "2024-01-03",
    }
    result = hollow.execute_in_process(tags=tags, instance=instance)
    evaluations = result.get_asset_check_evaluations()
    assert sorted((e.asset_check_key, e.partition) for e in evaluations) == sorted(
        (key, day) for key in partitioned_checks for day in ("2024-01-01", "2024-01-02", "2024-01-03")
    )
    materialized = instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    assert len(materialized) == 3 * len(real_job.asset_layer.executable_asset_keys)


def test_the_floor_command_writes_its_figures(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.floor", "--reps", "1", "--days", "2",
         "--results", str(tmp_path), "--label", "floor"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = tmp_path.glob("*-floor.json")
    figures = json.loads(path.read_text())
    assert [run["days"] for run in figures["range"]["runs"]] == [2]
    assert figures["cold"]["runs"][0]["first_run"]["startup_seconds"] > 0
    assert figures["day"]["per_day_cpu_seconds"] > 0
