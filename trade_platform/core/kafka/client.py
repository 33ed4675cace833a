"""The Kafka client settings, errors, offsets and messages shared by the consumer and the lag sensor."""

from __future__ import annotations

from typing import Any

import polars as pl
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from trade_platform.core.kafka.messages import MESSAGE_SCHEMA
from trade_platform.core.storage import PermanentStorageError, TransientStorageError
from trade_platform.kafka_settings import KAFKA_BOOTSTRAP_SERVERS_ENV, KafkaSettings

REBALANCED = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError.FENCED_MEMBER_EPOCH,
    KafkaError.STALE_MEMBER_EPOCH,
}
"""Commit errors that mean the partitions moved to another member (its to re-read), not a fault."""


class KafkaUnavailableError(TransientStorageError):
    """The brokers cannot be reached or refused a commit (retried); the message names them."""


class KafkaTopicError(PermanentStorageError):
    """No brokers are configured, or the topic does not exist (retrying cannot help)."""


def where(kafka: KafkaSettings) -> str:
    """How errors name the brokers (never any other setting: those may hold secrets)."""
    return f"Kafka at {kafka.bootstrap_servers} ({KAFKA_BOOTSTRAP_SERVERS_ENV})"


def brokers(kafka: KafkaSettings) -> str:
    """The bootstrap servers; none configured fails, naming the variable."""
    if not kafka.bootstrap_servers:
        raise KafkaTopicError(f"Set {KAFKA_BOOTSTRAP_SERVERS_ENV} to the Kafka brokers")
    return kafka.bootstrap_servers


def consumer(kafka: KafkaSettings, **callbacks: Any) -> Consumer:
    """A consumer of the group that never commits by itself: offsets are committed by hand once
    the files are durable. Any ``TRADE_PLATFORM_KAFKA_<SETTING>`` applies, security included."""
    brokers(kafka)
    try:
        return _consumer(kafka, callbacks)
    except KafkaException as exc:  # a setting librdkafka rejects; the message names it, not its value
        raise KafkaTopicError(
            f"{where(kafka)}: the consumer settings are refused: {exc.args[0].str()}"
        ) from None


def _consumer(kafka: KafkaSettings, callbacks: dict[str, Any]) -> Consumer:
    return Consumer(
        {
            "isolation.level": "read_committed",
            **kafka.client_config,
            "auto.offset.reset": "earliest",  # a gap it leaves is recorded as lost (core.kafka.ranges)
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": kafka.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            **callbacks,
        }
    )


def watermarks(client: Consumer, kafka: KafkaSettings) -> tuple[dict[int, int], dict[int, int]]:
    """Each partition's first and end offsets now; fails clearly when the brokers or the topic
    are missing."""
    topic = kafka.topic
    try:
        metadata = client.list_topics(topic, timeout=kafka.timeout_seconds)
    except KafkaException as exc:
        raise KafkaUnavailableError(f"{where(kafka)} is unreachable: {exc.args[0].str()}") from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise KafkaTopicError(f"Topic {topic!r} does not exist on {where(kafka)}")
    offsets = {partition: partition_offsets(client, kafka, partition) for partition in found.partitions}
    return {p: first for p, (first, _) in offsets.items()}, {p: end for p, (_, end) in offsets.items()}


def partition_offsets(client: Consumer, kafka: KafkaSettings, partition: int) -> tuple[int, int]:
    """The partition's first and end offsets now, asked of the broker."""
    try:
        return client.get_watermark_offsets(TopicPartition(kafka.topic, partition), kafka.timeout_seconds)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"{where(kafka)}: cannot read {kafka.topic}[{partition}]: {exc}"
        ) from None


def group_lag(kafka: KafkaSettings) -> dict[int, int]:
    """Messages per partition not yet committed by the group."""
    client = consumer(kafka)
    try:
        starts, ends = watermarks(client, kafka)
        try:
            committed = client.committed(
                [TopicPartition(kafka.topic, p) for p in sorted(ends)], timeout=kafka.timeout_seconds
            )
        except KafkaException as exc:
            raise KafkaUnavailableError(f"{where(kafka)}: cannot read group {kafka.group!r}: {exc}") from None
        return {tp.partition: ends[tp.partition] - max(tp.offset, starts[tp.partition]) for tp in committed}
    finally:
        client.close()


def message_frame(messages: list[Message]) -> pl.DataFrame:
    """Consumed messages of one topic as ``landed_lines`` takes them."""
    return pl.DataFrame(
        {
            "topic": [messages[0].topic()] * len(messages),
            "partition": [m.partition() for m in messages],
            "offset": [m.offset() for m in messages],
            "timestamp_ms": [ts if kind else None for kind, ts in (m.timestamp() for m in messages)],
            "value": [(m.value() or b"").decode("utf-8", errors="replace") for m in messages],
        },
        schema=MESSAGE_SCHEMA,
    )
