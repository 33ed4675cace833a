"""Hard landing files: none blocks a day, no record vanishes, each class gets one documented outcome.

Each case reads one file beside a clean one through the core ingest (real files, no Dagster);
``defs/test_hard_inputs.py`` runs the same hard files through Dagster."""

from __future__ import annotations

import bz2
import contextlib
import decimal
import gzip
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from trade_platform.core.ingest import SCHEMAS, ingest_day
from trade_platform.core.landing.files import is_landing_file, landing_format
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.spill import Spill
from trade_platform_tests.conftest import DAY, HEADER, STRAY, TEN_UTC_MICROS, TS, json_line, row


def ingest(tmp_path: Path, files: dict[str, bytes]) -> dict[str, pl.DataFrame]:
    """The day's raw, validated and DLQ rows from these files plus a clean ``clean.csv``."""
    folder = tmp_path / "landing" / "trades" / f"date={DAY}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clean.csv").write_text(f"{HEADER}\n{row('CLEAN1')}\n")
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    spill = Spill(tmp_path / "scratch", SCHEMAS)
    ingest_day(
        list_landing_files(str(tmp_path / "landing"), DAY),
        pl.DataFrame(),
        DAY,
        now=datetime.now(UTC),
        run_id="test",
        spill=spill,
    )
    out = {name: spill.result(name) for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ)}
    out = {name: frame.collect() if isinstance(frame, pl.LazyFrame) else frame for name, frame in out.items()}
    assert "CLEAN1" in out[VALIDATED_TRADES]["trade_id"].to_list()  # the clean file of the day is written
    records = out[TRADES_DLQ].filter(~pl.col("error_codes").list.contains("unreadable_file"))
    assert out[RAW_TRADES].height == out[VALIDATED_TRADES].height + records.height  # nothing vanishes
    return out


