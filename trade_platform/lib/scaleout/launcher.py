"""dagster-celery's ``CeleryRunLauncher``, with the two things run monitoring and Terminate need.

- A worker that dies as a whole (SIGKILL, out of memory, a lost machine) leaves its task STARTED
  in the result backend for ever, so the stock health check reports the run as running. Here a
  STARTED task is also confirmed with the worker that holds it (Celery's ``inspect``); when that
  worker is gone the run is reported failed, and run retries launch it again.
- Terminate marks the run CANCELING before revoking its task, so it ends CANCELED (and is not
  retried) rather than FAILURE.
"""

from __future__ import annotations

from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from kombu.exceptions import OperationalError

from trade_platform.lib.dagster_private import CheckRunHealthResult, WorkerStatus

INSPECT_TIMEOUT_SECONDS = 3.0
INSPECT_ATTEMPTS = 3  # a busy broker may miss one reply; a dead worker misses every one


class WorkerAwareCeleryRunLauncher(CeleryRunLauncher):
    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        result = super().check_run_worker_health(run)
        if result.status != WorkerStatus.RUNNING:
            return result
        task_id = run.tags[DAGSTER_CELERY_TASK_ID_TAG]
        started = self.celery.AsyncResult(task_id).info  # {"pid": ..., "hostname": "NAME@host"}
        worker = started.get("hostname") if isinstance(started, dict) else None
        if not worker:
            return result
        for _ in range(INSPECT_ATTEMPTS):
            replies = self.celery.control.inspect(
                destination=[worker], timeout=INSPECT_TIMEOUT_SECONDS
            ).active()
            if replies and worker in replies:
                if any(task.get("id") == task_id for task in replies[worker]):
                    return result
                break  # the worker is alive but no longer runs the task
        if self.celery.AsyncResult(task_id).state == "STARTED":  # not finished in the meantime
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"Celery worker {worker} is gone or no longer runs the run's task"
            )
        return super().check_run_worker_health(run)

    def launch_run(self, context) -> None:
        try:
            super().launch_run(context)
        except OperationalError as exc:  # the broker did not answer
            uri = self.celery.connection_for_write().as_uri()
            raise ConnectionError(f"cannot reach Redis, the Celery broker, at {uri}: {exc}") from exc

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return False
        self._instance.report_run_canceling(run)
        return super().terminate(run_id)
