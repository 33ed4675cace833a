"""``trade-platform generate``: write synthetic trades into the landing zone, or with
``--to-kafka`` produce them to a Kafka topic (``core/kafka/producer.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, timedelta

from trade_platform import setting_values as values
from trade_platform.kafka_settings import KAFKA_BOOTSTRAP_SERVERS_ENV, KAFKA_TOPIC_ENV
from trade_platform.settings import (
    LANDING_URL_ENV,
    START_DATE_ENV,
    Settings,
)


def add_parser(commands, current: Settings) -> argparse.ArgumentParser:
    generate = add_day_arguments(
        commands.add_parser(
            "generate", help="write synthetic trades into the landing zone, or produce them to Kafka"
        ),
        current,
    )
    generate.add_argument(
        "--to-kafka",
        action="store_true",
        help=f"produce the trades (bad records included) to the Kafka topic at {KAFKA_BOOTSTRAP_SERVERS_ENV} "
        "instead of writing files",
    )
    generate.add_argument(
        "--topic", default=current.kafka.topic, help=f"topic of --to-kafka (env {KAFKA_TOPIC_ENV})"
    )
    return generate


def add_day_arguments(command: argparse.ArgumentParser, current: Settings) -> argparse.ArgumentParser:
    """The days and the shape of the generated trades (``generate`` and ``demo``)."""
    yesterday = date.today() - timedelta(days=1)
    command.add_argument(
        "--end", type=date.fromisoformat, default=yesterday, help="last day (UTC, YYYY-MM-DD): yesterday"
    )
    command.add_argument(
        "--days", type=_checked(values.integer(1, 36_500)), default=7, help="number of days ending at --end"
    )
    command.add_argument(
        "--trades-per-day",
        type=_checked(values.integer(1, 10**9)),
        default=20_000,
        help="records generated per day",
    )
    command.add_argument(
        "--symbols", type=_checked(values.integer(1, 100_000)), default=8, help="distinct symbols traded"
    )
    command.add_argument(
        "--bad-fraction",
        type=_checked(values.decimal(0.0, 1.0)),
        default=0.01,
        help="share of records made bad (every DLQ code's kind)",
    )
    command.add_argument(
        "--seed", type=int, default=42, help="random seed: the same seed gives the same files"
    )
    command.add_argument(
        "--landing",
        type=_checked(values.location),
        default=current.landing_url,
        help=f"landing URL (env {LANDING_URL_ENV})",
    )
    return command


def _checked(parse: Callable[[str], object]) -> Callable[[str], object]:
    """A setting's parser as an argparse type: its message, not argparse's "invalid value"."""

    def check(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return check


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> int:
    days = chosen_days(parser, args, current)
    if args.to_kafka:
        return generate_to_kafka(days, args, current)
    generate_days(days, args)
    return 0


def chosen_days(parser: argparse.ArgumentParser, args: argparse.Namespace, current: Settings) -> list[date]:
    days = [args.end - timedelta(days=offset) for offset in reversed(range(args.days))]
    if days[0] < current.start_date:
        parser.error(f"--end/--days reach before {START_DATE_ENV}={current.start_date}")
    return days


def generate_days(days: list[date], args: argparse.Namespace) -> None:
    from trade_platform.core.generate import write_day

    for index, generated, corrupt in generated_days(days, args):
        files = write_day(generated, args.landing, corrupt_file=corrupt)
        print(
            f"generate [{index}/{len(days)}] {generated.day}: {generated.records.height} records in "
            f"{len(files)} files",
            flush=True,
        )


def generated_days(days: list[date], args: argparse.Namespace):
    """(index, GeneratedDay, whether the day also gets a corrupt file) of each day."""
    from trade_platform.core.generate import generate_day

    for index, day in enumerate(days, start=1):
        generated = generate_day(
            day, args.trades_per_day, seed=args.seed, n_symbols=args.symbols, bad_fraction=args.bad_fraction
        )
        # Every third day also receives a corrupt file, so unreadable_file shows up too.
        yield index, generated, index % 3 == 0


def generate_to_kafka(days: list[date], args: argparse.Namespace, current: Settings) -> int:
    """Produce every day's trades, then wait for their delivery (Kafka's errors: ``main``)."""
    from trade_platform.core.kafka.producer import produce, trade_messages

    def batches():
        for index, generated, corrupt in generated_days(days, args):
            messages = trade_messages(generated, corrupt=corrupt)
            yield messages
            print(f"generate [{index}/{len(days)}] {generated.day}: {messages.height} messages", flush=True)

    delivered = produce(current.kafka, args.topic, batches())
    per_partition = ", ".join(f"{partition}: {count}" for partition, count in delivered.items())
    print(f"delivered {sum(delivered.values())} messages to {args.topic!r} (per partition {per_partition})")
    return 0
