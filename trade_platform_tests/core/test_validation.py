"""The DLQ rules of ``core.validation`` on plain polars frames: one case per DLQ code, records
with several faults, the first clean occurrence of a trade_id, and the split's shape.

``defs/test_dlq_codes.py`` keeps one Dagster run that shows the codes reach ``trades_dlq``."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.landing.columns import LANDING_FIELDS
from trade_platform.core.validation import (
    DLQ_SCHEMA,
    UNREADABLE_PREFIX,
    VALIDATED_SCHEMA,
    TradeSplit,
    dead_letter_file,
    split_trades,
)
from trade_platform_tests.conftest import DAY, trade

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
"""Midday of the partition's day: a trade later that day is in the future, not outside it."""
PARTITION = date.fromisoformat(DAY)


def raw(*records: dict, day: date = PARTITION) -> pl.DataFrame:
    """Landed records as the readers give them: text fields, provenance, the ``date`` partition.
    A record's ``_source_file``/``_source_row``/``_parse_error`` may be given; by default each is
    row n+1 of ``t.csv``."""
    rows = [
        {
            **dict.fromkeys(LANDING_FIELDS),
            "_source_file": "t.csv",
            "_source_row": n + 1,
            "_raw_record": ",".join(record.get(name) or "" for name in LANDING_FIELDS),
            "_parse_error": None,
            **record,
        }
        for n, record in enumerate(records)
    ]
    schema = {**dict.fromkeys(LANDING_FIELDS, pl.String), "_source_file": pl.String}
    schema |= {"_source_row": pl.Int64, "_raw_record": pl.String, "_parse_error": pl.String}
    return pl.DataFrame(rows, schema=schema).with_columns(date=pl.lit(day))


def split(frame: pl.DataFrame, **kwargs) -> TradeSplit:
    return split_trades(frame, now=NOW, run_id="run-1", **kwargs)


# One record per record-level code: its only fault, and what the DLQ's error says of it.
RECORD_FAULTS: dict[DlqCode, tuple[dict, str]] = {
    DlqCode.MALFORMED_RECORD: (
        {"trade_id": "MAL1", "price": None, "_parse_error": "3 fields, 2 expected"},
        "malformed record: 3 fields, 2 expected",
    ),
    DlqCode.MISSING_FIELD: (trade("M1", price=None, side="  "), "missing field(s): side, price"),
    DlqCode.INVALID_TRADE_ID: (trade("bad id!"), "trade_id 'bad id!' does not match"),
    DlqCode.INVALID_SYMBOL: (trade("S1", symbol="BT$C"), "symbol 'BT$C' is not ASCII letters"),
    DlqCode.INVALID_SIDE: (trade("D1", side="hold"), "side 'hold' is not buy or sell"),
    DlqCode.INVALID_PRICE: (trade("P1", price="-1"), "price '-1' is not a finite number > 0"),
    DlqCode.INVALID_QUANTITY: (trade("Q1", quantity="abc"), "quantity 'abc' is not a finite number > 0"),
    DlqCode.INVALID_NOTIONAL: (
        trade("NO1", price="1e-200", quantity="1e-200"),
        "price '1e-200' × quantity '1e-200' is outside",
    ),
    DlqCode.INVALID_TIMESTAMP: (
        trade("TS1", timestamp="not a time"),
        "timestamp 'not a time' is not in an accepted timestamp form",
    ),
    DlqCode.TIMESTAMP_NO_TIMEZONE: (
        trade("TZ1", timestamp="2026-11-20T10:00:00"),
        "timestamp '2026-11-20T10:00:00' has no timezone",
    ),
    DlqCode.TIMESTAMP_IN_FUTURE: (
        trade("F1", timestamp="2026-11-20T12:00:00.000001Z"),
        "timestamp '2026-11-20T12:00:00.000001Z' is in the future",
    ),
    DlqCode.TIMESTAMP_OUTSIDE_PARTITION: (
        trade("O1", timestamp="2026-11-19T23:59:59Z"),
        "timestamp '2026-11-19T23:59:59Z' is outside partition 2026-11-20",
    ),
    DlqCode.INVALID_EXCHANGE: (trade("E1", exchange="EX CHANGE!"), "exchange 'EX CHANGE!' is not ASCII"),
    DlqCode.INVALID_ACCOUNT_ID: (trade("AC1", account_id="acct 7"), "account_id 'acct 7' does not match"),
    DlqCode.INVALID_TRADER_ID: (trade("TR1", trader_id="-T9"), "trader_id '-T9' does not match"),
}
OTHER_CASES = {
    DlqCode.DUPLICATE_TRADE_ID: "test_a_later_record_of_an_accepted_trade_id_is_a_duplicate",
    DlqCode.UNREADABLE_FILE: "test_an_unreadable_file_is_one_entry_without_records",
}


