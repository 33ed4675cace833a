"""Every DLQ code, produced from real landing files of every format through Dagster."""

from __future__ import annotations

import polars as pl
import pytest

from trade_platform.core.dlq_codes import ALL_CODES, DlqCode
from trade_platform.core.landing.columns import LANDING_FIELDS
from trade_platform_tests.conftest import Platform, trade, write_csv, write_jsonl, write_parquet

# One record per record-level code (the key is the trade_id, or the code when there is none).
FAULTY_ROWS = {
    DlqCode.MISSING_FIELD: trade("M1", price=None),
    DlqCode.INVALID_TRADE_ID: trade("bad id!"),
    DlqCode.INVALID_SYMBOL: trade("S1", symbol="BT$C"),
    DlqCode.INVALID_SIDE: trade("D1", side="hold"),
    DlqCode.INVALID_PRICE: trade("P1", price="-1"),
    DlqCode.INVALID_QUANTITY: trade("Q1", quantity="abc"),
    DlqCode.INVALID_NOTIONAL: trade("NO1", price="1e-200", quantity="1e-200"),
    DlqCode.INVALID_TIMESTAMP: trade("TS1", timestamp="not a time"),
    DlqCode.TIMESTAMP_NO_TIMEZONE: trade("TZ1", timestamp="2026-11-20T10:00:00"),
    DlqCode.TIMESTAMP_IN_FUTURE: trade("F1", timestamp="2999-01-01T00:00:00Z"),
    DlqCode.TIMESTAMP_OUTSIDE_PARTITION: trade("O1", timestamp="2026-11-19T23:59:59Z"),
    DlqCode.INVALID_EXCHANGE: trade("E1", exchange="EX CHANGE!"),
    DlqCode.INVALID_ACCOUNT_ID: trade("AC1", account_id="acct 7"),
    DlqCode.INVALID_TRADER_ID: trade("TR1", trader_id="-T9"),
    DlqCode.DUPLICATE_TRADE_ID: trade("G1", price="101"),
}
GOOD_ROWS = [trade("G1"), trade("G2", symbol=" eth-usd ", side=" SELL ", exchange="kraken ")]


