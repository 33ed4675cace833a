"""Kafka from zero, as the README walks it on a real broker: ``trade-platform stream --create-topic``
makes the topic, ``trade-platform generate --to-kafka`` produces the generator's trades to it,
``trade-platform stream`` lands them, and the days materialized from them hold what the same
generated files give, every bad record in the DLQ."""

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.generate import generate_day
from trade_platform.core.kafka.client import KafkaUnavailableError, group_lag
from trade_platform_tests.conftest import Platform
from trade_platform_tests.system.test_kafka_ingest import kafka_files, kafka_settings, landed, wait_for

REPO = Path(__file__).resolve().parents[2]
END = date.today() - timedelta(days=1)
DAYS = [END - timedelta(days=2), END - timedelta(days=1), END]
TRADES, BAD = 3_000, 0.05  # an even count: a trade stamped outside its day is stamped on the next
OUTSIDE = DlqCode.TIMESTAMP_OUTSIDE_PARTITION.value


def cli(*args: str, env: dict[str, str], **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "trade_platform.cli.main", *args]
    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    if popen:
        return subprocess.Popen(command, env=environment, **popen)
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def kafka_env(bootstrap: str, topic: str, landing: Path | None = None) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TRADE_PLATFORM_KAFKA_TOPIC": topic,
        "TRADE_PLATFORM_KAFKA_GROUP": f"group-{topic}",
        "TRADE_PLATFORM_KAFKA_TIMEOUT_SECONDS": "2",
        "TRADE_PLATFORM_KAFKA_ROTATE_SECONDS": "1",
        "TRADE_PLATFORM_LANDING_URL": str(landing or "unused"),
    }


def test_create_topic_makes_the_topic_once_and_refuses_fewer_partitions_than_asked(kafka_broker):
    env = kafka_env(kafka_broker.bootstrap_servers, "made-from-zero")
    created = cli("stream", "--create-topic", "--partitions", "4", env=env)
    assert created.returncode == 0, created.stderr
    assert "created topic 'made-from-zero'" in created.stdout and "4 partitions" in created.stdout
    found = kafka_broker.admin().list_topics(timeout=10).topics["made-from-zero"]
    assert len(found.partitions) == 4 and all(p.leader >= 0 for p in found.partitions.values())

    again = cli("stream", "--create-topic", "--partitions", "2", env=env)
    assert again.returncode == 0 and "exists" in again.stdout and "with 4 partitions" in again.stdout
    fewer = cli("stream", "--create-topic", "--partitions", "6", env=env)
    assert fewer.returncode == 2 and fewer.stderr.count("\n") == 1
    assert "has 4 partitions, fewer than 6" in fewer.stderr


@pytest.mark.parametrize("command", [["stream", "--create-topic"], ["generate", "--to-kafka", "--days", "1"]])
def test_an_unreachable_broker_fails_topic_creation_and_producing_in_one_line(command):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{free.getsockname()[1]}"
    failed = cli(*command, env=kafka_env(nowhere, "trades"))
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1, failed.stderr
    assert f"Kafka at {nowhere} (KAFKA_BOOTSTRAP_SERVERS) is unreachable" in failed.stderr


def test_generated_trades_through_kafka_give_the_lake_what_the_generated_files_give(
    kafka_broker, tmp_path, instance
):
    topic, landing = "generated", tmp_path / "kafka-landing"
    env = kafka_env(kafka_broker.bootstrap_servers, topic, landing)
    assert cli("stream", "--create-topic", env=env).returncode == 0
    shape = ["--end", END.isoformat(), "--days", str(len(DAYS)), "--trades-per-day", str(TRADES)]
    produced = cli("generate", "--to-kafka", *shape, "--bad-fraction", str(BAD), env=env)
    messages = len(DAYS) * TRADES + 1  # and the third day's corrupt file, as one message
    assert produced.returncode == 0 and f"delivered {messages} messages to 'generated'" in produced.stdout

    log = tmp_path / "stream.log"
    with open(log, "ab") as out:
        stream = cli("stream", env=env, stdout=out, stderr=out)
    settings = kafka_settings(kafka_broker.bootstrap_servers, topic)
    wait_for(lambda: caught_up(settings), 120, "the stream to land every message")
    stream.send_signal(signal.SIGTERM)
    assert stream.wait(30) == 0, log.read_text()[-2000:]
    assert len(landed(landing)) == len(set(landed(landing))) == messages, kafka_files(landing)

    files = tmp_path / "files-landing"
    assert (
        cli("generate", *shape, "--bad-fraction", str(BAD), "--landing", str(files), env={}).returncode == 0
    )
    by_kafka = Platform(landing, tmp_path / "kafka-lake", instance)
    by_files = Platform(files, tmp_path / "files-lake", instance)
    for platform in (by_kafka, by_files):
        assert platform.materialize(DAYS[0].isoformat(), until=DAYS[-1].isoformat()).success

    dlq_codes = Counter()
    for index, day in enumerate(DAYS):
        before, on_day = (
            generate_day(d, TRADES, seed=42, bad_fraction=BAD).records for d in (day - timedelta(1), day)
        )
        moved_in = set(before.filter(pl.col("fault") == OUTSIDE)["trade_id"]) if index else set()
        moved_out = set(on_day.filter(pl.col("fault") == OUTSIDE)["trade_id"])
        kafka_ids, files_ids = (
            set(p.read("validated_trades", str(day))["trade_id"]) for p in (by_kafka, by_files)
        )
        assert kafka_ids == files_ids | moved_in  # a trade stamped on the next day is that day's

        # The DLQ's records are the files' but for those stamped on the next day (there, from Kafka),
        # and a corrupt file (unreadable_file) is, as a message of the same bytes, malformed_record.
        kafka_dlq = codes(by_kafka.read("trades_dlq", str(day)))
        files_dlq = by_files.read("trades_dlq", str(day))
        outside = pl.col("trade_id").is_in(moved_out) & pl.col("error_codes").list.contains(OUTSIDE)
        assert files_dlq.filter(outside).height == len(moved_out)
        corrupt = index == 2  # the generator's every third day
        assert kafka_dlq + Counter({DlqCode.UNREADABLE_FILE.value: corrupt}) == codes(
            files_dlq.filter(~outside)
        ) + Counter({DlqCode.MALFORMED_RECORD.value: corrupt})
        dlq_codes += kafka_dlq
    assert len(dlq_codes) >= 10, dlq_codes  # the generator's bad records of every kind are there


def caught_up(settings) -> bool:
    try:
        return sum(group_lag(settings).values()) == 0
    except KafkaUnavailableError:  # the group's coordinator is still being elected
        return False


def codes(dlq: pl.DataFrame) -> Counter:
    return Counter(code for record in dlq["error_codes"] for code in record)