def of_file(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.filter(pl.col("_source_file") == f"trades/date={DAY}/{name}")


def codes(out: dict[str, pl.DataFrame], name: str) -> dict[int | None, list[str]]:
    dlq = of_file(out[TRADES_DLQ], name)
    return dict(zip(dlq["_source_row"].to_list(), dlq["error_codes"].to_list(), strict=True))


def test_a_header_that_repeats_a_column_counts_its_last_occurrence(tmp_path):
    out = ingest(tmp_path, {"dup.csv": f"{HEADER},price\n{row('D1')},7\n".encode()})
    assert of_file(out[VALIDATED_TRADES], "dup.csv")["price"].to_list() == [7.0]


def test_a_trailing_comma_gives_an_unnamed_extra_column(tmp_path):
    out = ingest(tmp_path, {"trailing.csv": f"{HEADER},\n{row('C1')},\n{row('C2')},\n".encode()})
    assert of_file(out[VALIDATED_TRADES], "trailing.csv")["trade_id"].to_list() == ["C1", "C2"]
    assert "column_8" in out[RAW_TRADES].columns


@pytest.mark.parametrize("name", ["date", "_source_row", "_fields", "_raw_record", "_ok", "Date"])
def test_extra_columns_named_like_the_platforms_are_kept_renamed(tmp_path, name):
    out = ingest(tmp_path, {"extra.csv": f"{HEADER},{name}\n{row('E1')},v\n".encode()})
    assert of_file(out[VALIDATED_TRADES], "extra.csv")["trade_id"].to_list() == ["E1"]
    raw = of_file(out[RAW_TRADES], "extra.csv")
    assert raw[f"extra_{name}"].to_list() == ["v"] and raw["_source_row"].to_list() == [2]


def test_header_names_match_trade_fields_whatever_their_case_and_padding(tmp_path):
    header = " Trade_ID ,SYMBOL,Side,price,Quantity,TimeStamp,exchange"
    out = ingest(tmp_path, {"case.csv": f"{header}\n{row('K1')}\n".encode()})
    assert of_file(out[VALIDATED_TRADES], "case.csv")["trade_id"].to_list() == ["K1"]


def test_parquet_extras_that_are_not_text_are_kept_as_text(tmp_path):
    table = pa.table(
        {
            "trade_id": ["PQ1"],
            "symbol": ["BTC"],
            "side": ["buy"],
            "price": [1.5],
            "quantity": [2.0],
            "timestamp": pa.array([TEN_UTC_MICROS]).cast(pa.timestamp("us", tz="+05:30")),
            "exchange": ["X"],
            "blob": pa.array([b"\xff\x00"], pa.binary()),
            "took": pa.array([timedelta(seconds=5)], pa.duration("us")),
            "date": ["not ours"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    out = ingest(tmp_path, {"types.parquet": buffer.getvalue()})
    [validated] = of_file(out[VALIDATED_TRADES], "types.parquet").iter_rows(named=True)
    assert validated["timestamp"] == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    [raw] = of_file(out[RAW_TRADES], "types.parquet").iter_rows(named=True)
    assert (raw["blob"], raw["took"], raw["extra_date"]) == ("0xff00", "PT5S", "not ours")


def test_a_quote_inside_an_unquoted_field_makes_only_its_record_malformed(tmp_path):
    out = ingest(tmp_path, {"stray.csv": f"{HEADER}\n{row('Q1', price=STRAY)}\n{row('Q2')}\n".encode()})
    assert codes(out, "stray.csv") == {2: ["malformed_record"]}
    assert of_file(out[VALIDATED_TRADES], "stray.csv")["trade_id"].to_list() == ["Q2"]


def test_an_unterminated_quote_loses_only_its_line(tmp_path):
    text = f'{HEADER}\n{row("U1")}\nU2,"BTC,buy,1,2,{TS},X\n{row("U3")}\n{row("U4")}\n'
    out = ingest(tmp_path, {"open.csv": text.encode()})
    assert codes(out, "open.csv") == {3: ["malformed_record"]}
    assert "unterminated quote" in of_file(out[TRADES_DLQ], "open.csv")["error"][0]
    assert of_file(out[VALIDATED_TRADES], "open.csv")["trade_id"].to_list() == ["U1", "U3", "U4"]


def test_a_quoted_line_break_is_one_record_as_rfc_4180_says(tmp_path):
    text = f"{HEADER}\n{row('N1', exchange=chr(34) + 'X' + chr(10) + 'Y' + chr(34))}\n{row('N2')}\n"
    out = ingest(tmp_path, {"newline.csv": text.encode()})
    dlq = of_file(out[TRADES_DLQ], "newline.csv")
    assert dlq.select("_source_row", "error_codes").rows() == [(2, ["invalid_exchange"])]
    assert dlq["raw_record"][0].endswith('"X\nY"')
    assert of_file(out[VALIDATED_TRADES], "newline.csv").select("trade_id", "_source_row").rows() == [
        ("N2", 4)
    ]


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_any_line_ending_gives_the_same_records_and_line_numbers(tmp_path, ending):
    text = ending.join([HEADER, row("L1"), "", row("L2"), ""])
    out = ingest(tmp_path, {"endings.csv": text.encode(), "endings.jsonl": b""})
    assert of_file(out[VALIDATED_TRADES], "endings.csv").select("trade_id", "_source_row").rows() == [
        ("L1", 2),
        ("L2", 4),
    ]


def test_a_csv_without_a_header_is_one_unreadable_file_entry(tmp_path):
    out = ingest(tmp_path, {"headless.csv": f"{row('H1')}\n{row('H2')}\n".encode()})
    assert codes(out, "headless.csv") == {None: ["unreadable_file"]}
    assert "not a header" in of_file(out[TRADES_DLQ], "headless.csv")["error"][0]
    assert of_file(out[RAW_TRADES], "headless.csv").is_empty()


def test_the_format_is_the_last_extension():
    assert landing_format("trades/export.csv.jsonl") == "jsonl"
    assert landing_format("a.jsonl.csv.gz") == "csv"
    assert landing_format("a.parquet.gz") is None and landing_format("notes.txt") is None


def test_a_jsonl_file_named_dot_csv_dot_jsonl_is_read_as_jsonl(tmp_path):
    line = f'{{"trade_id":"J1","symbol":"BTC","side":"buy","price":1,"quantity":2,"timestamp":"{TS}","exchange":"X"}}'
    out = ingest(tmp_path, {"export.csv.jsonl": f"{line}\n".encode()})
    assert of_file(out[VALIDATED_TRADES], "export.csv.jsonl")["trade_id"].to_list() == ["J1"]


def test_files_in_hidden_folders_are_ignored(tmp_path):
    hidden = {
        f"{folder}/part-0.csv": f"{HEADER}\n{row('CLEAN1')}\n".encode()
        for folder in ("_temporary/0", ".staging")
    }
    out = ingest(tmp_path, hidden)
    assert out[RAW_TRADES]["trade_id"].to_list() == [
        "CLEAN1"
    ]  # no duplicates from a writer's temporary output
    assert not is_landing_file("_temporary/0/part-0.csv") and is_landing_file("sub/part-0.csv")


def test_json_keys_named_like_platform_columns_are_kept_renamed(tmp_path):
    line = json_line(trade_id="JK1", date="x", _source_row=9)
    out = ingest(tmp_path, {"keys.jsonl": f"{line}\n".encode()})
    raw = of_file(out[RAW_TRADES], "keys.jsonl")
    assert raw.select("extra_date", "extra__source_row", "_source_row").rows() == [("x", "9", 1)]
    assert of_file(out[VALIDATED_TRADES], "keys.jsonl")["trade_id"].to_list() == ["JK1"]


def test_a_nested_json_extra_is_kept_as_json_text_and_a_nested_trade_field_is_malformed(tmp_path):
    lines = [json_line(trade_id="JN1", venue={"id": 3, "tags": ["a"]}), json_line(trade_id="JN2", price=[1])]
    out = ingest(tmp_path, {"nested.jsonl": "\n".join(lines).encode()})
    assert of_file(out[RAW_TRADES], "nested.jsonl")["venue"].to_list() == ['{"id":3,"tags":["a"]}', None]
    assert codes(out, "nested.jsonl") == {2: ["malformed_record"]}


def test_an_overflowing_number_gets_the_same_code_in_json_as_in_csv(tmp_path):
    json_text = json_line(trade_id="O1").replace('"price": 1.5', '"price": 1e400')
    out = ingest(
        tmp_path,
        {"big.jsonl": json_text.encode(), "big.csv": f"{HEADER}\n{row('O2', price='1e400')}\n".encode()},
    )
    assert codes(out, "big.jsonl") == {1: ["invalid_price"]} and codes(out, "big.csv") == {
        2: ["invalid_price"]
    }


def test_a_repeated_json_key_counts_its_last_value(tmp_path):
    line = json_line(trade_id="R1")[:-1] + ', "price": 7, "PRICE": 8}'
    out = ingest(tmp_path, {"repeat.jsonl": line.encode()})
    assert of_file(out[VALIDATED_TRADES], "repeat.jsonl")["price"].to_list() == [8.0]


# --- values that would poison the marts, timestamps and symbols ---------------------------


@pytest.mark.parametrize(
    ("price", "quantity"),
    [("1e308", "10"), ("1e-300", "1e-300"), ("1e301", "1e-10"), ("1e-10", "1e305"), ("1e200", "1e200")],
)
def test_a_trade_whose_notional_would_overflow_or_underflow_is_invalid_notional(tmp_path, price, quantity):
    text = f"{HEADER}\n{row('BIG', price=price).replace(',2,', f',{quantity},')}\n"
    out = ingest(tmp_path, {"n.csv": text.encode()})
    assert codes(out, "n.csv") == {2: ["invalid_notional"]}
    assert f"'{price}'" in of_file(out[TRADES_DLQ], "n.csv")["error"][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{DAY}T1:00:00Z", ["invalid_timestamp"]),  # a one-digit hour
        (f"{DAY}T10:00Z", None),  # seconds-less, with a zone: accepted
        (f"{DAY}T10:00", ["timestamp_no_timezone"]),  # seconds-less, without: the hint agrees
        (f"{DAY} 10:00:00.1234567+05:30", None),
        (f"{DAY}t10:00:00z", ["invalid_timestamp"]),
        ("1795218399.9999999", None),  # 23:46:39.999999Z, truncated, not rounded
    ],
)
def test_timestamps_follow_the_written_forms(tmp_path, text, expected):
    out = ingest(tmp_path, {"t.csv": f"{HEADER}\n{row('T1').replace(TS, text)}\n".encode()})
    assert codes(out, "t.csv") == ({2: expected} if expected else {})


def test_epoch_fractions_are_truncated_to_microseconds_not_rounded_into_the_next_day(tmp_path):
    last = int(datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC).timestamp())
    out = ingest(tmp_path, {"e.csv": f"{HEADER}\n{row('E1').replace(TS, f'{last}.9999999')}\n".encode()})
    [stamp] = of_file(out[VALIDATED_TRADES], "e.csv")["timestamp"].to_list()
    assert stamp == datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize("symbol", ["ß", "ı", "ﬁ", "BTC€"])
def test_symbols_and_exchanges_must_be_ascii_before_upper_casing(tmp_path, symbol):
    text = f"{HEADER}\n{row('S1').replace(',BTC,', f',{symbol},')}\n{row('S2', exchange=symbol)}\n"
    out = ingest(tmp_path, {"s.csv": text.encode()})
    assert codes(out, "s.csv") == {2: ["invalid_symbol"], 3: ["invalid_exchange"]}


@pytest.mark.parametrize("bad", ['A, "b,c"', '"b"x', 'A"x'])
def test_a_record_whose_quoting_polars_cannot_resolve_is_malformed_alone(tmp_path, bad):
    text = f"{HEADER}\n{row('Q0')}\n{row('Q1', exchange=bad)}\n{row('Q2')}\n"
    out = ingest(tmp_path, {"quotes.csv": text.encode()})
    assert of_file(out[VALIDATED_TRADES], "quotes.csv")["trade_id"].to_list() == ["Q0", "Q2"]
    assert set(codes(out, "quotes.csv")) == {3}


@pytest.mark.parametrize("bad", ['""105""', 'NY"SE"', ' "NYSE"', '"NY"SE'])
@pytest.mark.parametrize("neighbour", [False, True])
def test_a_record_breaking_rfc_4180_is_malformed_whatever_its_neighbours(tmp_path, bad, neighbour):
    """Lenient and strict readers differ on such records; neither decides: the record is checked
    first. (A neighbouring file that polars cannot split sent the whole group to the strict one.)"""
    files = {"a.csv": f"{HEADER}\n{row('K1')}\n{row('K2', exchange=bad)}\n".encode()}
    if neighbour:
        files["b.csv"] = f'{HEADER}\nK3,"BT"C,buy,1.5,2,{TS},X\n'.encode()
    out = ingest(tmp_path, files)
    assert codes(out, "a.csv") == {3: ["malformed_record"]}
    assert of_file(out[VALIDATED_TRADES], "a.csv")["trade_id"].to_list() == ["K1"]


def test_an_unusual_json_line_after_many_bad_ones_keeps_every_field(tmp_path):
    lines = ["not json"] * 150 + [json_line(trade_id="LATE1", venue={"id": 1})]
    out = ingest(tmp_path, {"late.jsonl": "\n".join(lines).encode()})
    assert of_file(out[VALIDATED_TRADES], "late.jsonl")["trade_id"].to_list() == ["LATE1"]
    assert of_file(out[RAW_TRADES], "late.jsonl").filter(pl.col("trade_id") == "LATE1")[
        "venue"
    ].to_list() == ['{"id":1}']


def test_a_json_key_repeated_with_other_spacing_or_case_counts_its_last_value(tmp_path):
    line = json_line(trade_id="R2")[:-1] + ', " Price ": 9}'
    out = ingest(tmp_path, {"spaced.jsonl": line.encode()})
    assert of_file(out[VALIDATED_TRADES], "spaced.jsonl")["price"].to_list() == [9.0]


def test_a_nested_parquet_extra_is_kept_as_the_same_json_as_in_jsonl(tmp_path):
    table = pa.table(
        {
            **{k: [v] for k, v in zip(HEADER.split(","), row("PN1").split(","), strict=True)},
            "venue": [{"id": 1}],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    out = ingest(tmp_path, {"nested.parquet": buffer.getvalue()})
    assert of_file(out[RAW_TRADES], "nested.parquet")["venue"].to_list() == ['{"id":1}']


# --- formats and compressions ---------------------------------------------------------------


def test_json_and_ndjson_are_json_lines_and_text_may_be_gzip_bz2_or_zstd():
    assert (
        landing_format("a.json") == landing_format("b.ndjson.zst") == landing_format("c.JSON.GZ") == "jsonl"
    )
    assert landing_format("a.csv.bz2") == landing_format("a.csv.zst") == "csv"
    assert landing_format("a.parquet.zst") is None and landing_format("a.zst") is None


def zstd_frames(data: bytes) -> bytes:
    """Two zstd frames one after another (as ``cat a.zst b.zst`` gives): one text."""
    cut = len(data) // 2
    return b"".join(zstandard.ZstdCompressor().compress(part) for part in (data[:cut], data[cut:]))


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("a.csv.zst", zstd_frames),
        ("b.jsonl.bz2", bz2.compress),
        ("c.json.gz", gzip.compress),
        ("d.ndjson", bytes),
        ("e.json", bytes),
    ],
)
def test_compressed_files_and_json_named_files_are_read(tmp_path, name, compress):
    text = f"{HEADER}\n{row('C1')}\n{row('C2')}\n" if ".csv" in name else f"{json_line(trade_id='C1')}\n"
    out = ingest(tmp_path, {name: compress(text.encode())})
    assert of_file(out[VALIDATED_TRADES], name)["trade_id"].to_list() == (
        ["C1", "C2"] if ".csv" in name else ["C1"]
    )


TEXT = f"{HEADER}\n" + "".join(f"{row(f'Z{i}')}\n" for i in range(200))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cut.csv.zst", zstandard.ZstdCompressor().compress(TEXT.encode())[:-8]),
        ("junk.csv.zst", b"not zstd at all"),
        ("cut.csv.bz2", bz2.compress(TEXT.encode())[:-8]),
        ("junk.jsonl.bz2", b"BZh9 not bzip2"),
        ("cut.json.gz", gzip.compress(TEXT.encode())[:-8]),
    ],
)
def test_a_corrupt_compressed_stream_is_one_unreadable_file_entry_naming_the_file(tmp_path, name, content):
    out = ingest(tmp_path, {name: content})
    assert codes(out, name) == {None: ["unreadable_file"]}
    error = of_file(out[TRADES_DLQ], name)["error"][0]
    assert f"trades/date={DAY}/{name}: corrupt" in error, error
    assert of_file(out[RAW_TRADES], name).is_empty()