def land_every_code(platform: Platform, file_format: str) -> None:
    day = platform.day_dir()
    rows = GOOD_ROWS + list(FAULTY_ROWS.values())
    if file_format == "csv":
        write_csv(
            day / "trades.csv",
            rows,
            extra_lines=["MAL1,BTC,buy,1,1,2026-11-20T10:00:00Z,X,,,unexpected"],
            header=list(LANDING_FIELDS),
        )
        (day / "unreadable.csv").write_bytes(b"trade_id,symbol\x00\x00\x00binary")
    elif file_format == "jsonl":
        write_jsonl(day / "trades.jsonl.gz", rows, extra_lines=['{"trade_id": "MAL1", "price": '])
        (day / "unreadable.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    else:
        write_parquet(day / "trades.parquet", rows, schema=dict.fromkeys(LANDING_FIELDS, pl.String))
        write_parquet(
            day / "zz-malformed.parquet",
            [{"trade_id": "MAL1", "price": [1.0, 2.0]}],
            schema={"trade_id": pl.String, "price": pl.List(pl.Float64)},
        )
        (day / "unreadable.parquet").write_bytes(b"PAR1 this is not parquet PAR1")


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_every_dlq_code_is_produced_from_a_real_landing_file(platform: Platform, file_format: str):
    land_every_code(platform, file_format)
    platform.materialize()

    dlq = platform.read("trades_dlq")
    codes_by_id = {
        (row["trade_id"] or row["_source_file"]): set(row["error_codes"]) for row in dlq.iter_rows(named=True)
    }
    for code, row in FAULTY_ROWS.items():
        assert code.value in codes_by_id[row["trade_id"]], (code, codes_by_id)
    assert codes_by_id["bad id!"] == {"invalid_trade_id"}
    malformed = dlq.filter(pl.col("error_codes").list.contains("malformed_record"))
    assert malformed.height == 1 and "MAL1" in malformed["raw_record"][0]
    unreadable = dlq.filter(pl.col("error_codes").list.contains("unreadable_file"))
    assert unreadable["_source_file"].to_list() == [
        f"trades/date=2026-11-20/unreadable.{ {'csv': 'csv', 'jsonl': 'jsonl.gz', 'parquet': 'parquet'}[file_format] }"
    ]
    assert unreadable["_source_row"].is_null().all()
    produced = set(dlq["error_codes"].explode().to_list())
    assert produced == set(ALL_CODES)

    validated = platform.read("validated_trades")
    assert validated.sort("trade_id").select("trade_id", "symbol", "side", "exchange").rows() == [
        ("G1", "BTC-USD", "buy", "BINANCE"),
        ("G2", "ETH-USD", "sell", "KRAKEN"),
    ]


def test_a_record_with_several_faults_carries_all_its_codes(platform: Platform):
    write_csv(platform.day_dir() / "t.csv", [trade("X1", side="hold", price="0", exchange="?!")])
    platform.materialize()
    [row] = platform.read("trades_dlq").iter_rows(named=True)
    assert row["error_codes"] == ["invalid_side", "invalid_price", "invalid_exchange"]
    assert "side 'hold'" in row["error"] and "price '0'" in row["error"] and "exchange '?!'" in row["error"]
    assert row["raw_record"] == "X1,BTC-USD,hold,0,2,2026-11-20T10:00:00Z,?!"
    assert (row["_source_file"], row["_source_row"]) == ("trades/date=2026-11-20/t.csv", 2)


def test_a_future_timestamp_is_rejected_to_the_dlq(platform: Platform):
    write_jsonl(
        platform.day_dir() / "t.jsonl", [trade("F1", timestamp="2999-12-31T00:00:00+01:00"), trade("OK")]
    )
    result = platform.materialize()
    dlq = platform.read("trades_dlq")
    assert dlq["trade_id"].to_list() == ["F1"]
    assert "timestamp_in_future" in dlq["error_codes"][0]
    assert dlq["run_id"].to_list() == [result.run_id]
    assert platform.read("validated_trades")["trade_id"].to_list() == ["OK"]


def test_first_occurrence_by_file_then_row_is_kept(platform: Platform):
    day = platform.day_dir()
    write_csv(day / "b.csv", [trade("D1", price="2"), trade("D1", price="3")])
    write_csv(day / "a.csv", [trade("D1", price="1", quantity="-1"), trade("D1", price="4")])
    platform.materialize()
    assert platform.read("validated_trades").select("trade_id", "price").rows() == [("D1", 4.0)]
    dlq = platform.read("trades_dlq").sort("_source_file", "_source_row")
    assert dlq.select("_source_file", "error_codes").rows() == [
        ("trades/date=2026-11-20/a.csv", ["invalid_quantity"]),
        ("trades/date=2026-11-20/b.csv", ["duplicate_trade_id"]),
        ("trades/date=2026-11-20/b.csv", ["duplicate_trade_id"]),
    ]


def test_a_60th_second_is_an_invalid_timestamp_not_the_next_minute(platform: Platform):
    leap = {"L1": "2026-11-20T10:00:60Z", "L2": "2026-11-20T23:59:60+00:00", "L3": "2026-11-20T10:00:60.5Z"}
    write_csv(platform.day_dir() / "t.csv", [trade(i, timestamp=t) for i, t in leap.items()] + [trade("OK")])
    platform.materialize()
    dlq = platform.read("trades_dlq").sort("trade_id")
    assert dlq.select("trade_id", "error_codes").rows() == [(i, ["invalid_timestamp"]) for i in leap]
    assert platform.read("validated_trades")["trade_id"].to_list() == ["OK"]
