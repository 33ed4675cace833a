"""JSON Lines landing files as raw records: one JSON object per line.

Keys are stored under ``columns.column_names`` (the last of a repeated key counts). A
value is kept as text: a string as is, a number as its digits, ``true``/``false``, and ``null`` as
missing. A nested value (object or array) in an extra field is kept as JSON text, as Parquet
structs are; in a trade or identifying field it makes the record malformed (its Kafka
provenance is kept). A line that is not a JSON object is malformed, and so is one that Python's
``json`` cannot turn into text (nesting too deep to decode, a lone surrogate escape such as
``"\\ud800"``): each line is decided on its own. Flat objects whose keys name distinct columns, by
far the usual case, are decoded by polars in bulk; the rest (nested values, repeated keys, escaped
or blank keys, lines polars' decoder rejects such as ``1e400``) line by line, with the same result:
their numbers are spelled by polars' decoder too (``canonical_numbers``), so how a trade's number
reads never depends on the other lines of its file or day.
When a chunk's lines have more than ``MAX_EXTRA_COLUMNS`` distinct extra names, every line is
decoded on its own and its extras kept in ``EXTRAS``: cost stays linear in the lines.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import polars as pl

from trade_platform.core.landing.columns import (
    EXTRAS,
    KAFKA_COLUMNS,
    LANDING_FIELDS,
    MAX_EXTRA_COLUMNS,
    PARSE_ERRORS,
    column_name,
    column_names,
    is_extra,
)

_STRING = r'"(?:[^"\\]|\\.)*"'
_SCALAR = rf"(?:{_STRING}|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)"
_MEMBER = rf"\s*{_STRING}\s*:\s*{_SCALAR}\s*"
FLAT_JSON_OBJECT = rf"^\s*\{{(?:{_MEMBER}(?:,{_MEMBER})*|\s*)\}}\s*$"
_KEY = rf"{_STRING}\s*:"
_SURROGATE = r"\\u[dD][89abcdefABCDEF]"
RECORD_SCHEMA = {"_source_row": pl.Int64(), "_raw_record": pl.String(), "_parse_error": pl.String()}
NESTED_FIELD = "nested value in field(s)"
"""The start of the ``_parse_error`` of a JSON object with a nested trade or identifying field."""
BISECT_LINES = 64
"""A batch polars' decoder rejects is halved down to this many lines, then decoded line by line."""
COLLAPSE_BATCH_LINES = 10_000
"""Lines decoded one by one and collapsed together (many extra names): one batch's records held."""


def jsonl_records(lines: pl.DataFrame) -> pl.DataFrame:
    """Non-blank lines (``_source_row``, ``_raw_record``) -> records with their fields."""
    bulk, names = _bulk_lines(lines)
    singles = _records(lines.filter(~bulk))
    extras = {name for name in names.values() if is_extra(name)}
    extras.update(name for record in singles for name in record if is_extra(name))
    if len(extras) > MAX_EXTRA_COLUMNS:  # each batch collapsed as it is decoded: one list held
        collapsed = [_collapsed(record) for record in singles]
        del singles
        rest = lines.filter(bulk)
        for start in range(0, rest.height, COLLAPSE_BATCH_LINES):
            collapsed += map(_collapsed, _records(rest.slice(start, COLLAPSE_BATCH_LINES)))
        return _frame(collapsed).sort("_source_row")
    decoded, rejected = _decode_in_bulk(lines.filter(bulk), names)
    singles += _records(rejected)
    return pl.concat([decoded, _frame(singles)], how="diagonal_relaxed").sort("_source_row")


def _bulk_lines(lines: pl.DataFrame) -> tuple[pl.Series, dict[str, str]]:
    """Which lines are flat objects whose keys name distinct columns (so each key's name is its
    ``column_name``, whatever else the line holds), and those keys' names."""
    # polars decodes a lone surrogate escape before a character as NUL ("\ud800x"): Python's json
    # decides every line with a surrogate escape.
    flat = lines["_raw_record"].str.contains(FLAT_JSON_OBJECT) & ~lines["_raw_record"].str.contains(
        _SURROGATE
    )
    keys = (
        lines.with_row_index("_line")
        .filter(flat)
        .select("_line", _key=pl.col("_raw_record").str.extract_all(_KEY))
        .explode("_key")
        .drop_nulls("_key")
        .with_columns(pl.col("_key").str.replace(r'^"(.*)"\s*:$', "$1"))
    )
    # An escaped key would need decoding, a blank one's name depends on its position: line by line.
    received = keys["_key"].unique().to_list()
    names = {key: column_name(key, 0) for key in received if key.strip() and "\\" not in key}
    named = keys.with_columns(
        _name=pl.col("_key").replace_strict(names, default=None, return_dtype=pl.String)
    )
    odd = (
        named.group_by("_line")
        .agg(_odd=pl.col("_name").is_null().any() | (pl.col("_name").n_unique() < pl.len()))
        .filter("_odd")["_line"]
    )
    bulk = flat & ~pl.int_range(0, lines.height, dtype=pl.UInt32, eager=True).is_in(odd.implode())
    kept = named.join(pl.DataFrame({"_line": odd}), on="_line", how="anti")["_key"].unique().to_list()
    return bulk, {key: names[key] for key in kept}


