"""On the real broker: offsets deleted (broker retention, here ``delete_records``) before they were
landed are recorded as lost, never skipped in silence; messages whose clocks point outside the
partitions still land inside them."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from trade_platform.core.kafka.client import group_lag
from trade_platform.core.kafka.consumer import LandingConsumer
from trade_platform.kafka_settings import KafkaSettings
from trade_platform_tests.system.test_kafka_ingest import Log, kafka_files, landed

START = date(2026, 1, 1)


def settings_for(bootstrap: str, topic: str, **overrides) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap, topic=topic, group=f"group-{topic}", timeout_seconds=5.0, **overrides
    )


def produce(bootstrap: str, topic: str, count: int, timestamp_ms: int = 0, **trade) -> None:
    """``count`` messages to partition 0, stamped ``timestamp_ms`` by the producer (0: now)."""
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(count):
        value = json.dumps({"trade_id": f"T{n}", **trade})
        producer.produce(
            topic, value, partition=0, timestamp=timestamp_ms, on_delivery=lambda e, _: errors.append(e)
        )
    assert producer.flush(30) == 0 and errors == [None] * count, errors


def delete_up_to(broker, topic: str, offset: int) -> None:
    """What broker retention does: the partition's first offset becomes ``offset``."""
    admin = broker.admin()  # kept while the request runs
    [future] = admin.delete_records([TopicPartition(topic, 0, offset)], request_timeout=10).values()
    assert future.result(10).low_watermark == offset


def land(settings: KafkaSettings, landing: Path) -> Log:
    log = Log()
    LandingConsumer(settings, str(landing), log, START).run(to_end_offsets=True)
    return log


def lost(landing: Path) -> dict[str, dict]:
    today = datetime.now(UTC).date()
    return {
        p.name: json.loads(p.read_text())
        for p in (landing / f"trades/date={today}/_kafka_lost").glob("*.json")
    }


def test_offsets_deleted_below_the_committed_offset_are_recorded_as_lost(kafka_broker, tmp_path):
    topic, landing = "lost-below-committed", tmp_path / "landing"
    kafka_broker.create_topic(topic, 1)
    settings = settings_for(kafka_broker.bootstrap_servers, topic)
    produce(kafka_broker.bootstrap_servers, topic, 10)
    land(settings, landing)  # committed at 10
    produce(kafka_broker.bootstrap_servers, topic, 20)  # offsets 10-29
    delete_up_to(kafka_broker, topic, 25)
    log = land(settings, landing)
    name = f"{topic}-p0-{10:019d}-{24:019d}.json"
    assert list(lost(landing)) == [name]
    record = lost(landing)[name]
    assert {k: v for k, v in record.items() if k not in {"reason", "detected_at"}} == {
        "topic": topic,
        "partition": 0,
        "first_offset": 10,
        "last_offset": 24,
    }
    assert "deleted by broker retention" in record["reason"] and "low watermark 25" in record["reason"]
    assert datetime.fromisoformat(record["detected_at"]).tzinfo is not None
    assert any("offsets 10-24 are lost" in line for line in log.lines)
    assert [offset for _, offset in landed(landing)] == [*range(10), *range(25, 30)]

    produce(kafka_broker.bootstrap_servers, topic, 3)  # 30-32, then all of them deleted
    delete_up_to(kafka_broker, topic, 33)
    land(settings, landing)
    assert sorted(lost(landing)) == [name, f"{topic}-p0-{30:019d}-{32:019d}.json"]
    assert group_lag(settings) == {0: 0}  # committed past the loss, though nothing followed it
    land(settings, landing)
    assert len(lost(landing)) == 2  # found once


def test_a_recorded_range_deleted_before_its_re_read_is_recorded_as_lost(kafka_broker, tmp_path):
    """The range 10-19 is written and recorded, the commit is lost (the group is back at 10), then
    retention deletes 10-14: the range cannot be rewritten the same, so all of it is recorded as
    lost, its files are kept as they are, and consumption goes on after it."""
    topic, landing = "lost-recorded-range", tmp_path / "landing"
    kafka_broker.create_topic(topic, 1)
    settings = settings_for(kafka_broker.bootstrap_servers, topic)
    produce(kafka_broker.bootstrap_servers, topic, 10)
    land(settings, landing)
    produce(kafka_broker.bootstrap_servers, topic, 10)
    land(settings, landing)
    recorded = json.loads((landing / "_kafka" / topic / "p0.json").read_text())["uncommitted"]
    assert [r[:2] for r in recorded] == [[10, 19]]  # the last range written stays on record
    rewind = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": settings.group})
    rewind.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)  # as if never committed
    rewind.close()
    files = {path: path.read_bytes() for path in kafka_files(landing)}
    delete_up_to(kafka_broker, topic, 15)
    produce(kafka_broker.bootstrap_servers, topic, 5)  # 20-24
    land(settings, landing)
    [record] = lost(landing).values()
    assert (record["first_offset"], record["last_offset"]) == (10, 19)
    assert "recorded as written but not committed" in record["reason"]
    assert all(path.read_bytes() == data for path, data in files.items())
    assert [offset for _, offset in landed(landing)] == list(range(25))  # each once
    assert group_lag(settings) == {0: 0}


