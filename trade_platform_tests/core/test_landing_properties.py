"""Property-based: random CSV and JSONL files, valid and broken, never crash a day or lose a record.

hypothesis writes 1-4 files into a day (random headers, field order, case, extra columns, quotes,
commas, line breaks, bad bytes, gzip) and the day is ingested as the asset does it. Bounded to
a fixed number of examples so it runs in ``make test``.
"""

from __future__ import annotations

import bz2
import contextlib
import decimal
import gzip
import json
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trade_platform.core import marts
from trade_platform.core.ingest import SCHEMAS, ingest_day
from trade_platform.core.landing.columns import LANDING_FIELDS, column_names
from trade_platform.core.landing.files import (
    TRADE_FIELDS,
    LandingFile,
    UnreadableFileError,
    iter_landing_file,
)
from trade_platform.core.landing.jsonl_files import jsonl_records
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.spill import Spill

DAY = "2026-11-20"
GOOD = {
    "trade_id": st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
    "symbol": st.sampled_from(["BTC-USD", " eth ", "ß", "SOL"]),
    "side": st.sampled_from(["buy", "SELL", "hold"]),
    "price": st.sampled_from(["1.5", "1e308", "1e-300", "nan", "-1", "0.001", "1e400", "12"]),
    "quantity": st.sampled_from(["2", "1e300", "1e-200", "0", "3.25"]),
    "timestamp": st.sampled_from(
        [
            f"{DAY}T10:00:00Z",
            f"{DAY}T1:00:00Z",
            f"{DAY}T12:00Z",
            f"{DAY} 23:59:59.9999999+00:00",
            "1795168800.5",
            "x",
        ]
    ),
    "exchange": st.sampled_from(["X", "kraken", "ﬁ", ""]),
}
# Any text at all, quotes, commas, line breaks and non-ASCII included.
NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def records(draw) -> list[dict[str, str]]:
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = {name: draw(st.one_of(strategy, NOISE)) for name, strategy in GOOD.items()}
        if draw(st.booleans()):
            row[draw(st.sampled_from(["venue", "date", "_source_row", "Price", ""]))] = draw(NOISE)
        rows.append(row)
    return rows


def csv_text(draw, rows: list[dict[str, str]]) -> str:
    names = list(dict.fromkeys(name for row in rows for name in row)) or list(TRADE_FIELDS)
    names = draw(st.permutations(names))
    header = [draw(st.sampled_from([name, name.upper(), f" {name} "])) for name in names]
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))

    def field(value: str) -> str:
        quote = draw(st.sampled_from(["always", "if needed", "never"]))
        if quote == "always" or (quote == "if needed" and any(c in value for c in ',"\r\n')):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [",".join(field(row.get(name, "")) for name in names) for row in rows]
    if draw(st.booleans()):
        lines.insert(0, ",".join(header))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(NOISE))
    return ending.join(lines) + draw(st.sampled_from(["", ending]))


def jsonl_text(draw, rows: list[dict[str, str]]) -> str:
    lines = [json.dumps(row, ensure_ascii=draw(st.booleans())) for row in rows]
    if draw(st.booleans()) and lines:
        lines[draw(st.integers(0, len(lines) - 1))] = draw(NOISE)
    return "\n".join(lines)


@st.composite
def landing_files(draw) -> dict[str, bytes]:
    files = {}
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["csv", "jsonl", "bytes"]))
        rows = draw(records())
        if kind == "bytes":
            files[f"f{index}.csv"] = draw(st.binary(max_size=64))
            continue
        text = csv_text(draw, rows) if kind == "csv" else jsonl_text(draw, rows)
        data = text.encode("utf-8", errors="surrogatepass")
        if draw(st.booleans()):
            files[f"f{index}.{kind}.gz"] = gzip.compress(data)
        else:
            files[f"f{index}.{kind}"] = data
    return files


def ingest(tmp: Path, files: dict[str, bytes]) -> dict[str, pl.DataFrame]:
    folder = tmp / "landing" / "trades" / f"date={DAY}"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    spill = Spill(tmp / "scratch", SCHEMAS)
    now = datetime(2026, 11, 21, tzinfo=UTC)
    ingest_day(
        list_landing_files(str(tmp / "landing"), DAY), pl.DataFrame(), DAY, now=now, run_id="p", spill=spill
    )
    out = {name: spill.result(name) for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ)}
    return {
        name: frame.collect() if isinstance(frame, pl.LazyFrame) else frame for name, frame in out.items()
    }


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(files=landing_files())
def test_random_files_never_crash_a_day_nor_lose_a_record(tmp_path_factory, files):
    out = ingest(tmp_path_factory.mktemp("day"), files)
    raw, validated, dlq = out[RAW_TRADES], out[VALIDATED_TRADES], out[TRADES_DLQ]
    unreadable = dlq.filter(pl.col("error_codes").list.contains("unreadable_file"))
    assert raw.height == validated.height + dlq.height - unreadable.height  # reconciliation
    for name in files:
        source = f"trades/date={DAY}/{name}"
        gave_rows = raw.filter(pl.col("_source_file") == source).height > 0
        entries = unreadable.filter(pl.col("_source_file") == source).height
        # A file with no line after its first non-blank one (a header) has nothing to give.
        empty = len([line for line in _text(files[name]).splitlines() if line.strip()]) <= 1
        assert (gave_rows and entries == 0) or (not gave_rows and entries == 1) or (empty and entries == 0), (
            name
        )
    for mart in (marts.ohlcv(validated, ("1m", "1h")), marts.daily_volume(validated)):
        numbers = mart.select(pl.col(pl.Float64))
        assert numbers.select(pl.all().is_finite().all()).row(0) == tuple([True] * numbers.width)


