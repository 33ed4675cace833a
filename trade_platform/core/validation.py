"""Raw records -> validated trades + dead-letter rows, as one pass of polars expressions.

Each DLQ code is a boolean expression over the raw text; a record's ``error_codes`` are all the
codes whose expression holds, so a record with several faults carries all of them. A record is
validated only when it has none, and the split is exhaustive by construction: every raw row is in
exactly one of the two outputs. Both keep the records' source order (file, then row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from trade_platform.core.dlq_codes import DlqCode
from trade_platform.core.landing.columns import IDENTITY_FIELDS, LANDING_FIELDS, TRADE_FIELDS
from trade_platform.core.timestamps import UTC_MICROS, canonical_instant, parse_timestamp

TRADE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
ID_PATTERN = TRADE_ID_PATTERN
"""What a present ``account_id``/``trader_id`` must match once trimmed (both are optional)."""
SYMBOL_PATTERN = r"^[A-Z0-9_-]+$"
EXCHANGE_PATTERN = r"^[A-Z0-9_-]+$"
# Checked on the text as received, before upper-casing: Unicode upper-casing turns ß, ı and ﬁ
# into SS, I and FI, which would pass the pattern above.
ASCII_CODE = r"^[A-Za-z0-9_-]+$"
MAGNITUDE_FLOOR, MAGNITUDE_CEILING = 1e-300, 1e300
"""Price, quantity and price × quantity must lie within these (``invalid_notional``): a day's
sums, means and VWAPs of up to 10^8 such trades per symbol can neither overflow nor underflow."""
SIDES = ("buy", "sell")

VALIDATED_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in ("trade_id", "symbol", "side")},
    "price": pl.Float64(),
    "quantity": pl.Float64(),
    "timestamp": UTC_MICROS,
    "exchange": pl.String(),
    **{name: pl.String() for name in IDENTITY_FIELDS},
    "_source_file": pl.String(),
    "_source_row": pl.Int64(),
    "date": pl.Date(),
}
DLQ_SCHEMA: dict[str, pl.DataType] = {
    "raw_record": pl.String(),
    "trade_id": pl.String(),
    "error_codes": pl.List(pl.String()),
    "error": pl.String(),
    "_source_file": pl.String(),
    "_source_row": pl.Int64(),
    "run_id": pl.String(),
    "rejected_at": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
}


@dataclass(frozen=True)
class TradeSplit:
    validated: pl.DataFrame
    dlq: pl.DataFrame


def split_trades(
    raw: pl.DataFrame | pl.LazyFrame,
    *,
    now: datetime,
    run_id: str,
    accepted_ids: pl.Series | None = None,
) -> TradeSplit:
    """Split raw records (with a ``date`` partition column) into validated and DLQ rows.

    ``now`` is the instant after which a trade is in the future. ``accepted_ids`` are the
    trade_ids already validated for the same day from earlier records (earlier chunks of a day
    read in chunks): a record carrying one of them is a duplicate.
    """
    # Stage 1: trimmed text, normalized and parsed values, each computed once.
    parsed = _parse_fields(raw).lazy()
    # Stage 2: one boolean column per code.
    malformed = pl.col("_parse_error").is_not_null()
    missing = {
        name: ~malformed & (pl.col(f"_t_{name}").is_null() | (pl.col(f"_t_{name}") == ""))
        for name in TRADE_FIELDS
    }
    present = {name: ~malformed & ~flag for name, flag in missing.items()}
    malformed_id = {
        name: ~malformed & (pl.col(f"_t_{name}") != "") & ~pl.col(f"_t_{name}").str.contains(ID_PATTERN)
        for name in IDENTITY_FIELDS
    }
    has_time = present["timestamp"] & pl.col("_instant").is_not_null()
    faults: dict[DlqCode, pl.Expr] = {
        DlqCode.MALFORMED_RECORD: malformed,
        DlqCode.MISSING_FIELD: pl.any_horizontal(missing.values()),
        DlqCode.INVALID_TRADE_ID: present["trade_id"] & ~pl.col("trade_id").str.contains(TRADE_ID_PATTERN),
        DlqCode.INVALID_SYMBOL: present["symbol"] & ~pl.col("_t_symbol").str.contains(ASCII_CODE),
        DlqCode.INVALID_SIDE: present["side"] & ~pl.col("_side").is_in(SIDES),
        DlqCode.INVALID_PRICE: present["price"] & ~_positive_finite(pl.col("_price")),
        DlqCode.INVALID_QUANTITY: present["quantity"] & ~_positive_finite(pl.col("_quantity")),
        DlqCode.INVALID_NOTIONAL: present["price"]
        & present["quantity"]
        & _positive_finite(pl.col("_price"))
        & _positive_finite(pl.col("_quantity"))
        & ~pl.all_horizontal(
            _within_magnitude(value)
            for value in (pl.col("_price"), pl.col("_quantity"), pl.col("_price") * pl.col("_quantity"))
        ),
        DlqCode.INVALID_TIMESTAMP: present["timestamp"] & pl.col("_instant").is_null() & ~pl.col("_zoneless"),
        DlqCode.TIMESTAMP_NO_TIMEZONE: present["timestamp"] & pl.col("_zoneless"),
        DlqCode.TIMESTAMP_IN_FUTURE: has_time & (pl.col("_instant") > pl.lit(now).cast(UTC_MICROS)),
        DlqCode.TIMESTAMP_OUTSIDE_PARTITION: has_time
        & (
            (pl.col("_instant") < pl.col("_day_start"))
            | (pl.col("_instant") >= pl.col("_day_start").dt.offset_by("1d"))
        ),
        DlqCode.INVALID_EXCHANGE: present["exchange"] & ~pl.col("_t_exchange").str.contains(ASCII_CODE),
        DlqCode.INVALID_ACCOUNT_ID: malformed_id["account_id"],
        DlqCode.INVALID_TRADER_ID: malformed_id["trader_id"],
    }
    flagged = parsed.with_columns(
        **{_flag(code): fault.fill_null(False) for code, fault in faults.items()},
    ).with_columns(_clean=~pl.any_horizontal(_flag(code) for code in faults))
    # The first clean occurrence (by file, then row) of a trade_id is kept; any later record
    # with that id, clean or not, is a duplicate.
    first_clean = pl.when("_clean").then("_pos").min().over("date", "trade_id")
    duplicate = present["trade_id"] & first_clean.is_not_null() & (pl.col("_pos") > first_clean)
    if accepted_ids is not None and accepted_ids.len():
        duplicate = duplicate | (present["trade_id"] & pl.col("trade_id").is_in(accepted_ids.implode()))
    flagged = flagged.with_columns(
        duplicate.fill_null(False).alias(_flag(DlqCode.DUPLICATE_TRADE_ID))
    ).with_columns(_accepted=pl.col("_clean") & ~pl.col(_flag(DlqCode.DUPLICATE_TRADE_ID)))
    all_codes = [*faults, DlqCode.DUPLICATE_TRADE_ID]

    validated = flagged.filter("_accepted").select(
        "trade_id",
        symbol="_symbol",
        side="_side",
        price="_price",
        quantity="_quantity",
        timestamp="_instant",
        exchange="_exchange",
        # As received, trimmed; blank is absent. ``core.pseudonymise`` turns them into tokens.
        **{name: pl.when(pl.col(f"_t_{name}") != "").then(f"_t_{name}") for name in IDENTITY_FIELDS},
        _source_file="_source_file",
        _source_row="_source_row",
        date="date",
    )
    # Reasons are spelled out for the rejected rows only: list-building on every row would cost
    # more than all the checks together.
    validated_df, rejected_df = pl.collect_all(
        [validated, flagged.filter(~pl.col("_accepted"))], engine="in-memory"
    )
    messages = _messages()
    rejected_df = rejected_df.with_columns(
        _missing_names=pl.concat_list([pl.when(flag).then(pl.lit(name)) for name, flag in missing.items()])
        .list.drop_nulls()
        .list.join(", "),
    ).select(
        raw_record=pl.col("_raw_record"),
        trade_id=pl.col("trade_id"),
        error_codes=pl.concat_list(
            [pl.when(_flag(code)).then(pl.lit(code.value)) for code in all_codes]
        ).list.drop_nulls(),
        error=pl.concat_list([pl.when(_flag(code)).then(messages[code]) for code in all_codes])
        .list.drop_nulls()
        .list.join("; "),
        _source_file=pl.col("_source_file"),
        _source_row=pl.col("_source_row"),
        date=pl.col("date"),
    )
    return TradeSplit(validated=validated_df, dlq=_stamped(rejected_df, now, run_id))


UNREADABLE_PREFIX = "unreadable file: "


def dead_letter_file(source_file: str, error: str, day: date, *, now: datetime, run_id: str) -> pl.DataFrame:
    """The DLQ entry of a whole file that could not be read (no record of it reaches raw)."""
    entry = pl.DataFrame(
        {
            "raw_record": [None],
            "trade_id": [None],
            "error_codes": [[DlqCode.UNREADABLE_FILE.value]],
            "error": [UNREADABLE_PREFIX + error],
            "_source_file": [source_file],
            "_source_row": [None],
            "date": [day],
        },
        schema={k: v for k, v in DLQ_SCHEMA.items() if k not in ("run_id", "rejected_at")},
    )
    return _stamped(entry, now, run_id)


def _stamped(dlq: pl.DataFrame, now: datetime, run_id: str) -> pl.DataFrame:
    """DLQ rows with the run that rejected them, in ``DLQ_SCHEMA``'s columns and types."""
    stamped = dlq.with_columns(run_id=pl.lit(run_id, pl.String), rejected_at=pl.lit(now).cast(UTC_MICROS))
    return stamped.select(list(DLQ_SCHEMA)).cast(DLQ_SCHEMA)


