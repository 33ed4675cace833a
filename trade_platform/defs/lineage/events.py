"""OpenLineage run events built from a Dagster run's event log, and where they are sent.

A run's START, COMPLETE, FAIL and ABORT (a cancelled run) are events of a job named after what
ran. COMPLETE, FAIL and ABORT name the run's datasets as the run recorded them: the table folders
``<lake>/<asset>`` it wrote (from the paths of its materializations) and read (the upstream
partitions it loaded), and the landing and corrections files ingest read, each with the
partitions touched, their files and row counts in the ``tradePlatform_partitions`` facet. Events are
appended as JSON lines to ``<lake>/lineage/events-YYYY-MM-DD.jsonl`` (by event time, UTC) and,
when ``OPENLINEAGE_URL`` is set, also sent through the OpenLineage client's HTTP transport (which
reads the usual ``OPENLINEAGE_*`` variables). ``sensors.py`` imports this module only when a tick
has events to emit, so run workers do not pay for importing the OpenLineage client.
"""

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DailyPartitionsDefinition,
    EventLogRecord,
)
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    job_type_job,
    nominal_time_run,
    processing_engine_run,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from upath import UPath

from trade_platform.core.lake_layout import day_folder
from trade_platform.defs.ingest.metadata import CORRECTIONS_FILES, LANDING_FILES
from trade_platform.defs.lineage.datasets import PartitionFile, lake_datasets, read_files
from trade_platform.lib.dagster_private import is_reserved_asset_job_name
from trade_platform.lib.lake import METADATA_LOCATION, ROW_COUNT

NAMESPACE = "trade_platform"
PRODUCER = "https://github.com/trade-platform/trade_platform"
LINEAGE_FOLDER = "lineage"  # <lake>/lineage/
STATES = {
    DagsterEventType.RUN_START: RunState.START,
    DagsterEventType.RUN_SUCCESS: RunState.COMPLETE,
    DagsterEventType.RUN_FAILURE: RunState.FAIL,
    DagsterEventType.RUN_CANCELED: RunState.ABORT,
}


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
    partitions: DailyPartitionsDefinition,
) -> RunEvent:
    """The run's event for a status change. Datasets come from the run's own record: what it
    materialized (paths from the I/O manager), the upstream partitions it loaded and the landing
    files it read. START names none: where a run writes is known once it has written."""
    state = STATES[record.event_log_entry.dagster_event_type]
    days = _run_days(run, partitions)
    run_facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=dagster.__version__, name="dagster", openlineageAdapterVersion=_client_version()
        )
    }
    if days:
        window = (
            partitions.time_window_for_partition_key(days[0]),
            partitions.time_window_for_partition_key(days[-1]),
        )
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_iso(window[0].start), nominalEndTime=_iso(window[1].end)
        )
    if state is RunState.FAIL:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=_failure_message(instance, run.run_id, record), programmingLanguage="python"
        )
    inputs: list[InputDataset] = []
    outputs: list[OutputDataset] = []
    if state is not RunState.START:
        produced = _materialized(instance, run.run_id)
        outputs = lake_datasets(produced, output=True)
        inputs = read_files(produced) + lake_datasets(_loaded(instance, run, asset_graph, days), output=False)
    return RunEvent(
        eventType=state,
        eventTime=_iso(datetime.fromtimestamp(record.timestamp, UTC)),
        run=Run(runId=run.run_id, facets=run_facets),
        job=Job(
            namespace=NAMESPACE,
            name=job_name(run),
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="DAGSTER", jobType="JOB"
                )
            },
        ),
        producer=PRODUCER,
        inputs=inputs,
        outputs=outputs,
    )


def job_name(run: DagsterRun) -> str:
    """The run's job, or for Dagster's hidden asset job what it ran (``assets:a+b``,
    ``checks:a:c``), so that consumers do not merge unrelated runs into one job."""
    if not is_reserved_asset_job_name(run.job_name):
        return run.job_name
    assets = sorted(key.to_user_string() for key in run.asset_selection or ())
    if assets:
        return "assets:" + "+".join(assets)
    checks = sorted(key.to_user_string() for key in run.asset_check_selection or ())
    return "checks:" + "+".join(checks) if checks else run.job_name


def _loaded(
    instance: DagsterInstance, run: DagsterRun, asset_graph, days: Sequence[str]
) -> list[PartitionFile]:
    """The upstream partitions the run read: of each parent asset outside the run, the latest
    materialization from before the run started."""
    planned = _planned_assets(instance, run.run_id)
    parents = {
        parent for key in planned if asset_graph.has(key) for parent in asset_graph.get(key).parent_keys
    } - planned
    started = (instance.get_run_record_by_id(run.run_id) or run).start_time
    loaded = []
    for key in sorted(parents, key=lambda k: k.to_user_string()):
        for day in days:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, asset_partitions=[day], before_timestamp=started), limit=1
            ).records
            if records:
                loaded.append(_partition_file(records[0].asset_materialization))
    return loaded


def _run_days(run: DagsterRun, partitions: DailyPartitionsDefinition) -> list[str]:
    tags = run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    if start and end:
        return [day for day in partitions.get_partition_keys() if start <= day <= end]
    return []


def _planned_assets(instance: DagsterInstance, run_id: str) -> set[AssetKey]:
    planned = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return {r.event_log_entry.dagster_event.asset_key for r in planned if r.event_log_entry.dagster_event}


def _materialized(instance: DagsterInstance, run_id: str) -> list[PartitionFile]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    return [
        _partition_file(r.event_log_entry.asset_materialization)
        for r in records
        if r.event_log_entry.asset_materialization
    ]


def _partition_file(materialization) -> PartitionFile:
    metadata = materialization.metadata
    path, rows = metadata.get("path"), metadata.get(ROW_COUNT)
    path, table = path and str(path.value), None
    if METADATA_LOCATION in metadata:  # an Iceberg table: the day's data folder in the table's location
        table = str(metadata[METADATA_LOCATION].value).rsplit("/metadata/", 1)[0]
        path = f"{table}/data/{day_folder(materialization.partition)}"
    return PartitionFile(
        materialization.asset_key,
        materialization.partition,
        path,
        rows and int(rows.value),
        {key: metadata[key].value for key in (LANDING_FILES, CORRECTIONS_FILES) if key in metadata},
        table,
    )


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
