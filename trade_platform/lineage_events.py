"""OpenLineage run events built from a Dagster run's event log, and where they are sent.

Each event names the run's input and output datasets by lake path (one dataset per asset, the
folder ``<lake>/<asset>``), with the partitions touched, their files and row counts. Events are
appended as JSON lines to ``<lake>/lineage/events-YYYY-MM-DD.jsonl`` (by event time, UTC) and,
when ``OPENLINEAGE_URL`` is set, also sent through the OpenLineage client's HTTP transport (which
reads the usual ``OPENLINEAGE_*`` variables). ``lineage.py`` imports this module only when a tick
has events to emit, so run workers do not pay for importing the OpenLineage client.
"""

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import attr
import dagster
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    EventLogRecord,
)
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    processing_engine_run,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from upath import UPath

from trade_platform.landing import list_landing_files
from trade_platform.partitions import daily_partitions

NAMESPACE = "trade_platform"
PRODUCER = "https://github.com/trade-platform/trade_platform/blob/main/trade_platform/lineage.py"
LINEAGE_FOLDER = "lineage"  # <lake>/lineage/
STATES = {
    DagsterEventType.RUN_START: RunState.START,
    DagsterEventType.RUN_SUCCESS: RunState.COMPLETE,
    DagsterEventType.RUN_FAILURE: RunState.FAIL,
}


@attr.define
class PartitionsDatasetFacet(DatasetFacet):
    """The partitions of the dataset this run read or wrote: ``[{date, path, rowCount}]``."""

    partitions: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return PRODUCER + "#PartitionsDatasetFacet"


@attr.define(frozen=True)
class PartitionFile:
    asset: AssetKey
    date: str
    path: str | None
    rows: int | None


class LineageEmitter:
    """Appends events to ``<lake>/lineage/`` and, with ``OPENLINEAGE_URL``, posts them too."""

    def __init__(self, lake_url: str):
        self.folder = UPath(lake_url) / LINEAGE_FOLDER
        self.http = OpenLineageClient() if os.environ.get("OPENLINEAGE_URL", "").strip() else None

    def emit(self, event: RunEvent) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"events-{event.eventTime[:10]}.jsonl"
        config = FileConfig(
            log_file_path=str(path), append=True, storage_options=dict(path.storage_options) or None
        )
        OpenLineageClient(transport=FileTransport(config)).emit(event)
        if self.http is not None:
            self.http.emit(event)


def build_run_event(
    record: EventLogRecord,
    run: DagsterRun,
    instance: DagsterInstance,
    asset_graph,
    lake_url: str,
    landing_url: str,
) -> RunEvent:
    state = STATES[record.event_log_entry.dagster_event_type]
    planned = _planned_assets(instance, run.run_id)
    days = _run_days(run)
    produced = [] if state is RunState.START else _materialized(instance, run.run_id)
    # START names the planned outputs; COMPLETE and FAIL what was actually written.
    outputs = (
        [PartitionFile(a, d, None, None) for a in planned for d in days]
        if state is RunState.START
        else produced
    )
    upstream = sorted(
        {parent for key in planned if asset_graph.has(key) for parent in asset_graph.get(key).parent_keys}
        - planned,
        key=lambda k: k.to_user_string(),
    )
    roots = [key for key in planned if asset_graph.has(key) and not asset_graph.get(key).parent_keys]
    inputs = [_latest_partition(instance, key, day) for key in upstream for day in days]
    run_facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=dagster.__version__, name="dagster", openlineageAdapterVersion=_client_version()
        )
    }
    if days:
        window = (
            daily_partitions.time_window_for_partition_key(days[0]),
            daily_partitions.time_window_for_partition_key(days[-1]),
        )
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_iso(window[0].start), nominalEndTime=_iso(window[1].end)
        )
    if state is RunState.FAIL:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=_failure_message(instance, run.run_id, record), programmingLanguage="python"
        )
    lake_inputs = _datasets([i for i in inputs if i.path], lake_url, output=False)
    return RunEvent(
        eventType=state,
        eventTime=_iso(datetime.fromtimestamp(record.timestamp, UTC)),
        run=Run(runId=run.run_id, facets=run_facets),
        job=Job(
            namespace=NAMESPACE,
            name=run.job_name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="DAGSTER", jobType="JOB"
                )
            },
        ),
        producer=PRODUCER,
        inputs=([_landing_input(landing_url, days, produced)] if roots and days else []) + lake_inputs,
        outputs=_datasets(outputs, lake_url, output=True),
    )


def _planned_assets(instance: DagsterInstance, run_id: str) -> set[AssetKey]:
    planned = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return {r.event_log_entry.dagster_event.asset_key for r in planned if r.event_log_entry.dagster_event}


