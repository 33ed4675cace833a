"""Kafka: the ``kafka_ingest`` job that lands the topic's messages and the ``kafka_lag_sensor``
that runs it when the consumer group falls behind."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.kafka.jobs import build_kafka_ingest_job
from trade_platform.defs.kafka.sensors import build_kafka_lag_sensor
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    job = build_kafka_ingest_job(settings.kafka, settings.start_date)
    return dg.Definitions(jobs=[job], sensors=[build_kafka_lag_sensor(settings.kafka, job)])
