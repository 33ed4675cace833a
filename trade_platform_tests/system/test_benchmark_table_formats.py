"""The benchmarks' side-by-side table formats (``--table-formats parquet,iceberg``): each format's
figures and ratio from one interleaved run, and the Iceberg lake checked against the Parquet one.

Timings are recorded, never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import report, run
from benchmarks.table_formats import compare_lakes

ROOT = Path(__file__).resolve().parents[2]


def test_the_dagster_day_runs_in_both_formats_alternately_and_iceberg_equals_parquet(tmp_path, capsys):
    results = tmp_path / "results"
    status = run.main(
        ["--sizes", "3000", "--reps", "2", "--impls", "dagster", "--table-formats", "parquet,iceberg",
         "--work", str(tmp_path), "--results", str(results), "--label", "formats"]
    )  # fmt: skip
    output = capsys.readouterr()
    assert status == 0, output.out + output.err
    [path] = results.glob("*-formats.json")
    dagster = json.loads(path.read_text())["sizes"][0]["impls"]["dagster"]
    assert [rep["table_format"] for rep in dagster["reps"]] == ["parquet", "iceberg", "iceberg", "parquet"]
    formats = dagster["table_formats"]
    assert formats["parquet"]["ratio_to_reference"] == 1
    assert formats["iceberg"]["ratio_to_reference"] == (
        formats["iceberg"]["median_seconds"] / formats["parquet"]["median_seconds"]
    )
    assert dagster["format_disagreements"] == [] and dagster["disagreements"] == []
    assert dagster["row_counts"]["iceberg"] == dagster["row_counts"]["parquet"]
    assert dagster["row_counts"]["parquet"]["raw_trades"] == 3000
    assert report.main([str(path)]) == 0
    table = capsys.readouterr().out
    assert "| iceberg |" in table and "Outputs equal parquet's: yes" in table


def test_the_backfill_runs_in_both_formats_and_a_missing_day_is_a_disagreement(tmp_path):
    results = tmp_path / "results"
    # Its own process: the landing days are generated in forked workers, which a test process's
    # threads (polars') could leave deadlocked.
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.backfill", "--days", "2", "--trades-per-day", "1000",
         "--batch-days", "2", "--modes", "ranges", "--table-formats", "parquet,iceberg",
         "--work", str(tmp_path), "--results", str(results), "--label", "formats"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = results.glob("*-backfill-formats.json")
    summary = json.loads(path.read_text())
    ranges = summary["modes"]["ranges"]
    assert set(ranges["table_formats"]) == {"parquet", "iceberg"}
    assert ranges["format_disagreements"] == [] and ranges["all_runs_succeeded"]
    assert ranges["row_counts"]["iceberg"] == ranges["row_counts"]["parquet"]
    assert "| ranges | iceberg | 1 |" in report.backfill_formats_table(summary)
    parquet, iceberg = (tmp_path / f"lake-ranges-{name}" for name in ("parquet", "iceberg"))
    shutil.rmtree(parquet / "daily_volume" / "date=2024-01-02")
    problems = compare_lakes({"parquet": parquet, "iceberg": iceberg}, ("daily_volume",))
    assert any(
        "daily_volume" in problem and "2024-01-02" in problem for problem in problems["format_disagreements"]
    )


def test_the_backfill_without_table_formats_runs_one_format_as_make_bench_runs_it(tmp_path):
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.backfill", "--days", "2", "--trades-per-day", "1000",
         "--batch-days", "2", "--modes", "ranges", "--work", str(tmp_path), "--results", str(results)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = results.glob("*-backfill.json")
    ranges = json.loads(path.read_text())["modes"]["ranges"]
    assert ranges["all_runs_succeeded"] and ranges["days_run"] == 2
    assert "table_formats" not in ranges