def _run_days(run: DagsterRun) -> list[str]:
    tags = run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    if start and end:
        return [day for day in daily_partitions.get_partition_keys() if start <= day <= end]
    return []


def _materialized(instance: DagsterInstance, run_id: str) -> list[PartitionFile]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    return [
        _partition_file(r.event_log_entry.asset_materialization)
        for r in records
        if r.event_log_entry.asset_materialization
    ]


def _latest_partition(instance: DagsterInstance, key: AssetKey, day: str) -> PartitionFile:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records
    if not records:
        return PartitionFile(key, day, None, None)
    return _partition_file(records[0].asset_materialization)


def _partition_file(materialization) -> PartitionFile:
    metadata = materialization.metadata
    path, rows = metadata.get("path"), metadata.get("dagster/row_count")
    return PartitionFile(
        materialization.asset_key,
        materialization.partition,
        path and str(path.value),
        rows and int(rows.value),
    )


def _datasets(files: Iterable[PartitionFile], lake_url: str, *, output: bool) -> list:
    by_asset: dict[AssetKey, list[PartitionFile]] = {}
    for f in files:
        by_asset.setdefault(f.asset, []).append(f)
    datasets = []
    for key, parts in sorted(by_asset.items(), key=lambda item: item[0].to_user_string()):
        namespace, name = dataset_name(UPath(lake_url).joinpath(*key.path))
        rows = sum(p.rows for p in parts) if all(p.rows is not None for p in parts) else None
        facets = {"partitions": PartitionsDatasetFacet(partitions=[_partition_entry(p) for p in parts])}
        if output:
            statistics = {
                "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=rows, fileCount=len(parts)
                )
            }
            datasets.append(
                OutputDataset(
                    namespace=namespace,
                    name=name,
                    facets=facets,
                    outputFacets=statistics if rows is not None else {},
                )
            )
        else:
            statistics = {
                "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=rows, fileCount=len(parts)
                )
            }
            datasets.append(
                InputDataset(namespace=namespace, name=name, facets=facets, inputFacets=statistics)
            )
    return datasets


def _partition_entry(part: PartitionFile) -> dict[str, Any]:
    entry = {"date": part.date, "path": part.path, "rowCount": part.rows}
    return {k: v for k, v in entry.items() if v is not None}


def _landing_input(landing_url: str, days: Sequence[str], produced: Sequence[PartitionFile]) -> InputDataset:
    """The landing zone as read by ingest: files per day, rows as counted in ``raw_trades``."""
    raw_rows = {p.date: p.rows for p in produced if p.asset == AssetKey("raw_trades")}
    partitions, files, size = [], 0, 0
    for day in days:
        landed = list_landing_files(landing_url, day)
        files += len(landed)
        size += sum(f.size for f in landed)
        entry = {
            "date": day,
            "path": f"{landing_url.rstrip('/')}/trades/date={day}/",
            "fileCount": len(landed),
        }
        if raw_rows.get(day) is not None:
            entry["rowCount"] = raw_rows[day]
        partitions.append(entry)
    namespace, name = dataset_name(UPath(landing_url) / "trades")
    rows = sum(raw_rows.values()) if raw_rows and len(raw_rows) == len(days) else None
    return InputDataset(
        namespace=namespace,
        name=name,
        facets={"partitions": PartitionsDatasetFacet(partitions=partitions)},
        inputFacets={
            "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=rows, size=size, fileCount=files
            )
        },
    )


def dataset_name(path: UPath) -> tuple[str, str]:
    """OpenLineage naming: ``file`` + absolute path locally, ``s3://bucket`` + key on S3."""
    if path.protocol in ("", "file", "local"):
        return "file", os.path.abspath(path.path)
    bucket, _, key = path.path.partition("/")
    return f"{path.protocol}://{bucket}", key.rstrip("/")


def _failure_message(instance: DagsterInstance, run_id: str, record: EventLogRecord) -> str:
    """The first failed step and the root cause of its error (not "exceeded max_retries")."""
    failures = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for failure in failures:
        event = failure.event_log_entry.dagster_event
        error = event and event.step_failure_data and event.step_failure_data.error
        if error:
            messages = [error.message.strip()]
            while error.cause is not None:
                error = error.cause
                messages.append(error.message.strip())
            return f"{failure.event_log_entry.step_key}: {messages[-1]}" + (
                f" ({messages[0]})" if len(messages) > 1 else ""
            )
    return record.event_log_entry.message or "run failed"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _client_version() -> str:
    from importlib.metadata import version

    return version("openlineage-python")
