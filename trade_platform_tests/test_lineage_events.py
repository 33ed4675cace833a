"""OpenLineage run events for successful and failed runs, in the lake and at OPENLINEAGE_URL."""

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context

import trade_platform.transforms.ingest as ingest_module
from trade_platform.definitions import build_defs
from trade_platform.generate import generate_day, write_day

DAY = "2024-03-01"


@pytest.fixture
def instance(dagster_home, monkeypatch):
    """A real instance in a temporary DAGSTER_HOME (the ``dagster_home`` fixture)."""
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    with DagsterInstance.get() as instance:
        yield instance


@pytest.fixture
def defs(tmp_path):
    write_day(
        generate_day(date.fromisoformat(DAY), 400, seed=9), str(tmp_path / "landing"), corrupt_file=True
    )
    return build_defs(landing_url=str(tmp_path / "landing"), lake_url=str(tmp_path / "lake"))


def tick(defs, instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def())
    return defs.resolve_sensor_def("openlineage_sensor").evaluate_tick(context)


def events(lake: Path) -> list[dict]:
    return [
        json.loads(line) for path in sorted((lake / "lineage").glob("events-*.jsonl")) for line in path.open()
    ]


def by_name(datasets: list[dict]) -> dict[str, dict]:
    return {Path(d["name"]).name: d for d in datasets}


def test_successful_run_emits_start_and_complete_naming_lake_paths_rows_and_partition(
    defs, instance, tmp_path
):
    job = defs.resolve_job_def("trades_daily_job")
    result = job.execute_in_process(partition_key=DAY, instance=instance)
    tick(defs, instance)

    emitted = [e for e in events(tmp_path / "lake") if e["run"]["runId"] == result.run_id]
    assert [e["eventType"] for e in emitted] == ["START", "COMPLETE"]
    start, complete = emitted
    assert complete["job"] == {**complete["job"], "namespace": "trade_platform", "name": "trades_daily_job"}
    assert complete["run"]["facets"]["nominalTime"]["nominalStartTime"] == f"{DAY}T00:00:00Z"

    outputs = by_name(complete["outputs"])
    assert set(outputs) == {"raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume"}
    validated = outputs["validated_trades"]
    assert validated["namespace"] == "file" and validated["name"] == str(
        (tmp_path / "lake" / "validated_trades").resolve()
    )
    [partition] = validated["facets"]["partitions"]["partitions"]
    rows = (
        instance.get_latest_materialization_event(AssetKey("validated_trades"))
        .asset_materialization.metadata["dagster/row_count"]
        .value
    )
    assert partition == {
        "date": DAY,
        "path": str(tmp_path / "lake" / "validated_trades" / f"date={DAY}" / "part-0.parquet"),
        "rowCount": rows,
    }
    assert validated["outputFacets"]["outputStatistics"]["rowCount"] == rows

    [landing] = complete["inputs"]
    assert landing["name"] == str((tmp_path / "landing" / "trades").resolve())
    assert landing["inputFacets"]["inputStatistics"]["fileCount"] == 4  # three formats + a corrupt file
    assert (
        landing["inputFacets"]["inputStatistics"]["rowCount"]
        == outputs["raw_trades"]["outputFacets"]["outputStatistics"]["rowCount"]
    )
    assert set(by_name(start["outputs"])) == set(outputs)  # START names the planned outputs


def test_failed_run_emits_fail_with_the_error_and_what_it_wrote(defs, instance, tmp_path, monkeypatch):
    split = ingest_module.split_trades

    leaked = []

    def leaky_split(*args, **kwargs):  # a bug that loses a validated row: reconciliation blocks
        result = split(*args, **kwargs)
        if leaked:
            return result
        leaked.append(result.validated[0])
        return type(result)(validated=result.validated.slice(1), dlq=result.dlq)

    monkeypatch.setattr(ingest_module, "split_trades", leaky_split)
    failed = defs.resolve_job_def("trades_daily_job").execute_in_process(
        partition_key=DAY, instance=instance, raise_on_error=False
    )
    assert not failed.success
    tick(defs, instance)

    emitted = [e for e in events(tmp_path / "lake") if e["run"]["runId"] == failed.run_id]
    assert [e["eventType"] for e in emitted] == ["START", "FAIL"]
    fail = emitted[-1]
    assert "reconciliation" in fail["run"]["facets"]["errorMessage"]["message"]
    outputs = by_name(fail["outputs"])
    assert set(outputs) == {"raw_trades", "validated_trades", "trades_dlq"}  # the marts were not built
    assert all(o["facets"]["partitions"]["partitions"][0]["date"] == DAY for o in outputs.values())
    assert fail["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith(DAY)


def test_each_run_event_is_emitted_once_across_ticks(defs, instance, tmp_path):
    job = defs.resolve_job_def("trades_daily_job")
    job.execute_in_process(partition_key=DAY, instance=instance)
    first = tick(defs, instance)
    second = tick(defs, instance, cursor=first.cursor)
    assert second.cursor in (None, first.cursor)
    assert len(events(tmp_path / "lake")) == 2
    job.execute_in_process(partition_key=DAY, instance=instance)
    tick(defs, instance, cursor=first.cursor)
    assert [e["eventType"] for e in events(tmp_path / "lake")] == ["START", "COMPLETE", "START", "COMPLETE"]


class _Collector(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "event": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_events_are_also_sent_to_openlineage_url_when_set(defs, instance, tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        result = defs.resolve_job_def("trades_daily_job").execute_in_process(
            partition_key=DAY, instance=instance
        )
        tick(defs, instance)
    finally:
        server.shutdown()
    posted = [r["event"] for r in _Collector.received]
    assert {r["path"] for r in _Collector.received} == {"/api/v1/lineage"}
    assert [(e["eventType"], e["run"]["runId"]) for e in posted] == [
        ("START", result.run_id),
        ("COMPLETE", result.run_id),
    ]
    assert posted == events(tmp_path / "lake")  # the same events, also in the lake