def test_offsets_deleted_while_the_consumer_reads_are_recorded_as_lost(kafka_broker, tmp_path):
    """Retention overtakes the consumer: its next fetch is out of range, it resumes at the new
    first offset (auto.offset.reset=earliest), and the gap is recorded as lost."""
    topic, landing = "lost-while-reading", tmp_path / "landing"
    kafka_broker.create_topic(topic, 1)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 0})
    for n in range(60):  # one record batch each, so the consumer prefetches only a few
        producer.produce(topic, json.dumps({"trade_id": f"T{n}"}), partition=0)
        producer.flush(10)
    little = {  # fetch and queue ahead as little as librdkafka allows
        "queued.min.messages": "1",
        "queued.max.messages.kbytes": "1",
        "fetch.queue.backoff.ms": "1",
        "message.max.bytes": "1000",
        "fetch.max.bytes": "1000",
        "max.partition.fetch.bytes": "100",
    }
    settings = settings_for(kafka_broker.bootstrap_servers, topic, batch_messages=10, client_config=little)
    consumer = LandingConsumer(settings, str(landing), Log(), START)
    deleted = []

    def retention() -> bool:  # once the first batch is landed
        if consumer.summary.messages and not deleted:
            delete_up_to(kafka_broker, topic, 40)
            deleted.append(40)
        return False

    consumer.run(to_end_offsets=True, should_stop=retention)
    [record] = lost(landing).values()
    assert 10 <= record["first_offset"] and record["last_offset"] == 39
    assert "low watermark 40" in record["reason"]
    lost_offsets = list(range(record["first_offset"], 40))
    assert sorted([offset for _, offset in landed(landing)] + lost_offsets) == list(range(60))  # each once


def test_a_recorded_range_is_re_read_into_the_days_it_was_first_landed_in(kafka_broker, tmp_path):
    """A range landed on one day and re-read on a later one (a crash between write and commit)
    is rewritten with the days recorded with it: the same files, byte for byte."""
    topic, landing = "re-read-later", tmp_path / "landing"
    kafka_broker.create_topic(topic, 1)
    settings = settings_for(kafka_broker.bootstrap_servers, topic)
    produce(kafka_broker.bootstrap_servers, topic, 5)  # no trade timestamp: the Kafka day, today
    land(settings, landing)
    # As if read three days ago, when today was no partition yet: landed on that day.
    earlier = (datetime.now(UTC) - timedelta(days=3)).date()
    record = landing / "_kafka" / topic / "p0.json"
    record.write_text(
        json.dumps({"group": settings.group, "uncommitted": [[0, 4, str(START), str(earlier)]]})
    )
    (today,) = kafka_files(landing)
    then = landing / "trades" / f"date={earlier}" / today.name
    then.parent.mkdir()
    today.rename(then)
    written = then.read_bytes()
    rewind = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": settings.group})
    rewind.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # the commit was lost
    rewind.close()
    land(settings, landing)
    assert kafka_files(landing) == [then] and then.read_bytes() == written


def test_a_producer_clock_in_seconds_lands_inside_the_partitions(kafka_broker, tmp_path):
    """(This broker refuses timestamps over an hour ahead, Kafka 4's default: microseconds and
    far-future clocks are covered by the core tests.)"""
    topic, landing = "clock-in-seconds", tmp_path / "landing"
    kafka_broker.create_topic(topic, 1)
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    seconds = int(now.timestamp())  # 1970-01-21 read as milliseconds
    produce(kafka_broker.bootstrap_servers, topic, 2, seconds, timestamp=yesterday.isoformat())
    produce(kafka_broker.bootstrap_servers, topic, 2, seconds)  # no trade timestamp either
    land(settings_for(kafka_broker.bootstrap_servers, topic), landing)
    by_day = {path.parent.name: len(path.read_text().splitlines()) for path in kafka_files(landing)}
    assert by_day == {f"date={yesterday.date()}": 2, f"date={now.date()}": 2}
