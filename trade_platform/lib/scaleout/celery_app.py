"""The Celery app of the run workers (``trade-platform worker``), and the worker tag of each run.

dagster-celery's ``CeleryRunLauncher`` (``launcher.WorkerAwareCeleryRunLauncher``) sends each run as
an ``execute_job`` task; a worker started with ``-A trade_platform.lib.scaleout.celery_app`` executes
it in a pool process (``--max-tasks-per-child=1``: a fresh process per run). The broker and the
result backend come from ``TRADE_PLATFORM_CELERY_BROKER_URL`` and ``..._BACKEND_URL`` here, so
no file holds them.
"""

from __future__ import annotations

import time

from celery.signals import task_prerun
from dagster import DagsterInstance
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


@task_prerun.connect
def tag_run_with_worker(task_id=None, task=None, kwargs=None, **_) -> None:
    """Record the worker (its ``--name``) that runs a run as the run tag ``trade_platform/worker``."""
    if task is None or task.name not in (TASK_EXECUTE_JOB_NAME, TASK_RESUME_JOB_NAME):
        return
    packed = (kwargs or {}).get("execute_job_args_packed")
    if packed is None:
        return
    run_id = unpack_value(packed).run_id
    worker = (task.request.hostname or "").split("@")[0]  # "NAME@host", from --name NAME
    with DagsterInstance.get() as instance:
        deadline = time.monotonic() + TASK_ID_WAIT_SECONDS
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is None or run.tags.get(DAGSTER_CELERY_TASK_ID_TAG) == task_id:
                break
            time.sleep(0.2)
        instance.add_run_tags(run_id, {WORKER_TAG: worker})
