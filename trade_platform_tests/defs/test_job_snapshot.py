"""Every process computes the same snapshot of a job: the UI compares a run's snapshot id with the
one its own code server computes, and warns on Re-execute when they differ."""

from __future__ import annotations

import subprocess
import sys

from trade_platform.definitions import build_defs
from trade_platform.settings import Settings

SNAPSHOT_ID = (
    "import warnings; warnings.simplefilter('ignore')\n"
    "from trade_platform.definitions import defs\n"
    "print(defs().resolve_job_def('trades_daily_job').get_job_snapshot_id())\n"
)


def test_the_blocking_checks_of_an_asset_have_distinct_op_outputs():
    # Dagster 1.13 orders the blocking checks a step waits for by output name only.
    job = build_defs(Settings()).resolve_job_def("trades_daily_job")
    graph, layer = job.asset_layer.asset_graph, job.asset_layer
    blocking = [key for key in graph.asset_check_keys if graph.get_check_spec(key).blocking]
    assert {"reconciliation", "unique_trade_id", "not_null_symbol_hourly_symbol"} <= {
        key.name for key in blocking
    }
    outputs = {layer.get_op_output_name(key) for key in blocking}
    assert len(outputs) == len(blocking), outputs


def test_two_processes_compute_one_snapshot_id_of_trades_daily_job():
    ids = {
        subprocess.run(
            [sys.executable, "-c", SNAPSHOT_ID], capture_output=True, text=True, check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
        ).stdout.strip()
        for _ in range(3)
    }  # fmt: skip
    assert len(ids) == 1, ids
