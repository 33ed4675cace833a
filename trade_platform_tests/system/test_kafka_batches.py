"""How many files Kafka makes, on a real broker: a partition's batch closes at a message count, a
byte size or a rotation interval, whichever comes first, and every message still lands exactly once."""

import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from confluent_kafka import Producer

from trade_platform.core.kafka.consumer import LandingConsumer
from trade_platform.settings import DEFAULT_START_DATE
from trade_platform_tests.system.test_kafka_ingest import (
    PARTITIONS,
    Log,
    kafka_files,
    kafka_settings,
    landed,
    produce,
    trade_messages,
)

VALUE_BYTES = 40


def produce_sized(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    """``count`` JSON messages of exactly ``VALUE_BYTES`` bytes each to partition 0."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(start, start + count):
        value = f'{{"trade_id": "T{n:08d}", "side": "buy"}}'.ljust(VALUE_BYTES).encode()
        assert len(value) == VALUE_BYTES
        producer.produce(topic, value, partition=0)
    assert producer.flush(30) == 0


def ranges(landing: Path) -> list[tuple[int, int]]:
    """(first, last) offsets of each landed file of partition 0, in offset order."""
    found = [re.search(r"-p0-(\d+)-(\d+)\.jsonl$", path.name) for path in kafka_files(landing)]
    return sorted({(int(m[1]), int(m[2])) for m in found if m})


def test_files_close_at_the_message_count_and_at_the_byte_size(kafka_broker, tmp_path):
    topic = "batch-limits"
    kafka_broker.create_topic(topic, 1)
    produce_sized(kafka_broker.bootstrap_servers, topic, 1000)
    by_count, by_bytes = tmp_path / "by-count", tmp_path / "by-bytes"
    counted = kafka_settings(kafka_broker.bootstrap_servers, topic, batch_messages=300)
    LandingConsumer(counted, str(by_count), Log(), DEFAULT_START_DATE).run(to_end_offsets=True)
    assert ranges(by_count) == [(0, 299), (300, 599), (600, 899), (900, 999)]

    # 10 values of 40 bytes fill 400 bytes; an 11th would not fit
    sized = replace(counted, group="by-bytes", batch_messages=10**6, batch_bytes=10 * VALUE_BYTES + 39)
    LandingConsumer(sized, str(by_bytes), Log(), DEFAULT_START_DATE).run(to_end_offsets=True)
    assert ranges(by_bytes) == [(first, min(first + 9, 999)) for first in range(0, 1000, 10)]
    assert landed(by_bytes) == [(0, offset) for offset in range(1000)]


def test_a_message_larger_than_the_byte_size_is_a_batch_of_its_own(kafka_broker, tmp_path):
    topic = "batch-large-message"
    kafka_broker.create_topic(topic, 1)
    produce_sized(kafka_broker.bootstrap_servers, topic, 5)
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic, batch_bytes=VALUE_BYTES - 1)
    LandingConsumer(settings, str(tmp_path), Log(), DEFAULT_START_DATE).run(to_end_offsets=True)
    assert ranges(tmp_path) == [(n, n) for n in range(5)]


def test_a_quiet_partition_rotates_its_file_at_the_interval(kafka_broker, tmp_path):
    """``stream``: a batch far below its limits is written once it is ``rotate_seconds`` old, not
    before; on stop, what was read since is written too."""
    topic = "batch-rotation"
    kafka_broker.create_topic(topic, 1)
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic, rotate_seconds=2.0)
    consumer = LandingConsumer(settings, str(tmp_path), Log(), DEFAULT_START_DATE)
    seen: dict[str, float] = {}

    def should_stop() -> bool:
        now = time.monotonic()
        if consumer.buffered and "read" not in seen:
            seen["read"] = now
        if ranges(tmp_path) and "written" not in seen:
            seen["written"] = now
            produce_sized(kafka_broker.bootstrap_servers, topic, 3, start=10)  # read, then stopped
        if "written" in seen and consumer.buffered == 3:
            return True
        assert now - seen.get("read", now) < 20, "no rotation"
        return False

    produce_sized(kafka_broker.bootstrap_servers, topic, 10)
    consumer.run(to_end_offsets=False, should_stop=should_stop)
    assert seen["written"] - seen["read"] >= 2.0 - 0.6  # the first poll may return just before it is seen
    assert ranges(tmp_path) == [(0, 9), (10, 12)]


def test_a_run_writes_one_file_per_partition_and_day(kafka_broker, tmp_path):
    """``kafka_ingest`` with the default limits: each partition's messages on each day are one file."""
    topic = "batch-one-file-a-day"
    kafka_broker.create_topic(topic, PARTITIONS)
    produced = produce(kafka_broker.bootstrap_servers, topic, trade_messages(20_000))
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic)
    summary = LandingConsumer(settings, str(tmp_path), Log(), DEFAULT_START_DATE).run(to_end_offsets=True)
    assert summary.batches == PARTITIONS
    files = Counter(
        (path.parent.name, re.search(r"-p(\d+)-", path.name)[1]) for path in kafka_files(tmp_path)
    )
    assert set(files.values()) == {1} and summary.files == len(files)
    assert landed(tmp_path) == produced


def test_buffered_bytes_are_bounded_across_partitions(kafka_broker, tmp_path):
    """Beyond ``buffer_bytes`` the fullest partition is written early (a consume of up to 50,000
    messages goes over it at most until then): more, smaller files, each message still once."""
    topic = "batch-buffer-bound"
    kafka_broker.create_topic(topic, PARTITIONS)
    produced = produce(kafka_broker.bootstrap_servers, topic, trade_messages(120_000))  # 3 consumes or more
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic, buffer_bytes=200_000)
    consumer = LandingConsumer(settings, str(tmp_path), Log(), DEFAULT_START_DATE)
    held = []
    summary = consumer.run(
        to_end_offsets=True, should_stop=lambda: held.append(consumer.buffered_bytes) and False
    )
    assert max(held) <= 200_000 and summary.batches > PARTITIONS
    assert landed(tmp_path) == produced