# --- renaming never makes two columns one -----------------------------------------------------


def in_every_format(extras: dict[str, str]) -> dict[str, bytes]:
    """A trade with these extra columns as CSV (``N1``), JSONL (``N2``) and Parquet (``N3``)."""
    fields = [dict(zip(HEADER.split(","), row(f"N{i}").split(","), strict=True)) for i in (1, 2, 3)]
    buffer = io.BytesIO()
    pq.write_table(pa.table({name: [value] for name, value in {**fields[2], **extras}.items()}), buffer)
    return {
        "n.csv": f"{HEADER},{','.join(extras)}\n{row('N1')},{','.join(extras.values())}\n".encode(),
        "n.jsonl": json.dumps({**fields[1], **extras}).encode(),
        "n.parquet": buffer.getvalue(),
    }


@pytest.mark.parametrize(
    ("extras", "stored"),
    [
        ({"date": "a", "extra_date": "b"}, {"extra_extra_date": "a", "extra_date": "b"}),
        (
            {"extra_date": "b", "Date": "a", "date": "c"},
            {"extra_date": "b", "extra_Date": "a", "extra_extra_date": "c"},
        ),
        (
            {"date": "a", "extra_date": "b", "extra_extra_date": "c"},
            {"extra_extra_extra_date": "a", "extra_date": "b", "extra_extra_date": "c"},
        ),
        ({"_x": "a", "extra__x": "b"}, {"extra_extra__x": "a", "extra__x": "b"}),
        ({"": "a", "column_8": "b"}, {"extra_column_8": "a", "column_8": "b"}),
        ({"column_9": "b", "": "a"}, {"column_9": "b", "extra_column_9": "a"}),
        (
            {"_source_row": "a", "extra__source_row": "b"},
            {"extra_extra__source_row": "a", "extra__source_row": "b"},
        ),
    ],
)
def test_a_made_up_name_never_takes_another_columns_name_in_any_format(tmp_path, extras, stored):
    out = ingest(tmp_path, in_every_format(extras))
    for trade_id, name in enumerate(("n.csv", "n.jsonl", "n.parquet"), start=1):
        raw = of_file(out[RAW_TRADES], name)
        assert {column: raw[column][0] for column in stored} == stored, name
        assert of_file(out[VALIDATED_TRADES], name)["trade_id"].to_list() == [f"N{trade_id}"], name


