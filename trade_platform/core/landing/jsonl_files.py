"""JSON Lines landing files as raw records: one JSON object per line.

Keys are stored under ``columns.column_names`` (the last of a repeated key counts). A
value is kept as text: a string as is, a number as its digits, ``true``/``false``, and ``null`` as
missing. A nested value (object or array) in an extra field is kept as JSON text, as Parquet
structs are; in a trade or identifying field it makes the record malformed (its Kafka
provenance is kept). A line that is not a JSON object is malformed. Flat objects with distinct
keys, by far the usual case, are decoded by polars in bulk; the rest (nested values, repeated
keys, numbers polars' decoder rejects such as ``1e400``) line by line, with the same result.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from trade_platform.core.landing.columns import KAFKA_COLUMNS, LANDING_FIELDS, column_names

_STRING = r'"(?:[^"\\]|\\.)*"'
_SCALAR = rf"(?:{_STRING}|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)"
_MEMBER = rf"\s*{_STRING}\s*:\s*{_SCALAR}\s*"
FLAT_JSON_OBJECT = rf"^\s*\{{(?:{_MEMBER}(?:,{_MEMBER})*|\s*)\}}\s*$"
_KEY = rf"({_STRING})\s*:"
RECORD_SCHEMA = {"_source_row": pl.Int64(), "_raw_record": pl.String(), "_parse_error": pl.String()}


def jsonl_records(lines: pl.DataFrame) -> pl.DataFrame:
    """Non-blank lines (``_source_row``, ``_raw_record``) -> records with their fields."""
    lines = lines.with_columns(_keys=pl.col("_raw_record").str.extract_all(_KEY))
    keys = pl.col("_keys")
    lines = lines.with_columns(
        _bulk=pl.col("_raw_record").str.contains(FLAT_JSON_OBJECT)
        & (
            keys.list.eval(
                pl.element().str.replace(r'^"\s*(.*?)\s*"\s*:$', "$1").str.to_lowercase()
            ).list.n_unique()
            == keys.list.len()
        )
    )
    decoded, rejected = _decode_in_bulk(lines.filter("_bulk").drop("_bulk"))
    one_by_one = pl.concat([lines.filter(~pl.col("_bulk")).drop("_bulk"), rejected])
    records = [
        _record(row, line) for row, line in one_by_one.select("_source_row", "_raw_record").iter_rows()
    ]
    singles = (
        pl.DataFrame(records, schema_overrides=RECORD_SCHEMA, infer_schema_length=None)
        if records
        else pl.DataFrame(schema=RECORD_SCHEMA)
    )
    return pl.concat([decoded, singles], how="diagonal_relaxed").sort("_source_row")


def _decode_in_bulk(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records, lines polars' decoder rejects) of lines with their ``_keys``; a rejected batch
    is bisected to isolate them."""
    if lines.is_empty():
        return pl.DataFrame(schema=RECORD_SCHEMA), lines
    received = (
        lines["_keys"]
        .explode()
        .drop_nulls()
        .str.replace(r"\s*:$", "")
        .str.json_decode(pl.String)
        .unique(maintain_order=True)
        .to_list()
    )
    try:
        decoded = lines.with_columns(
            pl.col("_raw_record")
            .str.json_decode(pl.Struct({key: pl.String for key in received}))
            .alias("_record")
        )
    except pl.exceptions.ComputeError:
        if lines.height == 1:
            return pl.DataFrame(schema=RECORD_SCHEMA), lines
        half = lines.height // 2
        parts = [_decode_in_bulk(lines.slice(0, half)), _decode_in_bulk(lines.slice(half))]
        return (
            pl.concat([p[0] for p in parts], how="diagonal_relaxed"),
            pl.concat([p[1] for p in parts]),
        )
    # Keys that differ only in case name one trade field: each line has at most one of them.
    by_name: dict[str, list[str]] = {}
    for key, name in zip(received, column_names(received), strict=True):
        by_name.setdefault(name, []).append(key)
    return (
        decoded.select(
            "_source_row",
            "_raw_record",
            *[
                pl.coalesce(pl.col("_record").struct.field(key) for key in keys).alias(name)
                for name, keys in by_name.items()
            ],
            _parse_error=pl.lit(None, pl.String),
        ),
        lines.clear(),
    )


def _record(row: int, line: str) -> dict[str, Any]:
    """One line decoded by Python's json (numbers keep their text), or malformed with the reason."""
    record: dict[str, Any] = {"_source_row": row, "_raw_record": line, "_parse_error": None}
    try:
        pairs = json.loads(
            line, object_pairs_hook=_Pairs, parse_float=_Number, parse_int=_Number, parse_constant=_Number
        )
    except ValueError as exc:
        return {**record, "_parse_error": f"invalid JSON: {exc}"}
    if not isinstance(pairs, _Pairs):
        return {**record, "_parse_error": "not a JSON object"}
    fields = dict(zip(column_names([key for key, _ in pairs]), (value for _, value in pairs), strict=True))
    nested = [name for name in LANDING_FIELDS if isinstance(fields.get(name), list)]
    if nested:
        provenance = {name: _text(fields[name]) for name in KAFKA_COLUMNS if name in fields}
        return {**record, **provenance, "_parse_error": f"nested value in field(s): {', '.join(nested)}"}
    return {**record, **{name: _text(value) for name, value in fields.items()}}


class _Pairs(list):
    """A JSON object as its (key, value) pairs in order, repeated keys included."""


class _Number(str):
    """A JSON number as written (so ``1e400`` is judged as the same text in CSV would be)."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # a nested object or array: JSON text, the last repeated key counting
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return {key: _plain(item) for key, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, _Number):
        return json.loads(value)
    return value
