"""Runs still to finish: the sensors launch nothing that such a run is already doing."""

from __future__ import annotations

from collections.abc import Mapping

from dagster import DagsterInstance, DagsterRunStatus, RunRecord, RunsFilter

UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def unfinished_run(
    instance: DagsterInstance, job_name: str, tags: Mapping[str, str] | None = None
) -> RunRecord | None:
    """A queued or running run of ``job_name`` with ``tags``, if there is one."""
    records = instance.get_run_records(RunsFilter(job_name=job_name, statuses=UNFINISHED, tags=tags), limit=1)
    return records[0] if records else None
