"""Small landing files are read whole and validated together: the outputs are exactly those of
reading them one by one, and a day of many small files costs per record, not per file."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal
from upath import UPath

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.ingest import SCHEMAS, DaySummary, ingest_day
from trade_platform.core.landing.files import order_raw_columns
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.spill import Spill
from trade_platform.core.stored_sources import gone_sources
from trade_platform.lib.io_manager import write_parquet_atomically
from trade_platform_tests.conftest import BAD_INPUTS, DAY, HEADER, TEST_PII_KEY, json_line, row
from trade_platform_tests.core.test_landing_chunks import ingest_cost

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def ingest(
    landing: Path, scratch: Path, corrections: pl.DataFrame, stored: dict | None = None, **sizes: int
) -> tuple[dict, DaySummary]:
    """The day's outputs; ``stored``: the partitions of an earlier run, to replay gone files from."""
    spill = Spill(scratch, SCHEMAS)
    files = list_landing_files(str(landing), DAY)
    if stored is not None:
        files += gone_sources(files, stored[RAW_TRADES].lazy(), stored[TRADES_DLQ].lazy())
    summary = ingest_day(
        files, corrections, DAY, now=NOW, run_id="r", spill=spill, pii_key=TEST_PII_KEY, **sizes
    )
    frames = {name: spill.result(name) for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ)}
    frames[RAW_TRADES] = order_raw_columns(frames[RAW_TRADES])
    return {k: f.collect() if isinstance(f, pl.LazyFrame) else f for k, f in frames.items()}, summary


def lake_file(frame: pl.DataFrame, path: Path) -> bytes:
    """The partition file the lake's I/O manager writes of ``frame``."""
    write_parquet_atomically(frame, UPath(path))
    return path.read_bytes()


def small_files(folder: Path) -> None:
    """Many small files of every kind around a big day: bad records, a trade_id repeated across
    files (first in a record that is not clean), unreadable files between readable ones, files
    each group of which must be parsed file by file (quotes, blank lines, many extra names)."""
    ident = "account_id,trader_id"
    for i in range(300):
        name = f"s{i:04d}"
        trade = row(f"S{i}", price="-1" if i % 17 == 0 else "1.5") + f",acct{i % 7},"
        if i % 3 == 0:
            (folder / f"{name}.csv").write_text(f"{HEADER},{ident}\n{trade}\n")
        elif i % 3 == 1:
            (folder / f"{name}.jsonl").write_text(json_line(trade_id=f"S{i}", account_id=f"a{i % 5}") + "\n")
        else:  # another header (an extra column), no final line break
            (folder / f"{name}.csv").write_text(f"{HEADER},venue\n{row(f'S{i}')},v{i}")
    (folder / "s0100.csv").write_text(f"{HEADER}\n{row('DUP', price='0')}\n")  # DUP, not clean ...
    (folder / "s0101.jsonl").write_text(json_line(trade_id="DUP") + "\n")  # ... then clean: kept
    (folder / "s0102.csv").write_text(f"{HEADER}\n{row('DUP')}\n{row('S101')}\n")  # duplicates
    (folder / "s0150.csv").write_text("no,header\n1,2\n")  # unreadable, in the middle
    (folder / "s0151.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00truncated")
    (folder / "s0152.jsonl").write_bytes(b'{"trade_id": "N"}\x00\n')
    (folder / "s0153.csv.bz2").write_bytes(bz2.compress(f"{HEADER}\n{row('BZ')}\n".encode()))
    (folder / "s0154.json.gz").write_bytes(gzip.compress((json_line(trade_id="GZ") + "\n").encode()))
    (folder / "s0155.csv").write_text(f'{HEADER}\n{row("Q1")}\n"Q2",BTC,buy,1.5,2,{DAY}T10:00:00Z,X\n')
    (folder / "s0156.csv").write_text(f"{HEADER}\n\n{row('BL')}\n\n")  # blank lines
    (folder / "s0157.csv").write_text(f"{HEADER},only_here\n")  # a header alone: its column stays
    (folder / "s0158.jsonl").write_text("")
    big = HEADER + "\n" + "".join(row(f"G{i}") + "\n" for i in range(30_000))  # 1.3 MB of text
    (folder / "s0159.csv.gz").write_bytes(gzip.compress(big.encode()))
    quoted = '"trade_id","symbol","side","price","quantity","timestamp","exchange"'
    ts = f"{DAY}T10:00:00Z"
    (folder / "s0161.csv").write_text(f'{quoted}\n"Q3","BTC,USD","buy","1.5","2","{ts}","X"\n')  # 8 fields
    (folder / "s0162.csv").write_text(
        f'\n{quoted}\n"Q4","BTC","buy","1.5","2","{ts}","X"\n"Q5",a""b,buy,1,2,{ts},X\n'
    )
    (folder / "s0163.csv").write_text(
        f'{HEADER}\n"Q6","BT\nC","buy","1.5","2","{ts}","X"\n{row("Q7")}\n'
    )  # 2 lines
    (folder / "s0164.csv").write_bytes(f'{quoted}\r\n"Q8","BTC","sell","1.5","2","{ts}","X"\r\n'.encode())
    (folder / "s0165.csv").write_text(f'{HEADER}\n"Q9" ,BTC,buy,1.5,2,{ts},X\n')  # a space after the quote
    for i in range(3):  # 60 extra names each, 180 together: each file keeps them as columns
        line = json.loads(json_line(trade_id=f"X{i}")) | {f"x{i}_{k}": str(k) for k in range(60)}
        (folder / f"s0160_{i}.jsonl").write_text(json.dumps(line) + "\n")


