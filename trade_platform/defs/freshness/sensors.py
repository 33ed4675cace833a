"""``freshness_sensor``: evaluates the freshness checks once after each deadline."""

from datetime import UTC, datetime, time

from dagster import (
    AssetCheckKey,
    AssetChecksDefinition,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from trade_platform.defs.freshness.checks import expected_partition
from trade_platform.lib.dagster_private import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

FRESHNESS_CHECKS_JOB = "freshness_checks_job"


def _last_evaluated(instance, key: AssetCheckKey) -> float:
    """When the check last finished an evaluation (0 if never)."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
    )
    return history[0].create_timestamp if history else 0.0


def build_freshness_sensor(checks: AssetChecksDefinition, deadline: time) -> SensorDefinition:
    check_keys: list[AssetCheckKey] = sorted(checks.check_keys, key=lambda k: k.to_user_string())
    # A sensor without a target cannot launch anything: the daemon fails every tick that returns
    # a RunRequest. The checks alone are the target, as a named job: the UI shows a selection of
    # checks (no asset is materialized) as its Python repr, a job by its name.
    job = define_asset_job(
        FRESHNESS_CHECKS_JOB,
        selection=AssetSelection.checks(*check_keys),
        description="The freshness checks alone, as freshness_sensor runs them after each deadline.",
    )

    @sensor(
        name="freshness_sensor",
        job=job,
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Evaluates the freshness checks once after each {deadline:%H:%M} UTC deadline.",
    )
    def freshness_sensor(context: SensorEvaluationContext):
        _, due = expected_partition(datetime.now(UTC), deadline)
        # Only a finished evaluation counts: one planned by a queued or cancelled run may never
        # happen. The run key lets the sensor launch at most one run per deadline.
        stale = [key for key in check_keys if _last_evaluated(context.instance, key) < due.timestamp()]
        if not stale:
            return SkipReason(
                f"every freshness check was evaluated after the {due:%Y-%m-%d %H:%M} UTC deadline"
            )
        return RunRequest(run_key=f"freshness:{due.isoformat()}", asset_check_keys=stale)

    return freshness_sensor
