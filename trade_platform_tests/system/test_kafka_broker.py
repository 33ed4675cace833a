"""The real Kafka broker the tests use (scripts/kafka_broker.py): messages round-trip through a
4-partition topic, clients fail while it is stopped, and a restart brings the messages back."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

TOPIC = "broker-check"
MESSAGES = {f"key-{n}": f"value-{n}" for n in range(40)}


def _consume(bootstrap: str, expected: int, timeout: float = 30.0) -> list:
    """Every message of TOPIC from the beginning, as a new consumer group sees it."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([TOPIC])
    received, deadline = [], time.monotonic() + timeout
    try:
        while len(received) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            received.append(message)
    finally:
        consumer.close()
    return received


def _as_dict(messages: list) -> dict[str, str]:
    return {message.key().decode(): message.value().decode() for message in messages}


def test_messages_round_trip_and_outlive_a_broker_restart(kafka_broker):
    bootstrap = kafka_broker.bootstrap_servers
    kafka_broker.create_topic(TOPIC, 4)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in MESSAGES.items():
        producer.produce(TOPIC, key=key, value=value)
    assert producer.flush(10) == 0

    received = _consume(bootstrap, len(MESSAGES))
    assert _as_dict(received) == MESSAGES and len(received) == len(MESSAGES)
    assert {message.partition() for message in received} == {0, 1, 2, 3}

    kafka_broker.stop()
    assert not kafka_broker.is_running()
    with pytest.raises(KafkaException):
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=1.5)
    failures = []
    unreachable = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 1500})
    unreachable.produce(TOPIC, key="lost", value="lost", on_delivery=lambda err, _: failures.append(err))
    assert unreachable.flush(10) == 0  # the delivery report came: a failure, not a delivery
    assert [error.code() for error in failures] == [KafkaError._MSG_TIMED_OUT]

    kafka_broker.restart()
    assert kafka_broker.bootstrap_servers == bootstrap  # same port: clients reconnect as they are
    assert _as_dict(_consume(bootstrap, len(MESSAGES))) == MESSAGES
