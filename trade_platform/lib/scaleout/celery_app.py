"""The Celery app of the run workers (``trade-platform worker``), and the worker tag of each run.

dagster-celery's ``CeleryRunLauncher`` (``launcher.WorkerAwareCeleryRunLauncher``) sends each run as
an ``execute_job`` task; a worker started with ``-A trade_platform.lib.scaleout.celery_app`` executes
it in a pool process (``--max-tasks-per-child=1``: a fresh process per run). The broker and the
result backend come from ``TRADE_PLATFORM_CELERY_BROKER_URL`` and ``..._BACKEND_URL`` here, so
no file holds them. A run whose pool process dies before the run has started is reported failed
by the worker at once (``fail_a_run_lost_while_starting``).
"""

from __future__ import annotations

import time

from celery.signals import task_failure, task_prerun
from dagster import DagsterInstance, DagsterRunStatus
from dagster_celery.config import TASK_EXECUTE_JOB_NAME, TASK_RESUME_JOB_NAME
from dagster_celery.make_app import make_app
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

from trade_platform.lib.dagster_private import unpack_value
from trade_platform.lib.scaleout.config import WORKER_TAG, celery_app_args

app = make_app(celery_app_args())
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)

# The launcher records the task id on the run right after sending the task; tagging before that
# would overwrite it (adding tags rewrites the run's whole tag set).
TASK_ID_WAIT_SECONDS = 30.0


def run_id_of(task, kwargs: dict | None) -> str | None:
    """The id of the run a dagster-celery ``execute_job`` task executes; None for other tasks."""
    if task is None or task.name not in (TASK_EXECUTE_JOB_NAME, TASK_RESUME_JOB_NAME):
        return None
    packed = (kwargs or {}).get("execute_job_args_packed")
    return None if packed is None else unpack_value(packed).run_id


@task_prerun.connect
def tag_run_with_worker(task_id=None, task=None, kwargs=None, **_) -> None:
    """Record the worker (its ``--name``) that runs a run as the run tag ``trade_platform/worker``."""
    run_id = run_id_of(task, kwargs)
    if run_id is None:
        return
    worker = (task.request.hostname or "").split("@")[0]  # "NAME@host", from --name NAME
    with DagsterInstance.get() as instance:
        deadline = time.monotonic() + TASK_ID_WAIT_SECONDS
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is None or run.tags.get(DAGSTER_CELERY_TASK_ID_TAG) == task_id:
                break
            time.sleep(0.2)
        instance.add_run_tags(run_id, {WORKER_TAG: worker})


@task_failure.connect
def fail_a_run_lost_while_starting(sender=None, task_id=None, exception=None, kwargs=None, **_) -> None:
    """Report a run failed whose task failed while the run was still STARTING (its pool process
    was killed while it loaded the code location, say: the worker's main process records the
    task's failure and sends this signal).

    Run monitoring asks the launcher about STARTED runs only: a STARTING run would wait for
    ``start_timeout_seconds``, which also covers runs legitimately waiting for a free worker and so
    stays long. A STARTED run is left to run monitoring, so one failure is reported per run; run
    retries then launch the failed run again."""
    run_id = run_id_of(sender, kwargs)
    if run_id is None:
        return
    with DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status == DagsterRunStatus.STARTING:
            instance.report_run_failed(
                run, f"The run's process ended before the run started (Celery task {task_id}: {exception!r})"
            )