def test_a_kafka_value_column_outside_jsonl_keeps_a_column_named_like_its_new_name(tmp_path):
    out = ingest(tmp_path, {"k.csv": f"{HEADER},_kafka_value,extra__kafka_value\n{row('K1')},a,b\n".encode()})
    raw = of_file(out[RAW_TRADES], "k.csv")
    assert (raw["extra_extra__kafka_value"][0], raw["extra__kafka_value"][0]) == ("a", "b")


# --- a record no decoder can store costs only itself ------------------------------------------

UNSTORABLE = [
    '{"trade_id":"B1","x":"\\ud800"}',  # a lone surrogate escape
    '{"trade_id":"B2","y":{"a":[1]},"x":"\\udc00\\ud800"}',  # next to a nested extra
    '{"trade_id":"B3","\\ud800":"v"}',  # in a key
    '{"trade_id":"B5","x":"\\ud800x"}',  # polars' decoder would make it NUL: never decoded in bulk
    '{"x":' * 3000 + "1" + "}" * 3000,  # nesting deeper than Python's recursion limit
    "[" * 100_000 + "]" * 100_000,
    '{"trade_id":"B4","x":"a\x01b"}',  # a raw control character
]


def test_json_lines_no_decoder_can_store_cost_only_themselves(tmp_path):
    good = [json_line(trade_id=f"G{i}", venue=f"v{i % 7}") for i in range(1000)]
    lines = good[:500] + UNSTORABLE + good[500:]
    out = ingest(tmp_path, {"odd.jsonl": "\n".join(lines).encode()})
    assert of_file(out[VALIDATED_TRADES], "odd.jsonl").height == 1000
    bad_rows = range(501, 501 + len(UNSTORABLE))
    assert codes(out, "odd.jsonl") == {row: ["malformed_record"] for row in bad_rows}
    errors = of_file(out[TRADES_DLQ], "odd.jsonl")["error"].to_list()
    assert all("invalid JSON" in error for error in errors), errors


