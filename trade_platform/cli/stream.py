"""``trade-platform stream``: the Kafka consumer as a long-running process.

It lands each partition's batch as soon as it is full (``TRADE_PLATFORM_KAFKA_BATCH_MESSAGES`` or
``..._BATCH_BYTES``) or ``..._ROTATE_SECONDS`` old, so a quiet topic makes few files a day. On
SIGTERM or SIGINT it writes and commits what it has read, then leaves the group. Unreachable
brokers are reported, naming them, and retried with a growing delay; nothing is committed that
is not written.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace

from trade_platform.core.storage import PermanentStorageError, TransientStorageError
from trade_platform.kafka_settings import KAFKA_TOPIC_ENV
from trade_platform.settings import LANDING_URL_ENV, Settings

MAX_RETRY_DELAY_SECONDS = 60.0


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    stream = commands.add_parser(
        "stream",
        help=f"consume the Kafka topic ({KAFKA_TOPIC_ENV}) into the landing zone until SIGTERM",
    )
    stream.add_argument("--landing", default=current.landing_url, help=f"landing URL (env {LANDING_URL_ENV})")
    stream.add_argument("--topic", default=current.kafka.topic, help=f"the topic (env {KAFKA_TOPIC_ENV})")
    stream.add_argument(
        "--create-topic",
        action="store_true",
        help="create the topic (unless it has at least --partitions partitions) and exit, instead of consuming",
    )
    stream.add_argument("--partitions", type=int, default=3, help="partitions of --create-topic")
    stream.add_argument(
        "--replication-factor", type=int, default=1, help="replication factor of --create-topic"
    )
    return stream


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    current = replace(current, kafka=replace(current.kafka, topic=args.topic))
    if args.create_topic:
        if args.partitions < 1 or args.replication_factor < 1:
            parser.error("--partitions and --replication-factor must be at least 1")
        from trade_platform.core.kafka.producer import create_topic  # Kafka's errors: ``main``

        print(create_topic(current.kafka, current.kafka.topic, args.partitions, args.replication_factor))
        return 0
    return run_stream(current, args.landing)


def run_stream(settings: Settings, landing_url: str) -> int:
    from trade_platform.core.kafka.consumer import (  # confluent-kafka: only here
        LandingConsumer,
        LandingSummary,
    )

    log = logging.getLogger("trade_platform.stream")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    log.info(
        f"consuming {settings.kafka.topic!r} as group {settings.kafka.group!r} from "
        f"{settings.kafka.bootstrap_servers} into {landing_url}"
    )
    total = LandingSummary()
    delay = settings.retry_delay_seconds
    while not stopping.is_set():
        landing = None
        try:
            landing = LandingConsumer(settings.kafka, landing_url, log, settings.start_date)
            landing.run(to_end_offsets=False, should_stop=stopping.is_set)
            delay = settings.retry_delay_seconds
        except PermanentStorageError as exc:
            log.error(str(exc))
            return 2
        except TransientStorageError as exc:
            log.error(f"{exc}; retrying in {delay:.0f} s")
            stopping.wait(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
        finally:
            if landing is not None:
                total.add(landing.summary)
    days = ", ".join(f"{day} {count}" for day, count in sorted(total.by_day.items())) or "none"
    log.info(f"stopped: landed {total.messages} messages in {total.files} files (per day: {days})")
    return 0
