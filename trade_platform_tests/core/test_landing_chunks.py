"""Chunked reading: a day read in tiny chunks and spilled to scratch gives exactly what one
chunk held in memory gives, and a file found corrupt part-way leaves nothing behind."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from trade_platform.core.generate import generate_day, write_day
from trade_platform.core.ingest import SCHEMAS, DaySummary, ingest_day
from trade_platform.core.landing.files import UnreadableFileError, iter_landing_file, order_raw_columns
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.spill import Spill
from trade_platform_tests.conftest import (
    BAD_INPUTS,
    DAY,
    HEADER,
    TEST_PII_KEY,
    json_line,
    row,
    trade,
    write_csv,
)

FIXTURES = BAD_INPUTS
NOW = datetime.now(UTC)


def ingest(
    landing: Path, scratch: Path, *, chunk_bytes: int, budget_bytes: int
) -> tuple[dict, DaySummary, bool]:
    spill = Spill(scratch, SCHEMAS, budget_bytes=budget_bytes)
    files = list_landing_files(str(landing), DAY)
    summary = ingest_day(
        files,
        pl.DataFrame(),
        DAY,
        now=NOW,
        run_id="r",
        spill=spill,
        pii_key=TEST_PII_KEY,  # the generated trades carry account_id and trader_id
        chunk_bytes=chunk_bytes,
    )
    frames = {
        RAW_TRADES: order_raw_columns(spill.result(RAW_TRADES)),
        VALIDATED_TRADES: spill.result(VALIDATED_TRADES),
        TRADES_DLQ: spill.result(TRADES_DLQ),
    }
    return (
        {k: f.collect() if isinstance(f, pl.LazyFrame) else f for k, f in frames.items()},
        summary,
        spill.spilled,
    )


def test_tiny_chunks_and_spilling_change_nothing(tmp_path: Path):
    landing = tmp_path / "landing"
    write_day(
        generate_day(date.fromisoformat(DAY), 3_000, seed=3, n_symbols=5), str(landing), corrupt_file=True
    )
    for fixture in FIXTURES.iterdir():  # every bad input: BOM, CRLF, ragged rows, corrupt files ...
        shutil.copy(fixture, landing / "trades" / f"date={DAY}" / fixture.name)

    whole, whole_summary, whole_spilled = ingest(
        landing, tmp_path / "a", chunk_bytes=1 << 30, budget_bytes=1 << 40
    )
    tiny, tiny_summary, tiny_spilled = ingest(landing, tmp_path / "b", chunk_bytes=2_000, budget_bytes=0)

    assert not whole_spilled and tiny_spilled
    assert (
        whole[RAW_TRADES].height > 3_000
        and whole[TRADES_DLQ]["error_codes"].list.contains("duplicate_trade_id").any()
    )
    for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ):
        assert_frame_equal(tiny[name], whole[name])
    assert tiny_summary == whole_summary
    assert (
        whole_summary.raw_rows
        == whole_summary.validated_rows + whole_summary.dlq_rows - whole_summary.unreadable_files
    )


def test_a_file_found_corrupt_part_way_leaves_no_rows_and_no_accepted_ids(tmp_path: Path):
    day_dir = tmp_path / "landing" / "trades" / f"date={DAY}"
    day_dir.mkdir(parents=True)
    text = write_csv(tmp_path / "a.csv", [trade(f"T{i}") for i in range(200)]).read_bytes()
    (day_dir / "a.csv.gz").write_bytes(gzip.compress(text)[:-12])  # the stream ends early
    write_csv(day_dir / "b.csv", [trade("T1"), trade("T500")])
    [broken, _] = list_landing_files(str(tmp_path / "landing"), DAY)
    chunks = iter_landing_file(broken, chunk_bytes=100)
    assert len(list(islice(chunks, 3))) == 3  # it yields records before the end is reached ...
    with pytest.raises(UnreadableFileError, match="corrupt gzip stream"):
        list(chunks)  # ... and only then fails

    out, summary, _ = ingest(tmp_path / "landing", tmp_path / "scratch", chunk_bytes=100, budget_bytes=0)

    assert out[RAW_TRADES]["_source_file"].unique().to_list() == [f"trades/date={DAY}/b.csv"]
    assert out[VALIDATED_TRADES]["trade_id"].to_list() == [
        "T1",
        "T500",
    ]  # T1 was never accepted from a.csv.gz
    assert out[TRADES_DLQ].select("_source_file", "error_codes").rows() == [
        (f"trades/date={DAY}/a.csv.gz", ["unreadable_file"])
    ]
    assert (summary.raw_rows, summary.validated_rows, summary.dlq_rows, summary.unreadable_files) == (
        2,
        2,
        1,
        1,
    )


# Ingests one file in a fresh interpreter: seconds taken and peak RSS growth (MB) on stdout.
COST_PROBE = """
import json, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
import polars as pl
from trade_platform.core.ingest import SCHEMAS, ingest_day
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, VALIDATED_TRADES
from trade_platform.core.spill import Spill

tmp, day = Path(sys.argv[1]), sys.argv[2]
files = list_landing_files(str(tmp / "landing"), day)
before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
spill = Spill(tmp / "scratch", SCHEMAS)
ingest_day(files, pl.DataFrame(), day, now=datetime.now(UTC), run_id="cost", spill=spill)
raw, validated = (pl.LazyFrame(spill.result(name)).collect() for name in (RAW_TRADES, VALIDATED_TRADES))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_mb": (peak - before) / 1024, "peak_mb": peak / 1024, "validated": validated.height, "extras": raw.get_column("_extras", default=pl.Series([])).head(3).to_list()}))
"""


def ingest_cost(tmp_path: Path, files: dict[str, bytes]) -> dict:
    """What ingesting a day of ``files`` (name -> content) costs."""
    folder = tmp_path / "landing" / "trades" / f"date={DAY}"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    probe = subprocess.run(
        [sys.executable, "-c", COST_PROBE, str(tmp_path), DAY], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    cost = json.loads(probe.stdout)
    print(
        f"{len(files)} files: {cost['seconds']:.1f} s, peak RSS {cost['peak_mb']:.0f} MB (+{cost['rss_mb']:.0f} MB)"
    )
    return cost


def test_json_lines_each_with_its_own_extra_key_cost_linear_time_and_memory(tmp_path: Path):
    lines = [json_line(trade_id=f"K{i}", **{f"k{i}": f"v{i}"}) for i in range(10_000)]
    cost = ingest_cost(tmp_path, {"keys.jsonl": ("\n".join(lines) + "\n").encode()})
    assert cost["validated"] == 10_000
    assert [json.loads(extras) for extras in cost["extras"]] == [{f"k{i}": f"v{i}"} for i in range(3)]
    assert cost["seconds"] < 30 and cost["rss_mb"] < 1024  # quadratic, they were 176 s and 2.8 GB


def test_a_csv_header_of_5000_columns_costs_linear_time_and_memory(tmp_path: Path):
    header = HEADER + "".join(f",c{i}" for i in range(5_000))
    rows = "".join(row(f"W{n}") + "".join(f",{n}.{i}" for i in range(5_000)) + "\n" for n in range(200))
    cost = ingest_cost(tmp_path, {"wide.csv": f"{header}\n{rows}".encode()})
    assert cost["validated"] == 200
    assert json.loads(cost["extras"][2])["c4999"] == "2.4999"
    assert cost["seconds"] < 30 and cost["rss_mb"] < 1024
