"""Lineage: every run's START, COMPLETE, FAIL and ABORT as an OpenLineage run event, from a sensor.

The sensor reads run status changes from the event log after its cursor (the last event-log id it
has emitted), so every status change is emitted once, in order, also across daemon restarts;
``events`` builds the events (datasets are lake paths with partitions and row counts) and
writes them to ``<lake>/lineage/`` and, when ``OPENLINEAGE_URL`` is set, to that endpoint.
"""

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    EventLogRecord,
    RunStatusChangeRecordsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from trade_platform.lib.lake import Lake

BATCH = 100
RUN_STATUS_EVENTS = (
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_CANCELED,
)


def run_status_records(instance: DagsterInstance, after: int) -> list[EventLogRecord]:
    """Run start/success/failure/cancel records after storage id ``after``, oldest first, gap-free."""
    batches = [
        instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after),
            limit=BATCH,
            ascending=True,
        ).records
        for event_type in RUN_STATUS_EVENTS
    ]
    # A full batch may stop early; never step past the first id some type might still follow.
    limit = min((batch[-1].storage_id for batch in batches if len(batch) == BATCH), default=None)
    records = sorted((r for batch in batches for r in batch), key=lambda r: r.storage_id)
    return [r for r in records if limit is None or r.storage_id <= limit]


def build_lineage_sensor(partitions: DailyPartitionsDefinition) -> SensorDefinition:
    @sensor(
        name="openlineage_sensor",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Emits OpenLineage START/COMPLETE/FAIL/ABORT events of every run to <lake>/lineage/ "
        "of the `lake` resource (and to OPENLINEAGE_URL when set).",
    )
    def openlineage_sensor(context: SensorEvaluationContext, lake: Lake) -> SensorResult:
        after = int(context.cursor or 0)
        records = run_status_records(context.instance, after)
        if not records:
            return SensorResult(skip_reason="no run started or finished since the last tick")
        # Imported here, not at the top: run workers load this module but never emit.
        from trade_platform.defs.lineage.events import LineageEmitter, build_run_event

        emitter = LineageEmitter(lake.url)
        asset_graph = context.repository_def.asset_graph
        emitted = 0
        for record in records:
            run = context.instance.get_run_by_id(record.run_id)
            try:
                if run is not None:
                    emitter.emit(build_run_event(record, run, context.instance, asset_graph, partitions))
                    emitted += 1
            except Exception as exc:  # emit nothing twice: keep the cursor at the last event sent
                context.log.error(f"OpenLineage emission stopped at run {record.run_id}: {exc}")
                return SensorResult(cursor=str(after), skip_reason=f"emission failed: {exc}")
            after = record.storage_id
        context.log.info(f"emitted {emitted} OpenLineage run events")
        return SensorResult(cursor=str(after))

    return openlineage_sensor
