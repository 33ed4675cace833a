"""Every DLQ code reaches ``trades_dlq`` from real landing files of every format in one Dagster run.

What each code means, several faults on one record and which duplicate is kept are the plain
rules of ``core.validation``, tested in ``core/test_validation.py``."""

from __future__ import annotations

import polars as pl

from trade_platform.core.dlq_codes import ALL_CODES, DlqCode
from trade_platform.core.landing.columns import LANDING_FIELDS
from trade_platform.core.landing.files import landing_format
from trade_platform_tests.conftest import Platform, trade, write_csv, write_jsonl, write_parquet

FORMATS = ("csv", "jsonl", "parquet")
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
UNREADABLE = {"csv": "unreadable.csv", "jsonl": "unreadable.jsonl.gz", "parquet": "unreadable.parquet"}


def prefixed(rows: list[dict], file_format: str) -> list[dict]:
    """The rows with their trade_ids prefixed by the format, so the formats' files share no id."""
    return [row | {"trade_id": f"{file_format}-{row['trade_id']}"} for row in rows]


def land_every_code(platform: Platform, file_format: str) -> None:
    """The good rows, one faulty row per record-level code, a malformed record and an
    unreadable file, all in ``file_format``."""
    day = platform.day_dir()
    rows = prefixed(GOOD_ROWS + list(FAULTY_ROWS.values()), file_format)
    malformed_id = f"{file_format}-MAL1"
    if file_format == "csv":
        write_csv(
            day / "trades.csv",
            rows,
            extra_lines=[f"{malformed_id},BTC,buy,1,1,2026-11-20T10:00:00Z,X,,,unexpected"],
            header=list(LANDING_FIELDS),
        )
        (day / UNREADABLE["csv"]).write_bytes(b"trade_id,symbol\x00\x00\x00binary")
    elif file_format == "jsonl":
        write_jsonl(day / "trades.jsonl.gz", rows, extra_lines=[f'{{"trade_id": "{malformed_id}", "price": '])
        (day / UNREADABLE["jsonl"]).write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    else:
        write_parquet(day / "trades.parquet", rows, schema=dict.fromkeys(LANDING_FIELDS, pl.String))
        write_parquet(
            day / "zz-malformed.parquet",
            [{"trade_id": malformed_id, "price": [1.0, 2.0]}],
            schema={"trade_id": pl.String, "price": pl.List(pl.Float64)},
        )
        (day / UNREADABLE["parquet"]).write_bytes(b"PAR1 this is not parquet PAR1")


def test_every_dlq_code_reaches_trades_dlq_from_a_real_landing_file_of_each_format(platform: Platform):
    for file_format in FORMATS:
        land_every_code(platform, file_format)
    result = platform.materialize()

    dlq = platform.read("trades_dlq").with_columns(
        format=pl.col("_source_file").map_elements(landing_format, return_dtype=pl.String)
    )
    assert dlq["run_id"].unique().to_list() == [result.run_id]
    for (file_format,), rejected in dlq.group_by("format"):
        codes_by_id = {
            (row["trade_id"] or row["_source_file"]): set(row["error_codes"])
            for row in rejected.iter_rows(named=True)
        }
        for code, row in FAULTY_ROWS.items():
            assert code.value in codes_by_id[f"{file_format}-{row['trade_id']}"], (code, codes_by_id)
        assert codes_by_id[f"{file_format}-bad id!"] == {"invalid_trade_id"}
        malformed = rejected.filter(pl.col("error_codes").list.contains("malformed_record"))
        assert malformed.height == 1 and f"{file_format}-MAL1" in malformed["raw_record"][0]
        unreadable = rejected.filter(pl.col("error_codes").list.contains("unreadable_file"))
        assert unreadable["_source_file"].to_list() == [f"trades/date=2026-11-20/{UNREADABLE[file_format]}"]
        assert unreadable["_source_row"].is_null().all()
        assert set(rejected["error_codes"].explode().to_list()) == set(ALL_CODES), file_format
    assert dlq["format"].unique().sort().to_list() == list(FORMATS)

    # A rejected CSV record keeps its line as received and its place in the file.
    [bad_id] = dlq.filter(pl.col("trade_id") == "csv-bad id!").iter_rows(named=True)
    assert bad_id["raw_record"] == "csv-bad id!,BTC-USD,buy,100.5,2,2026-11-20T10:00:00Z,BINANCE,,"
    assert (bad_id["_source_file"], bad_id["_source_row"]) == ("trades/date=2026-11-20/trades.csv", 5)

    validated = platform.read("validated_trades")
    assert validated.sort("trade_id").select("trade_id", "symbol", "side", "exchange").rows() == [
        (f"{file_format}-{trade_id}", symbol, side, exchange)
        for file_format in FORMATS
        for trade_id, symbol, side, exchange in [
            ("G1", "BTC-USD", "buy", "BINANCE"),
            ("G2", "ETH-USD", "sell", "KRAKEN"),
        ]
    ]