def test_every_dlq_code_has_a_case_here():
    assert set(RECORD_FAULTS) | set(OTHER_CASES) == set(DlqCode)
    assert not set(RECORD_FAULTS) & set(OTHER_CASES)
    assert all(name in globals() for name in OTHER_CASES.values())


@pytest.mark.parametrize("code", list(RECORD_FAULTS), ids=str)
def test_a_record_with_one_fault_is_rejected_with_its_code_alone(code: DlqCode):
    record, message = RECORD_FAULTS[code]
    result = split(raw(trade("GOOD"), record))
    assert result.validated["trade_id"].to_list() == ["GOOD"]
    [entry] = result.dlq.iter_rows(named=True)
    assert entry["error_codes"] == [code.value]
    assert message in entry["error"], entry["error"]
    assert (entry["trade_id"], entry["_source_row"]) == (record["trade_id"], 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", "0"), ("price", "nan"), ("price", "inf"), ("quantity", "-0.5"), ("quantity", "1e400")],
)
def test_a_price_or_quantity_must_be_a_finite_positive_number(field: str, value: str):
    assert split(raw(trade("X", **{field: value}))).dlq["error_codes"].to_list() == [[f"invalid_{field}"]]


@pytest.mark.parametrize(
    ("price", "quantity"), [("1e301", "1"), ("1", "1e-301"), ("1e200", "1e200"), ("1e-160", "1e-160")]
)
def test_a_price_quantity_or_notional_beyond_the_magnitude_bounds_is_invalid_notional(price, quantity):
    codes = split(raw(trade("X", price=price, quantity=quantity))).dlq["error_codes"].to_list()
    assert codes == [["invalid_notional"]]


def test_a_timestamp_at_the_next_midnight_is_outside_the_partition():
    late = datetime(2026, 11, 22, tzinfo=UTC)
    stamps = {
        "LAST": "2026-11-20T23:59:59.999999Z",
        "NEXT": "2026-11-21T00:00:00Z",
        "FIRST": "2026-11-20T00:00Z",
    }
    result = split_trades(raw(*(trade(i, timestamp=t) for i, t in stamps.items())), now=late, run_id="r")
    assert result.validated["trade_id"].to_list() == ["LAST", "FIRST"]
    assert result.dlq.select("trade_id", "error_codes").rows() == [("NEXT", ["timestamp_outside_partition"])]


def test_a_future_timestamp_with_an_offset_is_in_the_future_and_outside_the_partition():
    result = split(raw(trade("F1", timestamp="2999-12-31T00:00:00+01:00"), trade("OK")))
    assert result.dlq["error_codes"].to_list() == [["timestamp_in_future", "timestamp_outside_partition"]]
    assert result.validated["trade_id"].to_list() == ["OK"]


def test_a_record_with_several_faults_carries_all_its_codes_in_canonical_order():
    record = trade("X1", side="hold", price="0", exchange="?!") | {"_source_file": "f.csv", "_source_row": 7}
    record["_raw_record"] = "X1,BTC-USD,hold,0,2,2026-11-20T10:00:00Z,?!"
    [entry] = split(raw(record)).dlq.iter_rows(named=True)
    assert entry["error_codes"] == ["invalid_side", "invalid_price", "invalid_exchange"]
    assert entry["error"] == (
        "side 'hold' is not buy or sell; price '0' is not a finite number > 0; "
        "exchange '?!' is not ASCII letters, digits, _ or -"
    )
    assert entry["raw_record"] == "X1,BTC-USD,hold,0,2,2026-11-20T10:00:00Z,?!"
    assert (entry["_source_file"], entry["_source_row"]) == ("f.csv", 7)


def test_a_malformed_record_gets_no_other_code_whatever_its_fields():
    record = {"trade_id": "bad id!", "side": "hold", "_parse_error": "unterminated quote"}
    assert split(raw(record)).dlq["error_codes"].to_list() == [["malformed_record"]]