def _text(content: bytes) -> str:
    try:
        return gzip.decompress(content).decode("utf-8", errors="replace")
    except (OSError, EOFError, zlib.error):  # not gzip, or a broken one: the raw bytes
        return content.decode("utf-8", errors="replace")


# --- any JSON line, any Parquet column: the record, the column or the file, never the run -------

ESCAPES = [
    "\\ud800",
    "\\udfff",
    "\\ud83d\\ude00",
    "\\u0000",
    "\\u001f",
    "\\n",
    '\\"',
    "\\\\",
    "\\/",
    "\x01",
    "\t",
]
PIECE = st.one_of(
    st.sampled_from(ESCAPES),
    # raw text, without line breaks (they end the line) or NUL bytes (the file is binary then)
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=4
    ),
)
JSON_STRING = st.lists(PIECE, max_size=4).map(
    lambda pieces: '"' + "".join(p.replace('"', "") for p in pieces) + '"'
)


@st.composite
def json_values(draw) -> str:
    """A JSON value as text: an escaped string, or one nested up to well past the recursion limit."""
    value = draw(st.one_of(JSON_STRING, st.sampled_from(["1", "1e400", "-0.5", "true", "null"])))
    depth = draw(st.one_of(st.integers(0, 3), st.sampled_from([900, 1_500, 5_000])))
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"k":', "}")]))
    return opening * depth + value + closing * depth


@st.composite
def json_lines(draw) -> list[str]:
    lines = []
    for index in range(draw(st.integers(1, 8))):
        members = [f'"trade_id":"T{index}"']
        for _ in range(draw(st.integers(0, 3))):
            key = draw(st.one_of(JSON_STRING, st.sampled_from(['"date"', '"extra_date"', '""', '"price"'])))
            members.append(f"{key}:{draw(json_values())}")
        lines.append("{" + ",".join(members) + "}" if draw(st.integers(0, 9)) else draw(json_values()))
    return lines


def read_all(path: Path, relative: str) -> tuple[pl.DataFrame | None, str | None]:
    """(the file's records, None) or (None, the unreadable file's message); nothing else raises."""
    try:
        return pl.concat(iter_landing_file(LandingFile(str(path), relative, 0)), how="diagonal_relaxed"), None
    except UnreadableFileError as exc:
        return None, str(exc)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(lines=json_lines(), name=st.sampled_from(["a.jsonl", "a.json.gz", "a.ndjson.zst", "a.jsonl.bz2"]))
def test_any_json_line_costs_at_most_itself(tmp_path_factory, lines, name):
    path = tmp_path_factory.mktemp("json") / name
    data = "\n".join(lines).encode()
    compress = {".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress, ".bz2": bz2.compress}
    path.write_bytes(compress.get(path.suffix, bytes)(data))
    records, error = read_all(path, f"trades/{name}")
    assert error is None  # a line is malformed on its own; the file is always read
    assert records["_source_row"].to_list() == list(range(1, len(lines) + 1))
    assert records["_raw_record"].to_list() == lines
    assert (records["_source_file"] == f"trades/{name}").all()


class Opaque(pa.ExtensionType):
    """A custom registered extension type over a type polars cannot hold."""

    def __init__(self) -> None:
        super().__init__(pa.list_(pa.decimal256(45, 3)), "tests.opaque")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized) -> Opaque:
        return cls()


with contextlib.suppress(pa.ArrowKeyError):
    pa.register_extension_type(Opaque())

