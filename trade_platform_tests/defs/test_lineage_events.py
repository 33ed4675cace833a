"""OpenLineage run events for successful and failed runs, in the lake and at OPENLINEAGE_URL."""

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform_tests.conftest import settings_for

DAY = "2024-03-01"
PARTITIONS = "tradePlatform_partitions"
REPO = Path(__file__).resolve().parents[2]
REPOSITORY_FILES = "https://raw.githubusercontent.com/trade-platform/trade_platform/main/"
OPENLINEAGE_SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
# The part of OpenLineage's spec that a dataset facet extends (the spec is not fetched: no network).
OPENLINEAGE_DATASET_FACET = {
    "$defs": {
        "DatasetFacet": {
            "type": "object",
            "properties": {
                "_producer": {"type": "string", "format": "uri"},
                "_schemaURL": {"type": "string", "format": "uri"},
                "_deleted": {"type": "boolean"},
            },
            "required": ["_producer", "_schemaURL"],
        }
    }
}


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
    return build_defs(settings_for(tmp_path / "landing", tmp_path / "lake"))


def tick(defs, instance, cursor=None):
    # Opened as the daemon opens it: the I/O manager's nested resources are set up and torn down.
    with build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:
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
    [partition] = validated["facets"][PARTITIONS]["partitions"]
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
    # START names no dataset: where a run writes is known from what it wrote.
    assert start["inputs"] == [] and start["outputs"] == []


def test_lineage_lists_the_files_the_run_read_not_the_files_landed_since(defs, instance, tmp_path):
    result = defs.resolve_job_def("trades_daily_job").execute_in_process(partition_key=DAY, instance=instance)
    read = sorted(p.name for p in (tmp_path / "landing" / "trades" / f"date={DAY}").iterdir())
    (tmp_path / "landing" / "trades" / f"date={DAY}" / "late.csv").write_text("trade_id\nLATE\n")
    (tmp_path / "landing" / "trades" / f"date={DAY}" / read[0]).unlink()
    tick(defs, instance)

    [complete] = [e for e in events(tmp_path / "lake") if e["eventType"] == "COMPLETE"]
    assert complete["run"]["runId"] == result.run_id
    [landing] = complete["inputs"]
    [partition] = landing["facets"][PARTITIONS]["partitions"]
    assert [Path(f["path"]).name for f in partition["files"]] == read
    assert partition["fileCount"] == len(read) == landing["inputFacets"]["inputStatistics"]["fileCount"]
    assert all(f["size"] > 0 for f in partition["files"])


def test_datasets_come_from_the_lake_the_run_wrote_not_the_sensors(defs, instance, tmp_path):
    defs.resolve_job_def("trades_daily_job").execute_in_process(partition_key=DAY, instance=instance)
    elsewhere = build_defs(settings_for(tmp_path / "other-landing", tmp_path / "other-lake"))
    tick(elsewhere, instance)

    [complete] = [e for e in events(tmp_path / "other-lake") if e["eventType"] == "COMPLETE"]
    assert {d["name"] for d in complete["outputs"]} == {
        str((tmp_path / "lake" / asset).resolve())
        for asset in ("raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume")
    }
    assert [d["name"] for d in complete["inputs"]] == [str((tmp_path / "landing" / "trades").resolve())]


def test_a_run_of_dagsters_hidden_asset_job_is_named_after_what_it_ran(defs, instance, tmp_path):
    job = defs.resolve_implicit_global_asset_job_def()
    ingest = [AssetKey("raw_trades"), AssetKey("validated_trades"), AssetKey("trades_dlq")]
    result = job.execute_in_process(partition_key=DAY, instance=instance, asset_selection=ingest)
    tick(defs, instance)
    names = {e["job"]["name"] for e in events(tmp_path / "lake") if e["run"]["runId"] == result.run_id}
    assert names == {"assets:raw_trades+trades_dlq+validated_trades"}


def test_a_replay_lists_its_corrections_as_an_input(defs, instance, tmp_path):
    folder = tmp_path / "landing" / "corrections" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "fixes.csv").write_text("source_file,source_row,price\ntrades/date=2024-03-01/x.csv,2,1\n")
    result = defs.resolve_job_def("replay_dlq").execute_in_process(partition_key=DAY, instance=instance)
    tick(defs, instance)

    [complete] = [
        e
        for e in events(tmp_path / "lake")
        if e["run"]["runId"] == result.run_id and e["eventType"] == "COMPLETE"
    ]
    assert complete["job"]["name"] == "replay_dlq"
    inputs = by_name(complete["inputs"])
    assert set(inputs) == {"trades", "corrections"}
    [partition] = inputs["corrections"]["facets"][PARTITIONS]["partitions"]
    [read] = partition["files"]
    assert (read["path"], read["size"]) == (
        f"corrections/date={DAY}/fixes.csv",
        (folder / "fixes.csv").stat().st_size,
    )
    assert read["version"]


def test_the_partitions_facet_validates_against_the_schema_its_url_names(defs, instance, tmp_path):
    defs.resolve_job_def("trades_daily_job").execute_in_process(partition_key=DAY, instance=instance)
    tick(defs, instance)
    [complete] = [e for e in events(tmp_path / "lake") if e["eventType"] == "COMPLETE"]
    facets = [d["facets"][PARTITIONS] for d in complete["inputs"] + complete["outputs"]]
    url = facets[0]["_schemaURL"]
    document, _, pointer = url.partition("#")
    assert document.startswith(REPOSITORY_FILES) and pointer == "/$defs/PartitionsDatasetFacet"
    schema = json.loads((REPO / document.removeprefix(REPOSITORY_FILES)).read_text())
    base = Resource.from_contents(OPENLINEAGE_DATASET_FACET, default_specification=DRAFT202012)
    validator = Draft202012Validator(
        {"$ref": f"{schema['$id']}#{pointer}"},
        registry=Registry().with_resources(
            [(schema["$id"], DRAFT202012.create_resource(schema)), (OPENLINEAGE_SPEC, base)]
        ),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    for facet in facets:
        assert facet["_schemaURL"] == url
        validator.validate(facet)
    with pytest.raises(ValidationError):
        validator.validate({**facets[0], "partitions": [{"date": DAY, "rows": 1}]})


def test_failed_run_emits_fail_with_the_error_and_what_it_wrote(defs, instance, tmp_path, split_losing_a_row):
    # reconciliation blocks: the marts are not built
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
    assert all(o["facets"][PARTITIONS]["partitions"][0]["date"] == DAY for o in outputs.values())
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


def test_an_iceberg_lake_names_each_table_by_its_location(instance, tmp_path):
    write_day(generate_day(date.fromisoformat(DAY), 400, seed=9), str(tmp_path / "landing"))
    lake = tmp_path / "lake"
    defs = build_defs(settings_for(tmp_path / "landing", lake, table_format="iceberg"))
    result = defs.resolve_job_def("trades_daily_job").execute_in_process(partition_key=DAY, instance=instance)
    tick(defs, instance)

    [complete] = [
        e for e in events(lake) if e["run"]["runId"] == result.run_id and e["eventType"] == "COMPLETE"
    ]
    outputs = by_name(complete["outputs"])
    assert set(outputs) == {"raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume"}
    location = (lake / "trade_platform" / "validated_trades").resolve()
    validated = outputs["validated_trades"]
    assert (validated["namespace"], validated["name"]) == ("file", str(location))
    [partition] = validated["facets"][PARTITIONS]["partitions"]
    assert partition["path"] == f"{location.as_uri()}/data/date={DAY}" and partition["rowCount"] > 0
