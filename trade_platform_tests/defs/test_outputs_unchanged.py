"""The lake's files are byte for byte what the code wrote before a performance change (issue 27:
"byte-identical outputs"): one seeded landing zone, every asset of two days in one range run,
each file's SHA-256 against the digests below.

The digests were taken from the code before the performance work and must only change with a
deliberate change of the outputs (a new column, another encoding), never with a speed-up. To
see the new digests after such a change, run this module: the failure lists them all."""

from __future__ import annotations

import hashlib
from datetime import date

from trade_platform.core.generate import generate_day, write_day
from trade_platform_tests.conftest import Platform

DAYS = ("2024-03-01", "2024-03-02")
DLQ_STAMPS = ["run_id", "rejected_at"]  # who rejected a row and when: different in every run
EXPECTED = {
    "raw_trades/2024-03-01": "cb9d8426cbb874896976cc016e53369bc5e17e0301f5aad09c0e4953d8dfd3ab",
    "validated_trades/2024-03-01": "c364acf8d7642859583ac5feb8019da33819a0a705a31fd5955c38ce277877a1",
    "ohlcv/2024-03-01": "0da4402e026dea9a38432b0db4449f336387fa74a1410368f3588e40bc82ee8f",
    "daily_volume/2024-03-01": "135b6303d299b80f9092bb3eb13a0d09c75feb3cce8554012594bd37232e8537",
    "trades_dlq/2024-03-01 without run_id, rejected_at": "875eb159cb50d4f438c9e22ddeae8660f5601714c4d97c4e195f03591a0eb981",
    "raw_trades/2024-03-02": "3ce3a462d76a9902f1101eb16f7dd86285c74b3ef3b5a83327a6f5fc3da4ff13",
    "validated_trades/2024-03-02": "099df6e9bf1eb213aa0772649c9f228c55104a9c6ff7ba45ab18be68666d4a05",
    "ohlcv/2024-03-02": "ee90eb803e69129cc1482a2f2f38dfd10ba9fa1e10e8bcb777cd09fa9704e0b2",
    "daily_volume/2024-03-02": "6507744220c0597f35d747c29a387ebdc110689bc8eaf5dd69dbba527295c9f5",
    "trades_dlq/2024-03-02 without run_id, rejected_at": "8ce476445e6c8c986260f3448e0084dd387e914e5b7b6b5d60b0f8873be45eef",
}


def test_a_seeded_landing_zone_gives_the_same_lake_files_as_before(platform: Platform):
    for seed, day in enumerate(DAYS):  # every landing format, bad records of every code, a corrupt file
        generated = generate_day(date.fromisoformat(day), 20_000, seed=seed, bad_fraction=0.05)
        write_day(generated, str(platform.landing), corrupt_file=True)
    platform.materialize(DAYS[0], until=DAYS[-1])
    found = {}
    for day in DAYS:
        for asset in ("raw_trades", "validated_trades", "ohlcv", "daily_volume"):
            found[f"{asset}/{day}"] = hashlib.sha256(
                platform.partition_file(asset, day).read_bytes()
            ).hexdigest()
        dlq = platform.read("trades_dlq", day).drop(DLQ_STAMPS).write_ndjson()
        found[f"trades_dlq/{day} without {', '.join(DLQ_STAMPS)}"] = hashlib.sha256(dlq.encode()).hexdigest()
    assert found == EXPECTED, "the lake's files changed; their digests now:\n" + "\n".join(
        f"    {name!r}: {digest!r}," for name, digest in found.items()
    )
