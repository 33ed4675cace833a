"""The ``TRADE_PLATFORM_KAFKA_*`` settings and ``KAFKA_BOOTSTRAP_SERVERS``: where trades are
consumed from and how the consumer batches them (part of ``settings``, which reads them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaException

from trade_platform import setting_values as values

if TYPE_CHECKING:
    from trade_platform.settings import _Env

KAFKA_BOOTSTRAP_SERVERS_ENV = "KAFKA_BOOTSTRAP_SERVERS"
KAFKA_PREFIX = "TRADE_PLATFORM_KAFKA_"
KAFKA_TOPIC_ENV = KAFKA_PREFIX + "TOPIC"
KAFKA_GROUP_ENV = KAFKA_PREFIX + "GROUP"
KAFKA_BATCH_MESSAGES_ENV = KAFKA_PREFIX + "BATCH_MESSAGES"
KAFKA_BATCH_BYTES_ENV = KAFKA_PREFIX + "BATCH_BYTES"
KAFKA_ROTATE_SECONDS_ENV = KAFKA_PREFIX + "ROTATE_SECONDS"
KAFKA_BUFFER_BYTES_ENV = KAFKA_PREFIX + "BUFFER_BYTES"
KAFKA_BATCH_SECONDS_ENV = KAFKA_PREFIX + "BATCH_SECONDS"
"""Retired (a 5 s batch made up to 69,000 files a day): refused at load, naming its successor."""
KAFKA_TIMEOUT_ENV = KAFKA_PREFIX + "TIMEOUT_SECONDS"
KAFKA_VARIABLES = (
    KAFKA_BOOTSTRAP_SERVERS_ENV, KAFKA_TOPIC_ENV, KAFKA_GROUP_ENV, KAFKA_BATCH_MESSAGES_ENV, KAFKA_BATCH_BYTES_ENV,
    KAFKA_ROTATE_SECONDS_ENV, KAFKA_BUFFER_BYTES_ENV, KAFKA_BATCH_SECONDS_ENV, KAFKA_TIMEOUT_ENV,
)  # fmt: skip
DEFAULT_KAFKA_TOPIC = "trades"
DEFAULT_KAFKA_GROUP = "trade-platform-landing"
# Files per partition and day are bounded as Kafka Connect's S3 sink bounds them (flush.size,
# rotate.interval.ms): a quiet partition rotates every 5 minutes (at most 288 files a day), a busy
# one writes files of 64 MiB of messages; all partitions together buffer at most 256 MiB of them.
DEFAULT_KAFKA_BATCH_MESSAGES = 1_000_000
DEFAULT_KAFKA_BATCH_BYTES = 64 * 2**20
DEFAULT_KAFKA_ROTATE_SECONDS = 300.0
DEFAULT_KAFKA_BUFFER_BYTES = 256 * 2**20
DEFAULT_KAFKA_TIMEOUT_SECONDS = 10.0
MESSAGES = values.integer(1, 10_000_000)
WAIT_SECONDS = values.decimal(0, 3600, above_low=True)
BYTES = values.integer(1, 2**40)
ROTATE_SECONDS = values.decimal(0, 86_400, above_low=True)
# Consumer settings the consumer owns: offsets are committed by hand once the files are durable, and
# an offset out of range resets to the first one kept, the gap recorded as lost (never skipped).
KAFKA_OWNED = frozenset(
    {"group.id", "bootstrap.servers", "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset"}
)
_BROKER = re.compile(r"(?:[A-Za-z_]+://)?(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True)
class KafkaSettings:
    """Where trades are consumed from (``trade_platform.streaming``)."""

    bootstrap_servers: str | None = None
    topic: str = DEFAULT_KAFKA_TOPIC
    group: str = DEFAULT_KAFKA_GROUP
    batch_messages: int = DEFAULT_KAFKA_BATCH_MESSAGES
    """The most messages of one partition written (and committed) as one batch."""
    batch_bytes: int = DEFAULT_KAFKA_BATCH_BYTES
    """The most bytes of message values of one partition written as one batch (one larger
    message is a batch of its own)."""
    rotate_seconds: float = DEFAULT_KAFKA_ROTATE_SECONDS
    """``trade-platform stream``: a partition's batch is written this long after it began."""
    buffer_bytes: int = DEFAULT_KAFKA_BUFFER_BYTES
    """Bytes of message values all partitions may hold read and not written; beyond it the
    partition holding most is written early."""
    timeout_seconds: float = DEFAULT_KAFKA_TIMEOUT_SECONDS
    """How long a metadata or offsets request may wait before the brokers count as unreachable."""
    client_config: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Any other librdkafka setting, from ``TRADE_PLATFORM_KAFKA_<SETTING>`` (``SECURITY_PROTOCOL``
    -> ``security.protocol``); values may be secrets, so they are never logged."""

    @classmethod
    def from_env(cls, env: _Env) -> KafkaSettings:
        client_config = {}
        for name in sorted(env.environ):
            if name.startswith(KAFKA_PREFIX) and name not in KAFKA_VARIABLES:
                setting = name.removeprefix(KAFKA_PREFIX).lower().replace("_", ".")
                if setting in KAFKA_OWNED:
                    raise ValueError(
                        f"{name}: {setting} is set by trade-platform (use {KAFKA_BOOTSTRAP_SERVERS_ENV} "
                        f"and {KAFKA_GROUP_ENV}; offsets are committed only once the files are durable, and offsets "
                        "out of range are recorded as lost)"
                    )
                value = env.parse(name, None, partial(kafka_setting, setting))
                if value is not None:
                    client_config[setting] = value
        if env.text(KAFKA_BATCH_SECONDS_ENV, ""):
            raise ValueError(
                f"{KAFKA_BATCH_SECONDS_ENV} is retired: use {KAFKA_ROTATE_SECONDS_ENV} (default "
                f"{DEFAULT_KAFKA_ROTATE_SECONDS:g}), {KAFKA_BATCH_MESSAGES_ENV} and {KAFKA_BATCH_BYTES_ENV}"
            )
        return cls(
            bootstrap_servers=env.parse(KAFKA_BOOTSTRAP_SERVERS_ENV, None, brokers),
            topic=env.parse(KAFKA_TOPIC_ENV, DEFAULT_KAFKA_TOPIC, topic),
            group=env.parse(KAFKA_GROUP_ENV, DEFAULT_KAFKA_GROUP, values.name),
            batch_messages=env.parse(KAFKA_BATCH_MESSAGES_ENV, DEFAULT_KAFKA_BATCH_MESSAGES, MESSAGES),
            batch_bytes=env.parse(KAFKA_BATCH_BYTES_ENV, DEFAULT_KAFKA_BATCH_BYTES, BYTES),
            rotate_seconds=env.parse(KAFKA_ROTATE_SECONDS_ENV, DEFAULT_KAFKA_ROTATE_SECONDS, ROTATE_SECONDS),
            buffer_bytes=env.parse(KAFKA_BUFFER_BYTES_ENV, DEFAULT_KAFKA_BUFFER_BYTES, BYTES),
            timeout_seconds=env.parse(KAFKA_TIMEOUT_ENV, DEFAULT_KAFKA_TIMEOUT_SECONDS, WAIT_SECONDS),
            client_config=client_config,
        )


def brokers(text: str) -> str:
    """Kafka brokers, ``host[:port]`` separated by commas."""
    for broker in (b.strip() for b in text.split(",")):
        match = _BROKER.fullmatch(broker)
        if not match or not 1 <= int(match.group(1) or 9092) <= 65_535:
            raise ValueError(f"must list brokers like host1:9092,host2:9092, got {text!r}")
    return text


def topic(text: str) -> str:
    """A Kafka topic name: letters, digits, ``.``, ``_``, ``-``, at most 249 (Kafka's own rule)."""
    if not _TOPIC.fullmatch(text) or text in (".", ".."):
        raise ValueError(f"must be a Kafka topic name (letters, digits, '.', '_', '-'), got {text!r}")
    return text


def kafka_setting(setting: str, text: str) -> str:
    """A librdkafka consumer setting, checked by librdkafka itself (names and values alike)."""
    try:
        Consumer({"group.id": "trade-platform-settings", setting: text}).close()
    except KafkaException as exc:
        # librdkafka's message quotes the value as it is: its line breaks are escaped to keep one line
        message = exc.args[0].str().replace("\r", "\\r").replace("\n", "\\n")
        raise ValueError(f"librdkafka refuses {setting}: {message}") from None
    return text