def test_small_files_read_together_give_what_reading_them_one_by_one_gives(tmp_path: Path):
    landing = tmp_path / "landing"
    write_day(
        generate_day(date.fromisoformat(DAY), 5_000, seed=5, n_symbols=4), str(landing), corrupt_file=True
    )
    folder = landing / "trades" / f"date={DAY}"
    small_files(folder)
    for fixture in BAD_INPUTS.iterdir():  # BOM, CRLF, ragged rows, not UTF-8, corrupt files ...
        shutil.copy(fixture, folder / fixture.name)
    corrections = pl.DataFrame(
        {
            "source_file": [f"trades/date={DAY}/s0016.jsonl", f"trades/date={DAY}/s0051.csv"],
            "source_row": ["1", "2"],
        }
        | {"price": ["2.5", "3.5"]}
    )

    together, together_summary = ingest(landing, tmp_path / "a", corrections)
    alone, alone_summary = ingest(landing, tmp_path / "b", corrections, whole_file_bytes=0)
    # Small chunks: many batches of whole files, the big files in chunks
    batches, batches_summary = ingest(landing, tmp_path / "c", corrections, chunk_bytes=20_000)

    for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ):
        assert_frame_equal(together[name], alone[name])
        assert lake_file(together[name], tmp_path / "a.parquet") == lake_file(
            alone[name], tmp_path / "b.parquet"
        )
        assert_frame_equal(batches[name], alone[name])
    assert together_summary == alone_summary == batches_summary
    dlq = together[TRADES_DLQ]
    unreadable = dlq.filter(pl.col("error_codes").list.contains("unreadable_file"))["_source_file"].to_list()
    assert [path.rsplit("/", 1)[1] for path in unreadable if "/s0" in path] == [
        "s0150.csv",
        "s0151.jsonl.gz",
        "s0152.jsonl",
    ]
    assert dlq.filter(pl.col("trade_id") == "DUP")["error_codes"].to_list() == [
        ["invalid_price"],
        ["duplicate_trade_id"],
    ]
    assert together_summary.corrected_records == 2 and "only_here" in together[RAW_TRADES].columns
    assert {"x0_0", "x2_59"} <= set(together[RAW_TRADES].columns)
    assert together_summary.records_by_file[f"trades/date={DAY}/s0102.csv"] == 2
    assert together_summary.records_by_file[f"trades/date={DAY}/s0159.csv.gz"] == 30_000


def test_files_gone_from_the_landing_zone_replay_from_the_stored_partition_in_one_pass(tmp_path: Path):
    landing = tmp_path / "landing"
    folder = landing / "trades" / f"date={DAY}"
    folder.mkdir(parents=True)
    small_files(folder)
    first, first_summary = ingest(landing, tmp_path / "a", pl.DataFrame())
    for path in sorted(folder.iterdir())[::3] + sorted(folder.iterdir())[100:200]:
        path.unlink(missing_ok=True)  # every third file, and a run of 100 (unreadable ones too)

    again, summary = ingest(landing, tmp_path / "b", pl.DataFrame(), stored=first)

    for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ):
        assert_frame_equal(again[name], first[name])
    # A deleted file without records leaves no trace in the partitions: it is not replayed.
    kept = {
        path: n for path, n in first_summary.records_by_file.items() if n or path in first_summary.unreadable
    }
    assert {path: n for path, n in summary.records_by_file.items() if n or path in summary.unreadable} == kept
    assert summary.replayed_files > 150


def test_a_day_of_10000_one_row_files_takes_seconds_and_no_memory_per_file(tmp_path: Path):
    files = {}
    for i in range(10_000):
        if i % 500 == 7:
            pl.read_csv(f"{HEADER}\n{row(f'T{i}')}\n".encode()).write_parquet(buffer := io.BytesIO())
            files[f"f{i:05d}.parquet"] = buffer.getvalue()
        elif i % 2:
            files[f"f{i:05d}.jsonl"] = (json_line(trade_id=f"T{i}") + "\n").encode()
        else:
            files[f"f{i:05d}.csv"] = f"{HEADER}\n{row(f'T{i}')}\n".encode()
    cost = ingest_cost(tmp_path, files)
    assert cost["validated"] == 10_000
    assert cost["seconds"] < 30 and cost["rss_mb"] < 256  # file by file, they were 288 s and 1.2 GB
