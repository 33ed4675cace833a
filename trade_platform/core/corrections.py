"""Corrections: fixed field values for rejected records, applied before validation.

A corrections file (any landing format) under ``<landing>/corrections/date=D/`` names a record by
``source_file`` and ``source_row`` (as in the DLQ's ``_source_file``/``_source_row``) and gives the
landing fields (trade or identifying) to replace; blank fields keep the received value.
``raw_trades`` keeps the record as received; only what is validated changes. Applying the same
corrections again changes nothing.
"""

from __future__ import annotations

import polars as pl

from trade_platform.core.landing.columns import LANDING_FIELDS

KEYS = ("source_file", "source_row")


def unnamed_records(corrections: pl.DataFrame) -> pl.DataFrame:
    """The corrections records that name no record (``_source_file``, ``_source_row`` and why):
    a line that could not be read, a blank ``source_file``, or a ``source_row`` that is not a
    whole number. A record with every field blank (a spreadsheet's empty row) names nothing and is
    skipped."""
    columns = [name for name in corrections.columns if not name.startswith("_")]
    if corrections.is_empty():
        return corrections.select("_source_file", "_source_row", why=pl.lit(None, pl.String))
    blank = pl.all_horizontal(pl.col(name).str.strip_chars().replace("", None).is_null() for name in columns)
    unreadable = (
        pl.col("_parse_error").is_not_null() if "_parse_error" in corrections.columns else pl.lit(False)
    )
    unnamed = (
        pl.col("source_file").str.strip_chars().replace("", None).is_null()
        | _row_number(pl.col("source_row")).is_null()
    )
    return corrections.filter(unreadable | (unnamed & ~blank)).select(
        "_source_file",
        "_source_row",
        why=pl.when(unreadable)
        .then(pl.col("_parse_error") if "_parse_error" in corrections.columns else None)
        .otherwise(pl.lit("names no record")),
    )


def named_records(corrections: pl.DataFrame) -> int:
    """How many distinct records the corrections name."""
    if corrections.is_empty() or not set(KEYS) <= set(corrections.columns):
        return 0
    return corrections.select(*_named_record()).drop_nulls().unique().height


def _named_record() -> tuple[pl.Expr, pl.Expr]:
    """The record a correction names, as the DLQ's ``_source_file`` and ``_source_row``."""
    return (
        pl.col("source_file").str.strip_chars().alias("_source_file"),
        _row_number(pl.col("source_row")).alias("_source_row"),
    )


def _row_number(text: pl.Expr) -> pl.Expr:
    """A whole number as text (``3``, `` 3 ``, ``+3``, ``3.0``: a float64 column of a Parquet
    file written by pandas), else null."""
    return text.str.strip_chars().str.replace(r"^(\+?\d+)\.0*$", "${1}").cast(pl.Int64, strict=False)


def apply_corrections(records: pl.DataFrame, corrections: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``records`` with corrected fields substituted, and how many records a correction matched.

    A corrected record that could not be parsed is re-specified by its correction, so its parse
    error is cleared; when a record is corrected twice, the last correction given wins.
    """
    if corrections.is_empty():
        return records, 0
    missing = [key for key in KEYS if key not in corrections.columns]
    if missing:
        raise ValueError(f"corrections need the columns {', '.join(KEYS)}; missing {', '.join(missing)}")
    fields = [name for name in LANDING_FIELDS if name in corrections.columns]
    latest = (
        corrections.select(
            *_named_record(),
            *(pl.col(name).str.strip_chars().replace("", None).alias(f"_fix_{name}") for name in fields),
        )
        .drop_nulls(["_source_file", "_source_row"])
        .unique(["_source_file", "_source_row"], keep="last", maintain_order=True)
        .with_columns(_corrected=pl.lit(True))
    )
    corrected = records.join(latest, on=["_source_file", "_source_row"], how="left", maintain_order="left")
    matched = int(corrected["_corrected"].sum() or 0)
    corrected = corrected.with_columns(
        *(pl.coalesce(f"_fix_{name}", name).alias(name) for name in fields),
        _parse_error=pl.when(pl.col("_corrected")).then(None).otherwise(pl.col("_parse_error")),
    )
    return corrected.drop(pl.col(r"^_fix_.*$"), "_corrected"), matched
