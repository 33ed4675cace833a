"""The alert sensors, evaluated by the daemon: ``run_failure_alert_sensor`` reports each failed
run, ``check_failure_alert_sensor`` each failed ERROR-severity check evaluation (freshness
violations and a DLQ rate above its error gate among them).

Each follows the runs' status changes with a cursor the daemon stores after every tick, so a
restart goes on where it stopped and no event is reported twice; a sensor's first tick starts
from the newest run (enabling alerts does not report the past). Delivery is retried and logged by
``core.alerts.delivery``, never raised, so a target that is down fails neither a tick nor a run.
"""

from __future__ import annotations

import time

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from trade_platform.core.alerts.delivery import deliver
from trade_platform.core.alerts.targets import AlertTargets
from trade_platform.defs.alerts.evaluations import Cursor, failed_checks
from trade_platform.defs.alerts.messages import check_alert, run_alert

INTERVAL_SECONDS = 15
"""How soon after an event its alert goes out, at most (plus the daemon's own loop)."""
TICK_BUDGET_SECONDS = 15.0
"""A tick stops taking new events after this long (a slow target retries), well within the
daemon's 60 s limit on a sensor's evaluation; the rest goes out on the next tick."""


def build_run_failure_alert_sensor(targets: AlertTargets) -> SensorDefinition:
    @run_failure_sensor(
        name="run_failure_alert_sensor",
        # Every run of the instance: also those executed without the code location's origin
        # (``dagster job execute``, ``execute_in_process``).
        monitor_all_code_locations=True,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description="Sends one alert per failed run (TRADE_PLATFORM_ALERT_*), linking to the run's page.",
    )
    def run_failure_alert_sensor(context: RunFailureSensorContext) -> None:
        why = context.failure_event.message
        alert = run_alert(context.dagster_run, context.get_step_failure_events(), why, targets.ui_url)
        deliver(alert, targets, context.log)

    return run_failure_alert_sensor


def build_check_failure_alert_sensor(targets: AlertTargets) -> SensorDefinition:
    @sensor(
        name="check_failure_alert_sensor",
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description="Sends one alert per failed ERROR-severity check evaluation (TRADE_PLATFORM_ALERT_*), "
        "linking to the check's page.",
    )
    def check_failure_alert_sensor(context: SensorEvaluationContext) -> SkipReason:
        if context.cursor is None:
            context.update_cursor(Cursor.now(context.instance).serialize())
            return SkipReason("alerting on the check evaluations of runs that finish from now on")
        started, sent, undelivered = time.monotonic(), 0, 0
        for failed, cursor in failed_checks(context.instance, Cursor.parse(context.cursor)):
            if failed:
                alert = check_alert(failed.evaluation, failed.run_id, failed.tags, targets.ui_url)
                if deliver(alert, targets, context.log):
                    sent += 1
                else:
                    undelivered += 1
            context.update_cursor(cursor.serialize())
            if time.monotonic() - started > TICK_BUDGET_SECONDS:
                break
        return SkipReason(
            f"{sent} alert(s) delivered"
            + (f", {undelivered} not delivered (see the log)" if undelivered else "")
        )

    return check_failure_alert_sensor
