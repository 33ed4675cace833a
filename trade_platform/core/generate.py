"""Seeded synthetic trades: random-walk prices per symbol, several exchanges, the accounts and
traders behind them, every file format, and a small share of bad records of every DLQ kind,
written into a landing zone.

Generation is vectorized (numpy draws, polars expressions); the same code feeds the demo, the
tests and the benchmark.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

import fsspec
import numpy as np
import polars as pl

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.landing.columns import LANDING_FIELDS
from trade_platform.core.landing.files import day_prefix

EXCHANGES = ("BINANCE", "COINBASE", "KRAKEN", "BITSTAMP", "OKX")
FORMATS = ("csv", "jsonl.gz", "parquet")
# Faults injected into single records; unreadable_file is a whole corrupt file instead.
RECORD_FAULTS = tuple(code for code in DlqCode if code is not DlqCode.UNREADABLE_FILE)
IDENTITY_FAULTS = (DlqCode.INVALID_ACCOUNT_ID, DlqCode.INVALID_TRADER_ID)
ACCOUNTS, TRADERS = 400, 150
"""The people behind the trades: the same ids trade day after day, so tokens join across days."""
NO_TRADER_SHARE = 0.02
"""Trades without a trader_id (the column is optional)."""
CORRUPT = b"\x1f\x8b\x08\x00truncated-gzip"
"""The bytes of a deliberately corrupt file (a gzip stream cut short)."""


@dataclass(frozen=True)
class GeneratedDay:
    day: date
    records: pl.DataFrame
    """Text records plus ``format`` (target file format) and ``fault`` (injected code or null)."""


def symbols(count: int) -> list[str]:
    return [f"SYM{i:03d}" for i in range(count)]


def generate_day(
    day: date,
    n_trades: int,
    *,
    seed: int,
    n_symbols: int = 8,
    bad_fraction: float = 0.01,
    identities: bool = True,
) -> GeneratedDay:
    """``identities``: records carry ``account_id`` and ``trader_id`` (drawn from a generator of
    their own, so the trades themselves are the same either way)."""
    rng = np.random.default_rng([seed, day.toordinal()])
    base = np.exp(rng.uniform(np.log(1.0), np.log(50_000.0), n_symbols))
    symbol_idx = rng.integers(0, n_symbols, n_trades)
    micros = np.sort(rng.integers(0, 86_400_000_000, n_trades))
    # Random walk per symbol: trades are time-ordered, so a per-symbol cumulative sum of
    # log-returns walks each symbol's price through the day.
    steps = pl.DataFrame({"s": symbol_idx, "r": rng.normal(0.0, 0.0005, n_trades)})
    walk = steps.select(pl.col("r").cum_sum().over("s")).to_series().to_numpy()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "_i": np.arange(n_trades),
            "symbol": np.array(symbols(n_symbols))[symbol_idx],
            "side": np.where(rng.random(n_trades) < 0.5, "buy", "sell"),
            "price": np.round(base[symbol_idx] * np.exp(walk), 6),
            "quantity": np.round(rng.lognormal(0.0, 1.0, n_trades), 6) + 0.000001,
            "_micros": micros,
            "exchange": np.array(EXCHANGES)[rng.integers(0, len(EXCHANGES), n_trades)],
            "format": np.array(FORMATS)[rng.integers(0, len(FORMATS), n_trades)],
        }
    ).select(
        trade_id=pl.format("T{}-{}", pl.lit(f"{day:%Y%m%d}"), pl.col("_i").cast(pl.String).str.zfill(9)),
        symbol="symbol",
        side="side",
        price=pl.col("price").cast(pl.String),
        quantity=pl.col("quantity").cast(pl.String),
        timestamp=(pl.lit(midnight) + pl.duration(microseconds=pl.col("_micros"))).dt.to_string(
            "%Y-%m-%dT%H:%M:%S%.6fZ"
        ),
        exchange="exchange",
        format="format",
    )
    if identities:
        frame = frame.with_columns(_identities(np.random.default_rng([seed, day.toordinal(), 1]), n_trades))
    faults = RECORD_FAULTS if identities else tuple(c for c in RECORD_FAULTS if c not in IDENTITY_FAULTS)
    return GeneratedDay(day=day, records=_inject_faults(frame, rng, day, bad_fraction, faults))


def _identities(rng: np.random.Generator, n: int) -> list[pl.Series]:
    accounts = pl.Series("account_id", [f"ACC-{i:05d}" for i in range(ACCOUNTS)])
    traders = pl.Series("trader_id", [f"TRD-{i:04d}" for i in range(TRADERS)])
    trader = traders.gather(rng.integers(0, TRADERS, n))
    return [
        accounts.gather(rng.integers(0, ACCOUNTS, n)),
        trader.scatter(np.flatnonzero(rng.random(n) < NO_TRADER_SHARE), None),
    ]


def _inject_faults(
    frame: pl.DataFrame, rng: np.random.Generator, day: date, bad_fraction: float, faults: tuple[DlqCode, ...]
) -> pl.DataFrame:
    """Give about ``bad_fraction`` of the records one fault each, spread over every kind."""
    n = frame.height
    pick = rng.random(n) < bad_fraction
    kinds = pl.Series([code.value for code in faults], dtype=pl.String)
    fault = kinds.gather(rng.integers(0, len(kinds), n))
    frame = frame.with_columns(fault=pl.when(pl.Series(pick)).then(fault))
    # A malformed record only exists in a text file.
    frame = frame.with_columns(
        format=pl.when(pl.col("fault") == DlqCode.MALFORMED_RECORD.value)
        .then(pl.lit("csv"))
        .otherwise("format")
    )
    next_day = f"{date.fromordinal(day.toordinal() + 1):%Y-%m-%d}"
    prev_day = f"{date.fromordinal(day.toordinal() - 1):%Y-%m-%d}"

    first_id = pl.col("trade_id").first()
    outside_day = prev_day if n % 2 else next_day
    replacements: dict[str, list[tuple[DlqCode, pl.Expr]]] = {
        "trade_id": [
            (DlqCode.INVALID_TRADE_ID, pl.concat_str(pl.lit("bad id "), pl.col("trade_id"))),
            (DlqCode.DUPLICATE_TRADE_ID, first_id),
        ],
        "symbol": [(DlqCode.INVALID_SYMBOL, pl.lit("BT$C"))],
        "side": [(DlqCode.INVALID_SIDE, pl.lit("hold"))],
        "price": [(DlqCode.INVALID_PRICE, pl.lit("-12.5"))],
        "quantity": [
            (DlqCode.MISSING_FIELD, pl.lit(None, pl.String)),
            (DlqCode.INVALID_QUANTITY, pl.lit("0")),
        ],
        "timestamp": [
            (DlqCode.INVALID_TIMESTAMP, pl.lit("yesterday at noon")),
            (DlqCode.TIMESTAMP_NO_TIMEZONE, pl.col("timestamp").str.strip_suffix("Z")),
            (DlqCode.TIMESTAMP_IN_FUTURE, pl.lit("2999-01-01T00:00:00Z")),
            (
                DlqCode.TIMESTAMP_OUTSIDE_PARTITION,
                pl.col("timestamp").str.replace(r"^\d{4}-\d{2}-\d{2}", outside_day),
            ),
        ],
        "exchange": [(DlqCode.INVALID_EXCHANGE, pl.lit("EX CHANGE!"))],
        "account_id": [(DlqCode.INVALID_ACCOUNT_ID, pl.concat_str(pl.lit("acct "), pl.col("account_id")))],
        "trader_id": [(DlqCode.INVALID_TRADER_ID, pl.lit("trader?"))],
    }
    updates = []
    for column, cases in replacements.items():
        if column not in frame.columns:
            continue
        expr = pl.col(column)
        for code, value in cases:
            expr = pl.when(pl.col("fault") == code.value).then(value).otherwise(expr)
        updates.append(expr.alias(column))
    return frame.with_columns(updates)


def render(records: pl.DataFrame, file_format: str) -> bytes:
    """The records as one landing file's bytes; malformed records are broken as text."""
    names = [name for name in LANDING_FIELDS if name in records.columns]
    fields = records.select(names)
    malformed = records["fault"] == DlqCode.MALFORMED_RECORD.value
    if file_format == "parquet":
        buffer = io.BytesIO()
        fields.write_parquet(buffer)
        return buffer.getvalue()
    if file_format.startswith("csv"):
        lines = fields.select(pl.concat_str(pl.all().fill_null(""), separator=",")).to_series()
        lines = pl.select(pl.when(malformed).then(lines + ",UNEXPECTED").otherwise(lines)).to_series()
        text = ",".join(names) + "\n" + "\n".join(lines.to_list()) + "\n"
    else:
        lines = fields.select(pl.struct(pl.all()).struct.json_encode()).to_series()
        lines = pl.select(pl.when(malformed).then(lines.str.slice(0, 20)).otherwise(lines)).to_series()
        text = "\n".join(lines.to_list()) + "\n"
    payload = text.encode()
    return gzip.compress(payload, compresslevel=1) if file_format.endswith(".gz") else payload


def write_day(generated: GeneratedDay, landing_url: str, *, corrupt_file: bool = False) -> list[str]:
    """Write the day's records as one file per format (plus a corrupt file if asked); return URLs."""
    prefix = day_prefix(landing_url, generated.day.isoformat())
    written = []
    for file_format in FORMATS:
        part = generated.records.filter(pl.col("format") == file_format)
        if part.is_empty():
            continue
        url = f"{prefix}trades-{generated.day:%Y%m%d}.{file_format}"
        _put(url, render(part, file_format))
        written.append(url)
    if corrupt_file:
        url = f"{prefix}trades-{generated.day:%Y%m%d}-late.jsonl.gz"
        _put(url, CORRUPT)
        written.append(url)
    return written


def _put(url: str, payload: bytes) -> None:
    with fsspec.open(url, "wb", auto_mkdir=True) as handle:
        handle.write(payload)
