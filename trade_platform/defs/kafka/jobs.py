"""``kafka_ingest``: one micro-batch of the Kafka topic into the landing zone, as a run.

The run consumes the partitions the group gives it up to the end offsets it saw when it started,
writes them into the landing zone and commits (``trade_platform.core.kafka.consumer``); the
landing sensor then materializes the days that changed. Unreachable brokers are retried as
transient storage faults are (``StepSettings``); nothing is committed before its files are durable.
"""

from datetime import date

import dagster as dg
from dagster import OpExecutionContext

from trade_platform.core.kafka.consumer import LandingConsumer
from trade_platform.kafka_settings import KafkaSettings
from trade_platform.lib.policies import StepSettings
from trade_platform.lib.resources import LandingZone

KAFKA_INGEST = "kafka_ingest"


def build_kafka_ingest_job(kafka: KafkaSettings, start_date: date) -> dg.JobDefinition:
    @dg.op(
        name="land_kafka_messages",
        out=dg.Out(dg.Nothing),
        description=f"Consumes topic {kafka.topic!r} (group {kafka.group!r}) into the landing zone.",
    )
    def land_kafka_messages(context: OpExecutionContext, landing: LandingZone, step_settings: StepSettings):
        with step_settings.retry_storage_faults(context.retry_number):
            summary = LandingConsumer(kafka, landing.url, context.log, start_date).run(to_end_offsets=True)
        context.log.info(f"landed {summary.messages} messages in {summary.files} files")
        yield dg.Output(
            None,
            metadata={
                "messages": summary.messages,
                "files": summary.files,
                "batches": summary.batches,
                "messages_per_day": dg.MetadataValue.json(dict(sorted(summary.by_day.items()))),
                "topic": kafka.topic,
                "group": kafka.group,
            },
        )

    @dg.job(name=KAFKA_INGEST, description="One micro-batch of the Kafka topic into the landing zone.")
    def kafka_ingest():
        land_kafka_messages()

    return kafka_ingest
