"""Runs of the code location's jobs, created as the UI and ``dagster job launch`` create them and
executed in this process: the demo's runs.

A run made by ``execute_in_process`` carries no origin: the UI's runs page shows no target for
it, the Overview timeline and the job's history leave it out, and Re-execute warns that the job
"may be a different version". A run created here names the code location of ``workspace.yaml``
(``trade_platform``), its repository and job, and the job's snapshot as that location serves it,
which is what the UI compares (every process computes the same snapshot id:
``lib/partitioned_checks.blocking_asset_check``). It then runs in this process with the in-process executor (a
launched run would start a process and load the code location again, about 8 s a run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from dagster import DagsterInstance, DagsterRun

from trade_platform.lib.dagster_private import (
    JobSubsetSelector,
    WorkspaceFileTarget,
    WorkspaceProcessContext,
    execute_run,
    recon_job_from_origin,
)

WORKSPACE_FILE = Path(__file__).resolve().parents[2] / "workspace.yaml"
LOCATION = "trade_platform"
REPOSITORY = "__repository__"  # the one repository of a Definitions object


class WorkspaceJobs:
    """The jobs of one code location, loaded once by a code server."""

    def __init__(self, instance: DagsterInstance, location) -> None:
        self.instance = instance
        self.location = location

    def run(
        self, job_name: str, *, tags: Mapping[str, str] | None = None, run_config: Mapping | None = None
    ) -> DagsterRun:
        """Create a run of ``job_name`` with ``tags`` (a partition: ``dagster/partition``), execute
        it here, and return it finished (failed runs too: their events are in the instance)."""
        run_config = dict(run_config or {})
        selector = JobSubsetSelector(
            location_name=self.location.name, repository_name=REPOSITORY, job_name=job_name, op_selection=None
        )
        job = self.location.get_job(selector)
        plan = self.location.get_execution_plan(
            job, run_config, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        created = self.instance.create_run(
            job_name=job.name,
            run_id=None,
            run_config=run_config,
            resolved_op_selection=None,
            step_keys_to_execute=None,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**job.tags, **(tags or {})},
            job_snapshot=job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=job.parent_job_snapshot,
            remote_job_origin=job.get_remote_origin(),
            job_code_origin=job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=self.location.get_repository(REPOSITORY).asset_graph,
        )
        execute_run(recon_job_from_origin(created.job_code_origin), created, self.instance)
        return self.instance.get_run_by_id(created.run_id)


@contextlib.contextmanager
def workspace_jobs(
    instance: DagsterInstance, workspace_file: Path = WORKSPACE_FILE, location: str = LOCATION
) -> Iterator[WorkspaceJobs]:
    """The jobs of ``location`` as ``workspace_file`` loads it (a code server for the duration,
    started with this process's environment)."""
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace_file)])) as process:
        yield WorkspaceJobs(instance, process.create_request_context().get_code_location(location))