def test_a_valid_surrogate_pair_is_kept_and_a_deep_extra_is_json_text(tmp_path):
    lines = ['{"trade_id":"P1","x":"\\ud83d\\ude00"}', json_line(trade_id="P2", deep=[[[[{"a": "é"}]]]])]
    raw = of_file(ingest(tmp_path, {"p.jsonl": "\n".join(lines).encode()})[RAW_TRADES], "p.jsonl")
    assert raw["x"][0] == "😀" and raw["deep"][1] == '[[[[{"a":"é"}]]]]'


# --- Parquet columns polars cannot hold are text ----------------------------------------------


class Money(pa.ExtensionType):
    """A custom registered extension type whose storage polars cannot hold (decimal256)."""

    def __init__(self) -> None:
        super().__init__(pa.struct([("amount", pa.decimal256(40, 2)), ("ccy", pa.string())]), "tests.money")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized) -> Money:
        return cls()


with contextlib.suppress(pa.ArrowKeyError):
    pa.register_extension_type(Money())


def test_parquet_columns_polars_cannot_hold_are_kept_as_text(tmp_path):
    fields = dict(zip(HEADER.split(","), row("U1").split(","), strict=True))
    money = pa.ExtensionArray.from_storage(
        Money(), pa.array([{"amount": decimal.Decimal("1.50"), "ccy": "EUR"}], Money().storage_type)
    )
    table = pa.table(
        {
            **{name: [value] for name, value in fields.items()},
            "big": pa.array([decimal.Decimal("12345678901234567890.25")], pa.decimal256(60, 2)),
            "id": pa.array([uuid.UUID(int=1).bytes], pa.uuid()),
            "doc": pa.array(['{"a": 1}'], pa.json_()),
            "money": money,
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    raw = of_file(ingest(tmp_path, {"odd.parquet": buffer.getvalue()})[RAW_TRADES], "odd.parquet")
    assert raw.select("big", "id", "doc", "money").row(0) == (
        "12345678901234567890.25",
        "0x00000000000000000000000000000001",
        '{"a": 1}',
        '{"amount":"1.50","ccy":"EUR"}',
    )
    assert json.loads(raw["_raw_record"][0])["big"] == "12345678901234567890.25"
