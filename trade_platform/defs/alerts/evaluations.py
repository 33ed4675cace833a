"""The failed ERROR-severity check evaluations of finished runs, in the order the runs finished,
behind a cursor.

Check evaluations are read run by run, once the run has finished (succeeded, failed or was
cancelled): run status changes are indexed for the whole instance on every event log storage,
while evaluation events are not (SQLite keeps them in each run's own shard). An evaluation
reported outside any run (``report_asset_check_evaluation``) is therefore not alerted on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    RunStatusChangeRecordsFilter,
)

FINISHED = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
RUNS_PER_TICK = 25


@dataclass(frozen=True)
class Cursor:
    """Where the sensor stands: every run whose status change is at or before ``after`` is done,
    and so are the first ``done`` failed evaluations of the next run (a tick may stop inside one)."""

    after: int
    done: int = 0

    def serialize(self) -> str:
        return json.dumps({"after": self.after, "done": self.done})

    @classmethod
    def parse(cls, text: str) -> Cursor:
        return cls(**json.loads(text))

    @classmethod
    def now(cls, instance: DagsterInstance) -> Cursor:
        """After the newest finished run: what finished before alerts were enabled is not reported."""
        newest = [
            r.storage_id for t in FINISHED for r in instance.fetch_run_status_changes(t, limit=1).records
        ]
        return cls(max(newest, default=0))


@dataclass(frozen=True)
class FailedCheck:
    evaluation: AssetCheckEvaluation
    run_id: str
    tags: dict[str, str]
    """The run's tags (its partition or partition range)."""


def failed_checks(instance: DagsterInstance, cursor: Cursor) -> Iterator[tuple[FailedCheck | None, Cursor]]:
    """Each failed ERROR evaluation after ``cursor`` with the cursor once it is reported, and
    after each run (None) the cursor past it."""
    changes = sorted(
        (
            record
            for event_type in FINISHED
            for record in instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(event_type, after_storage_id=cursor.after),
                limit=RUNS_PER_TICK,
                ascending=True,
            ).records
        ),
        key=lambda record: record.storage_id,
    )[:RUNS_PER_TICK]
    for change in changes:
        run_id = change.run_id
        records = instance.get_records_for_run(
            run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        failed = [
            evaluation
            for record in records
            if (evaluation := record.event_log_entry.dagster_event.asset_check_evaluation_data)
            and not evaluation.passed
            and evaluation.severity == AssetCheckSeverity.ERROR
        ]
        skip = cursor.done
        run = instance.get_run_by_id(run_id) if failed[skip:] else None
        for index, evaluation in enumerate(failed[skip:], start=skip + 1):
            yield FailedCheck(evaluation, run_id, dict(run.tags) if run else {}), Cursor(cursor.after, index)
        cursor = Cursor(change.storage_id)
        yield None, cursor