def test_validated_trades_are_trimmed_and_normalised_and_the_dlq_is_stamped_with_the_run():
    good = trade("G2", symbol=" eth-usd ", side=" SELL ", exchange="kraken ", account_id=" a-1 ")
    result = split(raw(good, trade("BAD", side="hold")))
    assert result.validated.select(
        "trade_id", "symbol", "side", "exchange", "account_id", "trader_id"
    ).rows() == [("G2", "ETH-USD", "sell", "KRAKEN", "a-1", None)]
    assert result.validated.schema == pl.Schema(VALIDATED_SCHEMA)
    assert result.validated["timestamp"].to_list() == [datetime(2026, 11, 20, 10, tzinfo=UTC)]
    assert result.dlq.schema == pl.Schema(DLQ_SCHEMA)
    assert result.dlq.select("run_id", "rejected_at", "date").rows() == [("run-1", NOW, PARTITION)]


def test_every_record_is_in_exactly_one_output():
    records = [trade(f"T{i}") for i in range(5)] + [record for record, _ in RECORD_FAULTS.values()]
    result = split(raw(*records))
    assert result.validated.height + result.dlq.height == len(records)
    assert result.validated.height == 5


def test_a_later_record_of_an_accepted_trade_id_is_a_duplicate():
    result = split(raw(trade("G1"), trade("G1", price="101")))
    assert result.validated.select("trade_id", "price").rows() == [("G1", 100.5)]
    [entry] = result.dlq.iter_rows(named=True)
    assert (entry["error_codes"], entry["_source_row"]) == (["duplicate_trade_id"], 2)
    assert "trade_id 'G1' was already accepted from an earlier record" in entry["error"]


def test_the_first_clean_occurrence_by_file_then_row_is_kept():
    """Records given out of order: a.csv's faulty D1, then its clean D1 (kept), then b.csv's two."""
    records = [
        trade("D1", price="2") | {"_source_file": "b.csv", "_source_row": 2},
        trade("D1", price="4") | {"_source_file": "a.csv", "_source_row": 3},
        trade("D1", price="3") | {"_source_file": "b.csv", "_source_row": 3},
        trade("D1", price="1", quantity="-1") | {"_source_file": "a.csv", "_source_row": 2},
    ]
    result = split(raw(*records))
    assert result.validated.select("trade_id", "price", "_source_file").rows() == [("D1", 4.0, "a.csv")]
    assert result.dlq.select("_source_file", "_source_row", "error_codes").rows() == [
        ("a.csv", 2, ["invalid_quantity"]),
        ("b.csv", 2, ["duplicate_trade_id"]),
        ("b.csv", 3, ["duplicate_trade_id"]),
    ]


def test_a_faulty_record_after_the_kept_one_carries_its_fault_and_duplicate():
    result = split(raw(trade("D1"), trade("D1", side="hold")))
    assert result.dlq["error_codes"].to_list() == [["invalid_side", "duplicate_trade_id"]]


def test_a_trade_id_with_no_clean_record_has_no_duplicates():
    result = split(raw(trade("D1", side="hold"), trade("D1", price="0")))
    assert result.validated.height == 0
    assert result.dlq["error_codes"].to_list() == [["invalid_side"], ["invalid_price"]]


def test_the_same_trade_id_on_two_days_is_no_duplicate():
    other_day = raw(trade("D1", timestamp="2026-11-21T10:00:00Z"), day=date(2026, 11, 21))
    result = split_trades(
        pl.concat([raw(trade("D1")), other_day]), now=datetime(2026, 11, 22, tzinfo=UTC), run_id="r"
    )
    assert result.validated.select("trade_id", "date").rows() == [
        ("D1", PARTITION),
        ("D1", date(2026, 11, 21)),
    ]
    assert result.dlq.height == 0


def test_a_record_carrying_an_id_accepted_by_an_earlier_chunk_is_a_duplicate():
    earlier = pl.Series("trade_id", ["A1", "B7"])
    result = split(raw(trade("A1"), trade("A2")), accepted_ids=earlier)
    assert result.validated["trade_id"].to_list() == ["A2"]
    assert result.dlq.select("trade_id", "error_codes").rows() == [("A1", ["duplicate_trade_id"])]


def test_an_unreadable_file_is_one_entry_without_records():
    entry = dead_letter_file(
        "trades/date=2026-11-20/x.csv.gz", "not a gzip file", PARTITION, now=NOW, run_id="r"
    )
    assert entry.schema == pl.Schema(DLQ_SCHEMA)
    assert entry.rows(named=True) == [
        {
            "raw_record": None,
            "trade_id": None,
            "error_codes": ["unreadable_file"],
            "error": UNREADABLE_PREFIX + "not a gzip file",
            "_source_file": "trades/date=2026-11-20/x.csv.gz",
            "_source_row": None,
            "run_id": "r",
            "rejected_at": NOW,
            "date": PARTITION,
        }
    ]