ROWS = 3
D = decimal.Decimal
COLUMNS: dict[str, Callable[[], pa.Array]] = {
    "decimal128": lambda: pa.array([D("1.50"), None, D("-2")], pa.decimal128(10, 2)),
    "decimal256": lambda: pa.array([D("1.5"), None, D("1e40")], pa.decimal256(60, 2)),
    "uuid": lambda: pa.array([uuid.UUID(int=i).bytes for i in range(ROWS)], pa.uuid()),
    "json": lambda: pa.array(['{"a":1}', None, "[]"], pa.json_()),
    "tensor": lambda: pa.FixedShapeTensorArray.from_numpy_ndarray(np.arange(ROWS * 4).reshape(ROWS, 2, 2)),
    "opaque": lambda: pa.ExtensionArray.from_storage(
        Opaque(), pa.array([[D("1.5")], None, []], Opaque().storage_type)
    ),
    "list": lambda: pa.array([[1, 2], None, []], pa.list_(pa.int64())),
    "list_of_lists": lambda: pa.array([[[1]], [None], None], pa.list_(pa.list_(pa.int8()))),
    "struct": lambda: pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "é"}]),
    "struct_with_binary": lambda: pa.array([{"b": b"\x00"}, None, {"b": None}]),
    "map": lambda: pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
    "dictionary": lambda: pa.array(["a", None, "a"]).dictionary_encode(),
    "large_string": lambda: pa.array(["a", None, "\u2028"], pa.large_string()),
    "binary": lambda: pa.array([b"\xff", None, b""], pa.binary()),
    "large_binary": lambda: pa.array([b"\xff", None, b""], pa.large_binary()),
    "duration": lambda: pa.array([5, None, -1], pa.duration("ms")),
    "list_of_durations": lambda: pa.array([[5], None, []], pa.list_(pa.duration("s"))),
    "zoned": lambda: pa.array([0, None, 10**12], pa.timestamp("ms", "Asia/Kolkata")),
    "offset": lambda: pa.array([0, None, 10**12], pa.timestamp("us", "+05:30")),
    "naive": lambda: pa.array([0, None, 10**15], pa.timestamp("ns")),
    "struct_of_zoned": lambda: pa.array(
        [{"t": 0}, None, {"t": None}], pa.struct([("t", pa.timestamp("s", "-03:00"))])
    ),
    "time": lambda: pa.array([0, None, 86_399], pa.time32("s")),
    "float16": lambda: pa.array(np.array([1.5, np.nan, -0.0], np.float16)),
    "null": lambda: pa.array([None] * ROWS, pa.null()),
    "bool": lambda: pa.array([True, None, False]),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=4),
    names=st.lists(st.sampled_from(["price", "x", "date", "extra_date", ""]), min_size=4, max_size=4),
)
def test_any_parquet_column_is_read_as_text(tmp_path_factory, kinds, names):
    columns = {"trade_id": pa.array([f"T{i}" for i in range(ROWS)])}
    for kind, name in zip(kinds, names, strict=False):
        columns[name or f"{kind}_"] = COLUMNS[kind]()
    path = tmp_path_factory.mktemp("parquet") / "a.parquet"
    pq.write_table(pa.table(columns), path)
    records, error = read_all(path, "trades/a.parquet")
    assert error is None, error  # a column polars cannot hold is text: the file is always read
    assert records["_source_row"].to_list() == list(range(1, ROWS + 1))
    assert records["trade_id"].to_list() == [f"T{i}" for i in range(ROWS)]
    assert all(dtype in (pl.String, pl.Int64) for dtype in records.schema.values())
    for name, stored in zip(columns, column_names(list(columns)), strict=True):
        if stored not in LANDING_FIELDS:  # a null stays missing, any other value is some text
            assert records[stored].is_null().to_list() == columns[name].is_null().to_pylist(), stored
    for raw in records["_raw_record"]:
        assert json.loads(raw)["trade_id"].startswith("T")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("c.parquet", b"PAR1 not parquet PAR1"),
        ("c.csv", b"no header here\n1,2\n"),
        ("c.csv.zst", b"\x28\xb5\x2f\xfd broken"),
        ("c.jsonl", b"{}\n\x00\n"),
    ],
)
def test_an_unreadable_files_message_names_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    records, error = read_all(path, f"trades/date={DAY}/{name}")
    assert records is None and error.startswith(f"trades/date={DAY}/{name}: "), error


JSON_NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z")


@settings(max_examples=300, deadline=None)
@given(numbers=st.lists(JSON_NUMBER, min_size=1, max_size=6))
@example(numbers=["1.10", "1e2", "1.7093736e9", "1e400", "-0", "1020569941737140.3"])
def test_a_json_number_reads_the_same_whether_its_line_is_decoded_in_bulk_or_alone(numbers):
    """A flat line is decoded in bulk; the same line with a nested extra value alone: the fields
    and the verdict of each number must not depend on which (nor on the other lines)."""
    flat = [f'{{"trade_id":{n},"timestamp":{n},"price":{n}}}' for n in numbers]
    nested = [line.removesuffix("}") + ',"x":{"y":1}}' for line in flat]
    rows = pl.Series(range(1, len(numbers) + 1), dtype=pl.Int64)
    fields = ["trade_id", "timestamp", "price"]
    in_bulk = jsonl_records(pl.DataFrame({"_source_row": rows, "_raw_record": flat}))
    alone = jsonl_records(pl.DataFrame({"_source_row": rows, "_raw_record": nested}))
    assert in_bulk.select(fields).to_dicts() == alone.select(fields).to_dicts()
