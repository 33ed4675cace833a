"""Property-based: random CSV and JSONL files, valid and broken, never crash a day or lose a record.

hypothesis writes 1-4 files into a day (random headers, field order, case, extra columns, quotes,
commas, line breaks, bad bytes, gzip) and the day is ingested as the asset does it. Bounded to
a fixed number of examples so it runs in ``make test``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trade_platform.core import marts
from trade_platform.core.ingest import SCHEMAS, ingest_day
from trade_platform.core.landing.files import TRADE_FIELDS, list_landing_files
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
