"""``python -m benchmarks.kafka_ingest``: messages per second from Kafka into the landing zone.

A real single-node broker (``scripts/kafka_broker.py``) holds ``--messages`` generated trades
(about 1% bad) on a topic of ``--partitions`` partitions. Timed, each on its own consumer group,
from the first poll to the last commit:

- ``platform``: ``LandingConsumer`` to the end offsets, as the ``kafka_ingest`` job runs it:
  day routing, provenance, atomic files, the uncommitted-range record and the commits.
- ``baseline``: the floor of any Python consumer of the same messages with confluent-kafka: the
  same poll loop, every value appended to one file per partition, one commit at the end.

The ratio platform / baseline says what the landing contract costs over merely reading the topic.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from trade_platform.core.kafka.consumer import LandingConsumer
from trade_platform.kafka_settings import KafkaSettings
from trade_platform.settings import DEFAULT_START_DATE
from trade_platform_tests.system.test_kafka_ingest import trade_messages

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "scripts"))
from kafka_broker import KafkaBroker  # noqa: E402


def produce(bootstrap: str, topic: str, values: list[bytes | None], partitions: int) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 2_000_000}
    )
    for index, value in enumerate(values):
        producer.produce(topic, value, partition=index % partitions)
        if index % 50_000 == 0:
            producer.poll(0)
    producer.flush(120)


def platform(bootstrap: str, topic: str, landing: Path) -> float:
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic=topic, group="bench-platform")
    started = time.perf_counter()
    summary = LandingConsumer(settings, str(landing), logging.getLogger(__name__), DEFAULT_START_DATE).run(
        to_end_offsets=True
    )
    seconds = time.perf_counter() - started
    return summary.messages / seconds


def baseline(bootstrap: str, topic: str, folder: Path, total: int, partitions: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-baseline",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    files = {p: open(folder / f"p{p}.raw", "wb") for p in range(partitions)}  # noqa: SIM115
    started, seen, last = time.perf_counter(), 0, {}
    while seen < total:
        for message in consumer.consume(10_000, 0.5):
            files[message.partition()].write((message.value() or b"") + b"\n")
            last[message.partition()] = message.offset()
            seen += 1
    for handle in files.values():
        handle.close()
    consumer.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()], asynchronous=False)
    seconds = time.perf_counter() - started
    consumer.close()
    return seen / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--label", default="kafka")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as scratch:
        work = Path(scratch)
        broker = KafkaBroker(work / "broker").start()
        try:
            broker.create_topic("trades", args.partitions)
            values = trade_messages(args.messages)
            produce(broker.bootstrap_servers, "trades", values, args.partitions)
            (work / "raw").mkdir()
            results = {
                "baseline": baseline(
                    broker.bootstrap_servers, "trades", work / "raw", len(values), args.partitions
                ),
                "platform": platform(broker.bootstrap_servers, "trades", work / "landing"),
            }
        finally:
            broker.stop()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "messages": len(values),
        "partitions": args.partitions,
        "messages_per_second": {name: round(rate) for name, rate in results.items()},
        "platform_over_baseline": round(results["platform"] / results["baseline"], 3),
    }
    out = ROOT / "results" / f"{datetime.now(UTC):%Y-%m-%d}-{args.label}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
