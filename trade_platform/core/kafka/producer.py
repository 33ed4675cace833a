"""The topic from zero, and the generator's trades onto it: ``trade-platform stream --create-topic``
and ``trade-platform generate --to-kafka``.

A trade is one message: its JSON object as a JSON Lines landing file holds it (``generate.render``,
so a malformed record is broken JSON, and every other fault is in its fields), keyed by its
trade_id with Java's partitioner (murmur2), so a trade id's duplicate follows it in one partition.
Its Kafka timestamp is the last millisecond of its generated day: the consumer files a message by
its trade's timestamp, and by this one when the trade's cannot be read or is in the future, so a
bad record lands in its day's partition, as in the files; a trade stamped on the day before or
after lands on that day (from Kafka it is not outside its partition). A day that gets a corrupt
file gets one message of the same bytes (a ``malformed_record`` once landed).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import polars as pl
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from trade_platform.core.generate import CORRUPT, GeneratedDay, render
from trade_platform.core.kafka.client import KafkaTopicError, KafkaUnavailableError, brokers, where
from trade_platform.kafka_settings import KafkaSettings

MESSAGES_SCHEMA = {"key": pl.String(), "value": pl.Binary(), "timestamp_ms": pl.Int64()}
QUIET = {"log_level": 2}
"""librdkafka logs each failed connection attempt; the errors raised here say what failed."""
DELIVERY_SECONDS = 120.0
"""How long a message may wait for its acknowledgement (``message.timeout.ms``)."""


def trade_messages(generated: GeneratedDay, *, corrupt: bool = False) -> pl.DataFrame:
    """The day's records as messages (``MESSAGES_SCHEMA``), in the generator's order."""
    lines = render(generated.records, "jsonl").split(b"\n")[:-1]  # the text ends with a line break
    values = [*lines, CORRUPT] if corrupt else lines
    end = datetime(generated.day.year, generated.day.month, generated.day.day, tzinfo=UTC) + timedelta(days=1)
    return pl.DataFrame(
        {
            "key": [*generated.records["trade_id"], *([None] if corrupt else [])],
            "value": values,
            "timestamp_ms": [int(end.timestamp() * 1000) - 1] * len(values),
        },
        schema=MESSAGES_SCHEMA,
    )


def produce(kafka: KafkaSettings, topic: str, batches: Iterable[pl.DataFrame]) -> dict[int, int]:
    """Send the batches of messages (taken one by one, once the topic is known to exist) and wait
    for every acknowledgement; return messages per partition. Unreachable brokers, a missing topic
    or any message not delivered fail, naming them."""
    producer = Producer(
        {
            **kafka.client_config,
            **QUIET,
            "bootstrap.servers": brokers(kafka),
            "enable.idempotence": True,  # acks=all, no duplicates or reordering on retries
            "partitioner": "murmur2_random",
            "linger.ms": 20,
            "message.timeout.ms": int(DELIVERY_SECONDS * 1000),
        }
    )
    partitions(producer, kafka, topic, missing="create it with `trade-platform stream --create-topic`")
    delivered: dict[int, int] = {}
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message) -> None:
        if error is None:
            delivered[message.partition()] = delivered.get(message.partition(), 0) + 1
        else:
            errors.append(error)

    sent = 0
    for messages in batches:
        for key, value, timestamp_ms in messages.iter_rows():  # one call per message: the client's API
            while True:
                try:
                    producer.produce(topic, value, key=key, timestamp=timestamp_ms, on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
            producer.poll(0)
        sent += messages.height
    left = producer.flush(DELIVERY_SECONDS)
    if errors or left:
        first = f": {errors[0].str()}" if errors else ""
        raise KafkaUnavailableError(
            f"{where(kafka)}: {len(errors) + left} of {sent} messages to {topic!r} not delivered{first}"
        )
    return dict(sorted(delivered.items()))


def create_topic(kafka: KafkaSettings, topic: str, partition_count: int, replication_factor: int) -> str:
    """Create the topic unless it has at least ``partition_count`` partitions already (fewer
    fail: adding partitions would move keys); return what was done."""
    admin = AdminClient({**kafka.client_config, **QUIET, "bootstrap.servers": brokers(kafka)})
    existing = partitions(admin, kafka, topic)
    if existing is None:
        new = NewTopic(topic, num_partitions=partition_count, replication_factor=replication_factor)
        wait = kafka.timeout_seconds
        try:
            admin.create_topics([new], operation_timeout=wait, request_timeout=wait)[topic].result(wait)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # else created meanwhile
                raise KafkaTopicError(
                    f"{where(kafka)} refused to create {topic!r}: {exc.args[0].str()}"
                ) from None
        else:
            wait_for_leaders(admin, kafka, topic)
            return (
                f"created topic {topic!r} on {where(kafka)}: {partition_count} partitions, "
                f"replication factor {replication_factor}"
            )
        existing = partitions(admin, kafka, topic)
    if existing < partition_count:
        raise KafkaTopicError(
            f"topic {topic!r} on {where(kafka)} has {existing} partitions, fewer than {partition_count}"
        )
    return f"topic {topic!r} exists on {where(kafka)} with {existing} partitions: nothing to do"


def partitions(
    client: AdminClient | Producer, kafka: KafkaSettings, topic: str, missing: str = ""
) -> int | None:
    """The topic's partition count, None if it does not exist (or fail with ``missing``)."""
    try:  # all topics: asking for one by name could create it where the brokers auto-create
        found = client.list_topics(timeout=kafka.timeout_seconds).topics.get(topic)
    except KafkaException as exc:
        raise KafkaUnavailableError(f"{where(kafka)} is unreachable: {exc.args[0].str()}") from None
    if found is None or found.error is not None:
        if missing:
            raise KafkaTopicError(f"Topic {topic!r} does not exist on {where(kafka)}: {missing}")
        return None
    return len(found.partitions)


def wait_for_leaders(admin: AdminClient, kafka: KafkaSettings, topic: str) -> None:
    """Until every partition of the new topic has a leader, so that producing can begin."""
    deadline = time.monotonic() + kafka.timeout_seconds
    while time.monotonic() < deadline:
        found = admin.list_topics(timeout=kafka.timeout_seconds).topics.get(topic)
        if (
            found
            and found.error is None
            and found.partitions
            and all(p.leader >= 0 for p in found.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise KafkaUnavailableError(f"{where(kafka)}: {topic!r} has partitions without a leader")
