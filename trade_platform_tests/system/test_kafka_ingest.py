"""Kafka into the landing zone on a real broker (KRaft, from its Maven jars): every message lands
exactly once, by topic, partition and offset, through crashes, rebalances and a lost broker."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from confluent_kafka import Producer
from dagster import DagsterInstance, build_sensor_context

from trade_platform.core.generate import generate_day, render
from trade_platform.core.kafka.client import KafkaUnavailableError, group_lag
from trade_platform.core.kafka.consumer import LandingConsumer
from trade_platform.kafka_settings import KafkaSettings
from trade_platform.settings import DEFAULT_START_DATE
from trade_platform_tests.conftest import Platform

PARTITIONS = 4
BIN = Path(sys.executable).parent
ODD_MESSAGES = [b"\xff\xfe not UTF-8", b"", None, b'{\n  "trade_id": "PRETTY-1"\n}']


class Log:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    warning = info


def trade_messages(count: int) -> list[bytes | None]:
    """``count`` trades over the two days before today, about 1% bad (invalid JSON, bad fields,
    duplicated trade ids, a timestamp on another day), then a few odd messages."""
    today = datetime.now(UTC).date()
    values: list[bytes | None] = []
    for day in (today - timedelta(days=2), today - timedelta(days=1)):
        generated = generate_day(day, count // 2, seed=day.toordinal(), bad_fraction=0.01)
        jsonl = render(generated.records.with_columns(format=pl.lit("jsonl")), "jsonl")
        values.extend(line.encode() for line in jsonl.decode().splitlines())
    return values + ODD_MESSAGES


def produce(bootstrap: str, topic: str, values: list[bytes | None]) -> list[tuple[int, int]]:
    """(partition, offset) of each message, spread round-robin over the partitions."""
    delivered, errors = [], []

    def on_delivery(error, message):
        if error is None:
            delivered.append((message.partition(), message.offset()))
        else:
            errors.append(error)

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000}
    )
    for index, value in enumerate(values):
        producer.produce(topic, value, partition=index % PARTITIONS, on_delivery=on_delivery)
        if index % 20_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0 and not errors, errors
    return sorted(delivered)


def landed(landing: Path) -> list[tuple[int, int]]:
    """(partition, offset) of every record in the landing files, duplicates included."""
    files = sorted((landing / "trades").glob("date=*/kafka-*.jsonl"))
    if not files:
        return []
    schema = {"_kafka_partition": pl.Int64, "_kafka_offset": pl.Int64}
    frame = pl.concat(pl.read_ndjson(f, schema=schema) for f in files)
    return sorted(frame.iter_rows())


# A member that dies is noticed after 6 s (the broker's minimum) rather than librdkafka's 45 s.
SESSION_TIMEOUT_MS = "6000"


def kafka_settings(bootstrap: str, topic: str, **overrides) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        topic=topic,
        group=f"group-{topic}",
        timeout_seconds=2.0,
        client_config={"session.timeout.ms": SESSION_TIMEOUT_MS},
        **overrides,
    )


def stream(bootstrap: str, topic: str, landing: Path, log: Path, **env: str) -> subprocess.Popen:
    """``trade-platform stream`` as its own process, logging to ``log``."""
    variables = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TRADE_PLATFORM_KAFKA_TOPIC": topic,
        "TRADE_PLATFORM_KAFKA_GROUP": f"group-{topic}",
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_RETRY_DELAY_SECONDS": "0.5",
        "TRADE_PLATFORM_KAFKA_TIMEOUT_SECONDS": "2",
        "TRADE_PLATFORM_KAFKA_SESSION_TIMEOUT_MS": SESSION_TIMEOUT_MS,
        **env,
    }
    with open(log, "ab") as out:
        return subprocess.Popen([BIN / "trade-platform", "stream"], env=variables, stdout=out, stderr=out)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def kafka_files(landing: Path) -> list[Path]:
    return sorted((landing / "trades").glob("date=*/kafka-*.jsonl"))


@pytest.fixture
def topic(kafka_broker, request) -> str:
    name = request.node.name.removeprefix("test_")[:40].replace("_", "-")
    kafka_broker.create_topic(name, PARTITIONS)
    return name


def test_every_message_lands_exactly_once_and_raw_trades_reconciles(kafka_broker, topic, platform: Platform):
    produced = produce(kafka_broker.bootstrap_servers, topic, trade_messages(200_000))
    defs = platform.definitions(kafka=kafka_settings(kafka_broker.bootstrap_servers, topic))
    result = defs.resolve_job_def("kafka_ingest").execute_in_process(instance=platform.instance)
    assert result.success
    metadata = next(
        event.event_specific_data.metadata
        for event in result.all_events
        if event.event_type_value == "STEP_OUTPUT" and event.step_key == "land_kafka_messages"
    )
    assert metadata["messages"].value == len(produced) == 200_000 + len(ODD_MESSAGES)
    per_day = metadata["messages_per_day"].value
    assert sum(per_day.values()) == len(produced)
    assert landed(platform.landing) == produced  # every message once, no other

    # The landing files are ordinary landing files: the pipeline reads them as it reads any.
    days = sorted(per_day)
    run = platform.materialize(days[0], until=days[-1])
    assert run.success
    raw = pl.concat(
        platform.read("raw_trades", day).with_columns(date=pl.lit(day)) for day in days if day in per_day
    )
    assert sorted(raw.select("_kafka_partition", "_kafka_offset").iter_rows()) == produced
    assert set(raw["_kafka_topic"]) == {topic}
    reconciled = [e for e in run.get_asset_check_evaluations() if e.check_name == "reconciliation"]
    assert len(reconciled) == len(
        range((date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days + 1)
    )
    assert all(e.passed for e in reconciled)
    schemas = [e for e in run.get_asset_check_evaluations() if e.check_name == "column_schema"]
    assert schemas and all(e.passed for e in schemas)  # the Kafka columns are declared, optional
    dlq = pl.concat(platform.read("trades_dlq", day) for day in days)
    assert dlq.filter(pl.col("error_codes").list.contains("malformed_record")).height >= len(ODD_MESSAGES) - 1
    assert dlq.filter(pl.col("error_codes").list.contains("duplicate_trade_id")).height > 0

    again = defs.resolve_job_def("kafka_ingest").execute_in_process(instance=platform.instance)
    assert again.success and landed(platform.landing) == produced  # nothing new, nothing twice


def test_a_crash_between_write_and_commit_rewrites_the_same_files(kafka_broker, topic, tmp_path):
    """The broker goes away after the files are written and before the commit: the commit fails,
    and the next consumer re-reads exactly the recorded ranges into the same files."""
    produced = produce(kafka_broker.bootstrap_servers, topic, trade_messages(20_000))
    landing = tmp_path / "landing"
    settings = kafka_settings(
        kafka_broker.bootstrap_servers, topic, batch_messages=10**6, rotate_seconds=3600.0
    )
    consumer = LandingConsumer(settings, str(landing), Log(), DEFAULT_START_DATE)

    def broker_lost() -> bool:
        if consumer.buffered < len(produced):
            return False
        kafka_broker.stop()  # the stop then writes and commits what was read
        return True

    with pytest.raises(
        KafkaUnavailableError, match=f"Kafka at {kafka_broker.bootstrap_servers}.*cannot commit"
    ):
        consumer.run(to_end_offsets=False, should_stop=broker_lost)
    written = {path: path.read_bytes() for path in kafka_files(landing)}
    assert landed(landing) == produced
    recorded = json.loads((landing / "_kafka" / topic / "p0.json").read_text())
    today = datetime.now(UTC).date().isoformat()  # the range is landed as it was, days included
    assert recorded["uncommitted"] == [[0, len([p for p, _ in produced if p == 0]) - 1, "2024-01-01", today]]

    kafka_broker.start()
    assert group_lag(settings) == {p: len([o for q, o in produced if q == p]) for p in range(PARTITIONS)}
    log = Log()
    summary = LandingConsumer(settings, str(landing), log, DEFAULT_START_DATE).run(to_end_offsets=True)
    assert summary.messages == len(produced)
    assert sum("re-reading 1 range(s) written but not committed" in line for line in log.lines) == PARTITIONS
    assert {path: path.read_bytes() for path in kafka_files(landing)} == written  # the same files
    assert landed(landing) == produced
    assert group_lag(settings) == dict.fromkeys(range(PARTITIONS), 0)


def test_sigkill_mid_batch_and_restart_lands_every_message_once(kafka_broker, topic, tmp_path):
    produced = produce(kafka_broker.bootstrap_servers, topic, trade_messages(100_000))
    landing, log = tmp_path / "landing", tmp_path / "stream.log"
    for _ in range(3):
        wanted = (len(kafka_files(landing)) if landing.exists() else 0) + 1
        process = stream(
            kafka_broker.bootstrap_servers, topic, landing, log, TRADE_PLATFORM_KAFKA_BATCH_MESSAGES="2000"
        )
        wait_for(lambda n=wanted: len(kafka_files(landing)) >= n, 60, "a batch to land")
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic)
    assert sum(group_lag(settings).values()) > 0  # the kills left work to do
    LandingConsumer(settings, str(landing), Log(), DEFAULT_START_DATE).run(to_end_offsets=True)
    assert landed(landing) == produced


def test_two_consumers_in_one_group_rebalance_without_loss_or_duplicates(kafka_broker, topic, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    produced = produce(bootstrap, topic, trade_messages(100_000))
    landing, first_log, second_log = tmp_path / "landing", tmp_path / "first.log", tmp_path / "second.log"
    slow = {"TRADE_PLATFORM_KAFKA_BATCH_MESSAGES": "100", "TRADE_PLATFORM_KAFKA_ROTATE_SECONDS": "0.2"}
    first = stream(bootstrap, topic, landing, first_log, **slow)
    wait_for(lambda: landing.exists() and len(kafka_files(landing)) >= 8, 60, "the first consumer to land")
    second = stream(bootstrap, topic, landing, second_log, **slow)  # joins while the first consumes
    wait_for(lambda: "assigned" in second_log.read_text(), 60, "the rebalance")
    produced += produce(bootstrap, topic, trade_messages(20_000))
    settings = kafka_settings(bootstrap, topic)
    wait_for(lambda: sum(group_lag(settings).values()) == 0, 180, "the group to catch up")
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    assert [first.wait(30), second.wait(30)] == [0, 0]
    first_text, second_text = first_log.read_text(), second_log.read_text()
    assert "revoked" in first_text  # the rebalance happened while the first was consuming
    assert re.search(r"landed \d+ messages of", second_text) and "stopped: landed" in second_text
    assert landed(landing) == sorted(produced)


def test_an_unreachable_broker_is_named_retried_and_nothing_is_landed(tmp_path, platform: Platform):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{free.getsockname()[1]}"
    settings = kafka_settings(nowhere, "trades")
    with pytest.raises(
        KafkaUnavailableError, match=f"Kafka at {nowhere} \\(KAFKA_BOOTSTRAP_SERVERS\\) is unreachable"
    ):
        LandingConsumer(settings, str(platform.landing), Log(), DEFAULT_START_DATE).run(to_end_offsets=True)

    job = platform.definitions(kafka=settings).resolve_job_def("kafka_ingest")
    result = job.execute_in_process(instance=platform.instance, raise_on_error=False)
    assert not result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2  # TEST_RETRIES, then the failure names the brokers
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert nowhere in str(failure.event_specific_data.error)

    log = tmp_path / "stream.log"
    process = stream(nowhere, "trades", platform.landing, log)
    wait_for(lambda: log.read_text().count("retrying in") >= 2, 60, "two retries")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert f"Kafka at {nowhere}" in log.read_text()
    assert not platform.landing.exists() or not kafka_files(platform.landing)


def test_kafka_lag_sensor_requests_a_run_only_when_the_group_lags(kafka_broker, topic, platform: Platform):
    defs = platform.definitions(kafka=kafka_settings(kafka_broker.bootstrap_servers, topic))
    sensor = defs.resolve_sensor_def("kafka_lag_sensor")

    def tick():
        context = build_sensor_context(instance=platform.instance, definitions=defs)
        return sensor.evaluate_tick(context)

    assert "no lag" in tick().skip_message
    produce(kafka_broker.bootstrap_servers, topic, trade_messages(1_000))
    assert sensor.job_name == "kafka_ingest" and len(tick().run_requests) == 1
    assert defs.resolve_job_def("kafka_ingest").execute_in_process(instance=platform.instance).success
    assert "no lag" in tick().skip_message


def test_the_kafka_job_and_sensor_are_there_without_a_broker(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        defs = Platform(tmp_path / "l", tmp_path / "k", instance).definitions()
        sensor = defs.resolve_sensor_def("kafka_lag_sensor")
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.skip_message
    assert defs.resolve_job_def("kafka_ingest").name == "kafka_ingest"
