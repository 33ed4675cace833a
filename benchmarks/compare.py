"""Agreement: an implementation's outputs against the platform's; a faster wrong answer does not count."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from benchmarks.common import OUTPUTS, load_output

REL_TOL = 1e-9
VALIDATED_KEY = ["_source_file", "_source_row"]
VALIDATED_VALUES = ["trade_id", "symbol", "side", "price", "quantity", "timestamp", "exchange", "date"]
DLQ_KEY = ["_source_file", "_source_row"]
CANDLE_KEYS = {"ohlcv": ["date", "interval", "symbol", "timestamp"], "daily_volume": ["date", "symbol"]}
CANDLE_FLOATS = {
    "ohlcv": ["open", "high", "low", "close", "volume", "vwap"],
    "daily_volume": ["total_volume", "notional", "vwap", "avg_price", "low_price", "high_price"],
}


def normalized(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Comparable columns with the platform's types, in key order."""
    casts = {"_source_row": pl.Int64, "trade_count": pl.Int64, "date": pl.Date}
    if "timestamp" in frame.columns:
        stamp = frame.schema["timestamp"]
        frame = frame.with_columns(
            pl.col("timestamp").dt.replace_time_zone(None)
            if getattr(stamp, "time_zone", None)
            else pl.col("timestamp")
        ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    frame = frame.with_columns(pl.col(c).cast(t) for c, t in casts.items() if c in frame.columns)
    if name == "validated":
        return frame.select(*VALIDATED_KEY, *VALIDATED_VALUES).sort(VALIDATED_KEY)
    if name == "dlq":
        return frame.select(*DLQ_KEY, "trade_id", pl.col("error_codes").cast(pl.List(pl.String))).sort(
            DLQ_KEY
        )
    return frame.select(*CANDLE_KEYS[name], "trade_count", *CANDLE_FLOATS[name]).sort(CANDLE_KEYS[name])


def disagreements(reference: Path, candidate: Path, outputs: tuple[str, ...] = OUTPUTS) -> list[str]:
    """Human-readable differences of ``outputs``; empty when the candidate agrees with the reference."""
    problems = []
    for name in outputs:
        try:
            want = normalized(load_output(reference, name), name)
            got = normalized(load_output(candidate, name), name)
        except Exception as exc:  # a missing or malformed output is a disagreement too
            problems.append(f"{name}: cannot load ({type(exc).__name__}: {exc})")
            continue
        if want.height != got.height:
            problems.append(f"{name}: {got.height} rows, platform has {want.height}")
        exact = [c for c in want.columns if c not in CANDLE_FLOATS.get(name, [])]
        joined = want.join(got, on=exact, how="anti", nulls_equal=True)
        if joined.height:
            problems.append(
                f"{name}: {joined.height} platform rows not matched exactly, e.g. {joined.head(3).to_dicts()}"
            )
            continue
        if name in CANDLE_FLOATS and want.height == got.height:
            for column in CANDLE_FLOATS[name]:
                pair = pl.DataFrame({"a": want[column], "b": got[column]})
                bad = pair.select(
                    (
                        (pl.col("a") - pl.col("b")).abs()
                        > REL_TOL * pl.max_horizontal(pl.col("a").abs(), pl.col("b").abs())
                    )
                    .fill_null(True)
                    .sum()
                ).item()
                if bad:
                    problems.append(f"{name}.{column}: {bad} values differ by more than {REL_TOL} relative")
    return problems