def _parse_fields(raw: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Raw records in (date, file, row) order with ``_pos``, trimmed ``_t_*`` text and parsed values."""
    frame = raw.collect(engine="in-memory") if isinstance(raw, pl.LazyFrame) else raw
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(n) for n in IDENTITY_FIELDS if n not in frame.columns
    )
    if not _in_source_order(frame):
        frame = frame.sort("date", "_source_file", "_source_row")
    parsed = (
        frame.lazy()
        .with_row_index("_pos")
        .with_columns(pl.col(name).str.strip_chars().alias(f"_t_{name}") for name in LANDING_FIELDS)
        .with_columns(
            _symbol=pl.col("_t_symbol").str.to_uppercase(),
            _exchange=pl.col("_t_exchange").str.to_uppercase(),
            _side=pl.col("_t_side").str.to_lowercase(),
            _price=pl.col("_t_price").cast(pl.Float64, strict=False),
            _quantity=pl.col("_t_quantity").cast(pl.Float64, strict=False),
            _instant=canonical_instant(pl.col("_t_timestamp")),
            _zoneless=pl.lit(False),
            _day_start=pl.col("date").cast(UTC_MICROS),
        )
        .collect(engine="in-memory")
    )
    other = parsed.filter(pl.col("_instant").is_null() & pl.col("_t_timestamp").is_not_null())
    if other.height:
        instant, zoneless = parse_timestamp(pl.col("_t_timestamp"))
        other = other.select("_pos", _instant=instant, _zoneless=zoneless)
        positions = other["_pos"]
        parsed = parsed.with_columns(
            parsed["_instant"].scatter(positions, other["_instant"]),
            parsed["_zoneless"].scatter(positions, other["_zoneless"]),
        )
    return parsed


def _in_source_order(frame: pl.DataFrame) -> bool:
    """True when rows already ascend strictly by (date, _source_file, _source_row), as read."""
    date, file, row = pl.col("date"), pl.col("_source_file"), pl.col("_source_row")
    ascending = (date.shift(1) < date) | (
        (date.shift(1) == date) & ((file.shift(1) < file) | ((file.shift(1) == file) & (row.shift(1) < row)))
    )
    return frame.height < 2 or bool(frame.select(ascending.slice(1).fill_null(False).all()).item())


def _flag(code: DlqCode) -> str:
    return f"_is_{code.value}"


def _positive_finite(number: pl.Expr) -> pl.Expr:
    return number.is_not_null() & number.is_finite() & (number > 0)


def _within_magnitude(number: pl.Expr) -> pl.Expr:
    return (number >= MAGNITUDE_FLOOR) & (number <= MAGNITUDE_CEILING)


def _messages() -> dict[DlqCode, pl.Expr]:
    """A human sentence per code, quoting the offending value as received."""

    def quoted(field: str, problem: str) -> pl.Expr:
        return pl.concat_str(pl.lit(f"{field} '"), pl.col(field), pl.lit(f"' {problem}"))

    return {
        DlqCode.MALFORMED_RECORD: pl.format("malformed record: {}", pl.col("_parse_error")),
        DlqCode.MISSING_FIELD: pl.format("missing field(s): {}", pl.col("_missing_names")),
        DlqCode.INVALID_TRADE_ID: quoted("trade_id", f"does not match {TRADE_ID_PATTERN}"),
        DlqCode.INVALID_SYMBOL: quoted("symbol", "is not ASCII letters, digits, _ or -"),
        DlqCode.INVALID_SIDE: quoted("side", "is not buy or sell"),
        DlqCode.INVALID_PRICE: quoted("price", "is not a finite number > 0"),
        DlqCode.INVALID_QUANTITY: quoted("quantity", "is not a finite number > 0"),
        DlqCode.INVALID_NOTIONAL: pl.format(
            "price '{}' × quantity '{}' is outside [{}, {}]",
            pl.col("price"),
            pl.col("quantity"),
            pl.lit(MAGNITUDE_FLOOR),
            pl.lit(MAGNITUDE_CEILING),
        ),
        DlqCode.INVALID_TIMESTAMP: quoted("timestamp", "is not in an accepted timestamp form"),
        DlqCode.TIMESTAMP_NO_TIMEZONE: quoted("timestamp", "has no timezone (add Z or an offset)"),
        DlqCode.TIMESTAMP_IN_FUTURE: quoted("timestamp", "is in the future"),
        DlqCode.TIMESTAMP_OUTSIDE_PARTITION: pl.format(
            "timestamp '{}' is outside partition {}", pl.col("timestamp"), pl.col("date")
        ),
        DlqCode.INVALID_EXCHANGE: quoted("exchange", "is not ASCII letters, digits, _ or -"),
        DlqCode.INVALID_ACCOUNT_ID: quoted("account_id", f"does not match {ID_PATTERN} once trimmed"),
        DlqCode.INVALID_TRADER_ID: quoted("trader_id", f"does not match {ID_PATTERN} once trimmed"),
        DlqCode.DUPLICATE_TRADE_ID: quoted("trade_id", "was already accepted from an earlier record"),
    }
