"""``kafka_lag_sensor``: launches ``kafka_ingest`` when the consumer group has lag.

Lag is each partition's end offset minus the group's committed offset (or the partition's first
offset when the group has none). One run at a time: while a ``kafka_ingest`` run is queued or
running, the sensor waits, since that run already consumes up to the ends it saw. It is off by
default: turn it on when no ``trade-platform stream`` consumes the same group (its members would
rebalance with every run).
"""

from __future__ import annotations

import dagster as dg

from trade_platform.core.kafka.client import group_lag
from trade_platform.core.storage import StorageError
from trade_platform.kafka_settings import KafkaSettings
from trade_platform.lib.runs import unfinished_run

INTERVAL_SECONDS = 30


def build_kafka_lag_sensor(kafka: KafkaSettings, job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name="kafka_lag_sensor",
        job=job,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Launches {job.name} when group {kafka.group!r} lags on topic {kafka.topic!r}.",
    )
    def kafka_lag_sensor(context: dg.SensorEvaluationContext):
        in_progress = unfinished_run(context.instance, job.name)
        if in_progress:
            return dg.SkipReason(f"{job.name} run {in_progress.dagster_run.run_id} is still in progress")
        try:
            lag = group_lag(kafka)
        except StorageError as exc:
            return dg.SkipReason(str(exc))
        total = sum(lag.values())
        if not total:
            return dg.SkipReason(f"group {kafka.group!r} has no lag on {kafka.topic!r}")
        context.log.info(
            f"lag {total} messages: " + ", ".join(f"p{p} {n}" for p, n in sorted(lag.items()) if n)
        )
        return dg.RunRequest(tags={"trade_platform/kafka_lag": str(total)})

    return kafka_lag_sensor
