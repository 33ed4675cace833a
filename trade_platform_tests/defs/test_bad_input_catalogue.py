"""The bad-input catalogue: each fixture file under bad_inputs/ lands in one partition together
with the others; each gets its expected outcome, and the rest of the partition still flows."""

from __future__ import annotations

import shutil

import polars as pl

from trade_platform_tests.conftest import BAD_INPUTS, Platform

FIXTURES = BAD_INPUTS

# file -> {trade_id or source row: DLQ codes}; () means validated.
EXPECTED: dict[str, dict[str | int, tuple[str, ...]]] = {
    "malformed_json.jsonl": {"J1": (), 2: ("malformed_record",)},
    "ragged_rows.csv": {"R1": (), 3: ("malformed_record",), 4: ("malformed_record",)},  # too many, too few
    "bom_crlf.csv": {"B1": ()},
    "header_only.csv": {},
    "zero_byte.csv": {},
    "zero_byte.jsonl": {},
    "truncated.parquet": {None: ("unreadable_file",)},
    "corrupt.csv.gz": {None: ("unreadable_file",)},
    "not_utf8.csv": {"U1": ("invalid_symbol",), "U2": ()},  # bad bytes become U+FFFD
    "bad_numbers.csv": {
        "N1": ("invalid_price", "invalid_quantity"),  # nan
        "N2": ("invalid_price", "invalid_quantity"),  # inf
        "N3": ("invalid_price", "invalid_quantity"),  # negative
        "N4": ("invalid_price", "invalid_quantity"),  # zero
        "N5": ("missing_field",),  # empty price
        "N6": ("invalid_price", "invalid_quantity"),  # not a number
        "N7": ("invalid_price", "invalid_quantity"),  # 1e400 overflows to inf
        "N8": ("invalid_notional",),  # 1e300 × 1e300 overflows: it would poison the marts
    },
    "timestamps.csv": {
        "Z1": ("timestamp_no_timezone",),
        "Z2": ("timestamp_outside_partition",),  # -05:00 converts to the next UTC day
        "Z3": (),  # +05:30 converts to 03:00Z the same day
        "Z4": ("timestamp_outside_partition",),  # epoch seconds, a year earlier
        "Z5": ("timestamp_outside_partition",),  # epoch milliseconds, a year earlier
        "Z6": (),  # epoch seconds on the day
        "Z7": ("timestamp_outside_partition",),
        "Z8": ("timestamp_in_future", "timestamp_outside_partition"),
    },
    "duplicates_a.csv": {2: (), 3: ("duplicate_trade_id",), 4: ()},  # exact duplicate in one file
    "duplicates_b.jsonl": {"D2": ("duplicate_trade_id",)},  # conflicting duplicate across files
    "padded_case.csv": {"P1": ()},
    "extra_columns.csv": {"X1": ()},
    "missing_column.csv": {"M1": ("missing_field",), "M2": ("missing_field",)},
    "name with spaces é.csv": {"S1": ()},
}


def test_every_bad_input_gets_its_outcome_and_the_partition_still_materializes(platform: Platform):
    day = platform.day_dir()
    for fixture in FIXTURES.iterdir():
        shutil.copy(fixture, day / fixture.name)
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(EXPECTED)

    result = platform.materialize()

    assert result.success
    raw, validated, dlq = (platform.read(a) for a in ("raw_trades", "validated_trades", "trades_dlq"))
    for name, outcomes in EXPECTED.items():
        source = f"trades/date=2026-11-20/{name}"
        for key, codes in outcomes.items():
            column = "_source_row" if isinstance(key, int) or key is None else "trade_id"

            def at(frame: pl.DataFrame, source=source, key=key, column=column) -> pl.DataFrame:
                mine = frame.filter(pl.col("_source_file") == source)
                return mine if key is None else mine.filter(pl.col(column) == key)

            if codes:
                rows = at(dlq)
                assert rows.height == 1, (name, key, rows)
                assert tuple(rows["error_codes"][0]) == codes, (name, key)
                assert rows["error"][0], (name, key)
            else:
                assert at(validated).height == 1, (name, key)
        expected_raw = sum(1 for k, c in outcomes.items() if k is not None)
        assert raw.filter(pl.col("_source_file") == source).height == expected_raw, name

    records = dlq.filter(~pl.col("error_codes").list.contains("unreadable_file"))
    assert raw.height == validated.height + records.height  # nothing lost
    padded = validated.filter(pl.col("trade_id") == "P1").row(0, named=True)
    assert (padded["symbol"], padded["side"], padded["exchange"]) == ("BTC-USD", "buy", "KRAKEN")
    assert raw.filter(pl.col("trade_id") == "X1").select("venue_seq", "note").row(0) == ("42", "hello")
    assert validated.filter(pl.col("trade_id") == "D2")["side"].to_list() == ["buy"]  # the first one wins
    assert "missing field(s): quantity" in dlq.filter(pl.col("trade_id") == "M1")["error"][0]