def _decode_in_bulk(lines: pl.DataFrame, names: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records, lines polars' decoder rejects) of flat lines with distinctly named keys (``names``);
    a rejected batch is bisected to isolate them."""
    if lines.is_empty():
        return pl.DataFrame(schema=RECORD_SCHEMA), lines
    try:
        decoded = lines.with_columns(
            pl.col("_raw_record")
            .str.json_decode(pl.Struct({key: pl.String for key in names}))
            .alias("_record")
        )
    except PARSE_ERRORS:
        if lines.height <= BISECT_LINES:
            return pl.DataFrame(schema=RECORD_SCHEMA), lines
        half = lines.height // 2
        parts = [_decode_in_bulk(lines.slice(0, half), names), _decode_in_bulk(lines.slice(half), names)]
        return (
            pl.concat([p[0] for p in parts], how="diagonal_relaxed"),
            pl.concat([p[1] for p in parts]),
        )
    # Keys that name one column (``Price`` and ``price``): each line has at most one of them.
    by_name: dict[str, list[str]] = {}
    for key, name in names.items():
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


def _records(lines: pl.DataFrame) -> list[dict[str, Any]]:
    """Lines decoded one by one, their numbers spelled as the bulk decoder spells them."""
    records = [_record(row, line) for row, line in lines.select("_source_row", "_raw_record").iter_rows()]
    spelled = canonical_numbers(
        {value for record in records for value in record.values() if _is_number(value)}
    )
    return [
        {name: spelled.get(value, value) if _is_number(value) else value for name, value in record.items()}
        for record in records
    ]


def canonical_numbers(numbers: set[str]) -> dict[str, str]:
    """Each JSON number as polars' decoder gives it as text (``1.10`` -> ``1.1``, ``1e2`` ->
    ``100``), decoded together; one that overflows a float (``1e400``), which the decoder rejects,
    keeps its text."""
    texts = [text for text in numbers if not math.isinf(float(text))]
    if not texts:
        return {}
    try:
        return dict(zip(texts, _decoded_numbers(texts), strict=True))
    except PARSE_ERRORS:  # not seen: any other number the decoder rejects keeps its text too
        spelled = {}
        for text in texts:
            with contextlib.suppress(*PARSE_ERRORS):
                spelled[text] = _decoded_numbers([text])[0]
        return spelled


def _decoded_numbers(texts: list[str]) -> list[str]:
    objects = pl.Series([f'{{"n":{text}}}' for text in texts])
    return objects.str.json_decode(pl.Struct({"n": pl.String})).struct.field("n").to_list()


def _is_number(value: Any) -> bool:
    return isinstance(value, _Number) and value not in ("NaN", "Infinity", "-Infinity")


def _frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    if not records:
        return pl.DataFrame(schema=RECORD_SCHEMA)
    return pl.DataFrame(records, schema_overrides=RECORD_SCHEMA, infer_schema_length=None)


def _record(row: int, line: str) -> dict[str, Any]:
    """One line decoded by Python's json (numbers keep their text), or malformed with the reason."""
    record: dict[str, Any] = {"_source_row": row, "_raw_record": line, "_parse_error": None}
    try:
        return {**record, **_fields(line)}
    except _Malformed as exc:
        return {**record, **exc.provenance, "_parse_error": str(exc)}
    except PARSE_ERRORS as exc:  # ValueError, RecursionError, a lone surrogate: this line only
        reason = str(exc).encode("utf-8", "backslashreplace").decode()
        return {**record, "_parse_error": f"invalid JSON: {type(exc).__name__}: {reason}"}


def _fields(line: str) -> dict[str, str | None]:
    pairs = json.loads(
        line, object_pairs_hook=_Pairs, parse_float=_Number, parse_int=_Number, parse_constant=_Number
    )
    if not isinstance(pairs, _Pairs):
        raise _Malformed("not a JSON object")
    fields = dict(zip(column_names([key for key, _ in pairs]), (value for _, value in pairs), strict=True))
    nested = [name for name in LANDING_FIELDS if isinstance(fields.get(name), list)]
    if nested:
        provenance = {name: _text(fields[name]) for name in KAFKA_COLUMNS if name in fields}
        raise _Malformed(f"{NESTED_FIELD}: {', '.join(nested)}", provenance)
    texts = {name: _text(value) for name, value in fields.items()}
    for text in (*texts, *texts.values()):
        if text is not None:
            text.encode("utf-8")  # a lone surrogate cannot be stored as text: UnicodeEncodeError
    return texts


def _collapsed(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its extras in ``EXTRAS`` (those with a value, in the order received)."""
    extras = {name: value for name, value in record.items() if is_extra(name) and value is not None}
    kept = {name: value for name, value in record.items() if not is_extra(name)}
    return {**kept, EXTRAS: json.dumps(extras, ensure_ascii=False, separators=(",", ":")) if extras else None}


class _Malformed(ValueError):
    def __init__(self, reason: str, provenance: dict[str, str | None] | None = None) -> None:
        super().__init__(reason)
        self.provenance = provenance or {}


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
