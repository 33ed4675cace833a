"""Timestamp text -> UTC instants, in exactly the forms the landing contract accepts."""

from __future__ import annotations

import polars as pl

UTC_MICROS = pl.Datetime("us", "UTC")

# The accepted forms, exactly (docs/landing-contract.md): ISO-8601 with two-digit fields, optional
# seconds and a fraction of up to 9 digits, then Z or an offset; or epoch seconds/milliseconds.
# Hours run 00-23, minutes and seconds 00-59: polars' parser reads a 60th second as the next
# minute's first, so a leap second is refused here rather than silently moved.
_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d"
_ISO_LOCAL = r"^\d{4}-\d{2}-\d{2}[T ]" + _CLOCK + r"(?::[0-5]\d(?:\.\d{1,9})?)?"
ISO_ZONED = _ISO_LOCAL + r"(?:Z|[+-]\d{2}:?\d{2})$"
ISO_ZONELESS = _ISO_LOCAL + r"$"
EPOCH_SECONDS = r"^\d{10}(?:\.\d+)?$"
EPOCH_MILLIS = r"^\d{13}$"


def parse_timestamp(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(UTC instant or null, is-a-timestamp-without-a-zone) for text in the accepted forms.

    ``Z`` and offsets are converted to UTC; missing seconds are ``:00``; fractions of a second,
    ISO or epoch, are truncated to microseconds (never rounded into the next second or day).
    """
    iso = (
        text.str.replace(" ", "T", literal=True, n=1)
        .str.replace(r"^(.{10}T\d{2}:\d{2})(Z|[+-]|$)", "${1}:00${2}")  # seconds-less
        .str.replace(r"(\.\d{6})\d+", "${1}")  # beyond microseconds
    )
    aware = pl.when(text.str.contains(ISO_ZONED)).then(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC")
    )
    seconds = text.str.extract(r"^(\d{10})", 1).cast(pl.Int64, strict=False)
    micros = text.str.extract(r"^\d{10}\.(\d{1,6})", 1).str.pad_end(6, "0").cast(pl.Int64, strict=False)
    epoch_micros = (
        pl.when(text.str.contains(EPOCH_SECONDS))
        .then(seconds * 1_000_000 + micros.fill_null(0))
        .when(text.str.contains(EPOCH_MILLIS))
        .then(text.cast(pl.Int64, strict=False) * 1_000)
    )
    instant = pl.coalesce(aware, epoch_micros.cast(UTC_MICROS))
    return instant, instant.is_null() & text.str.contains(ISO_ZONELESS)


# Most timestamps arrive as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``; those are read with polars'
# fixed-width parser, which is several times faster than the general one. Everything else (offsets,
# epochs, a space for ``T``, odd or invalid text) goes through ``parse_timestamp`` row by row in
# bulk, so the result is the same as parsing every row with it.
_CANONICAL_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _CLOCK + r":[0-5][0-9](\.[0-9]{1,6})?Z$"


def canonical_instant(text: pl.Expr) -> pl.Expr:
    """The UTC instant of canonical ``...Z`` text, null for any other text."""
    seconds = text.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
    micros = text.str.slice(20, 6).str.strip_suffix("Z").str.pad_end(6, "0").cast(pl.Int64, strict=False)
    return pl.when(text.str.contains(_CANONICAL_UTC)).then(
        seconds.dt.replace_time_zone("UTC") + pl.duration(microseconds=micros.fill_null(0))
    )
