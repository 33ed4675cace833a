"""The value forms of the settings: each parser takes the text of one variable and raises a
``ValueError`` saying what was expected (``settings`` adds the variable's name).

Everything a run would later trip over is refused here, so a bad value fails the code location's
load instead of a run: numbers are ASCII digits (``int`` and ``float`` alone would take ``١٢``,
``1_000``, ``nan`` and ``inf``) within bounds, and dates, times, intervals and URLs are checked
for what their consumers need.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

from trade_platform.core.dbt_project import model_names
from trade_platform.core.landing.files import CORRECTIONS, TRADES
from trade_platform.core.names import RETENTION_LAYERS

SECONDS_PER_DAY = 86_400
MAX_RETENTION_DAYS = 36_500
"""A century: the longest retention window (far past any legal hold; longer ones overflow dates)."""
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2099, 12, 31)
"""The days a start date or holiday may name."""

_WHOLE = re.compile(r"[0-9]{1,18}")  # past 4300 digits int() itself fails
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLOCK = re.compile(r"[0-9]{2}:[0-9]{2}")
_CLOCK_SECONDS = re.compile(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?")
# A polars duration in whole seconds or more, each unit at most once, largest first: 1m, 15m, 1h30m.
_INTERVAL = re.compile(r"(?=[0-9])(?:([0-9]{1,9})d)?(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,9})s)?")
_UNIT_SECONDS = (SECONDS_PER_DAY, 3_600, 60, 1)
_FILE_OR_S3 = re.compile(r"file:///.*|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/\S*)?", re.DOTALL)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_GLUE_DATABASE = re.compile(r"[a-z0-9_]{1,255}")
_CATALOG = re.compile(r"[A-Za-z0-9_]{1,255}")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
_GLOB = re.compile(r"[*?\[\]{}]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def integer(low: int, high: int) -> Callable[[str], int]:
    """Whole numbers from ``low`` to ``high``."""

    def parse(text: str) -> int:
        if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {text!r}")
        return int(text)

    return parse


def decimal(low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """Decimal numbers from ``low`` (excluded when ``above_low``) to ``high``."""

    def parse(text: str) -> float:
        value = float(text) if _DECIMAL.fullmatch(text) else None
        if value is None or not low <= value <= high or (above_low and value == low):
            bound = f"above {low:g}" if above_low else f"from {low:g}"
            raise ValueError(f"must be a decimal number {bound} to {high:g}, got {text!r}")
        return value

    return parse


def duration_seconds(low: int, high: int) -> Callable[[str], int]:
    """A duration in units of d, h, m and s (``30s``, ``5m``, ``1h30m``) or plain seconds, from
    ``low`` to ``high`` seconds."""

    def parse(text: str) -> int:
        match = None if _WHOLE.fullmatch(text) else _INTERVAL.fullmatch(text)
        if match:
            seconds = sum(int(n or 0) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True))
        else:
            seconds = int(text) if _WHOLE.fullmatch(text) else None
        if seconds is None or not low <= seconds <= high:
            raise ValueError(
                f"must be a duration like 30s, 5m or 1h (or seconds) from {low} s to {high} s, got {text!r}"
            )
        return seconds

    return parse


def parse_intervals(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of candle intervals such as ``1m,5m,1h`` (``candle_intervals``)."""
    return candle_intervals([part.strip() for part in text.split(",") if part.strip()])


def candle_intervals(intervals: Sequence[str]) -> tuple[str, ...]:
    """``intervals`` if they are polars durations in units of d, h, m and s that divide a day
    exactly (candles tile each UTC day), none twice, at least one."""
    if not intervals:
        raise ValueError("name at least one interval like 1m,5m,1h")
    seen: dict[int, str] = {}
    for interval in intervals:
        match = _INTERVAL.fullmatch(interval)
        if not match:
            raise ValueError(f"{interval!r} is not an interval like 1m, 15m, 1h or 1d (units d, h, m, s)")
        seconds = sum(int(n or 0) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True))
        if seconds == 0 or SECONDS_PER_DAY % seconds:
            raise ValueError(f"{interval!r} does not divide a day ({SECONDS_PER_DAY} s) exactly")
        if seconds in seen:
            raise ValueError(f"{interval!r} repeats {seen[seconds]!r}")
        seen[seconds] = interval
    return tuple(intervals)


def parse_retention(text: str) -> dict[str, int]:
    """Parse ``layer=days`` pairs such as ``landing=30,raw_trades=90``: each layer at most once,
    1 to ``MAX_RETENTION_DAYS`` days (a window of N days keeps today and the N-1 days before it)."""
    windows: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        layer, equals, days = (s.strip() for s in part.partition("="))
        if not equals:
            raise ValueError(f"name each layer as layer=days (like raw_trades=90), got {part!r}")
        if layer not in RETENTION_LAYERS:
            raise ValueError(f"unknown layer {layer!r}; the layers are {', '.join(RETENTION_LAYERS)}")
        if layer in windows:
            raise ValueError(f"{layer} is named twice")
        try:
            windows[layer] = integer(1, MAX_RETENTION_DAYS)(days)
        except ValueError as exc:
            raise ValueError(f"{layer}: {exc}") from None
    return windows


def day(text: str) -> date:
    """A day from ``FIRST_DAY`` to ``LAST_DAY``, as YYYY-MM-DD."""
    try:
        value = date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:
        value = None
    if value is None or not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"must be a date from {FIRST_DAY} to {LAST_DAY} like 2024-01-01, got {text!r}")
    return value


def start_day(text: str) -> date:
    """The first partition: a ``day`` no later than today (UTC), so every scheduled day exists."""
    value = day(text)
    if value > datetime.now(UTC).date():
        raise ValueError(f"must not be after today (UTC), got {text!r}")
    return value


def days(text: str) -> frozenset[str]:
    try:
        return frozenset(day(p.strip()).isoformat() for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise ValueError(f"must list days like 2024-12-25,2024-12-26: {exc}") from None


def time_of_day(text: str) -> time:
    """A UTC time, HH:MM or HH:MM:SS."""
    return _clock(text, _CLOCK_SECONDS, "02:00 or 02:00:30")


def minute_of_day(text: str) -> time:
    """A UTC time to the minute, HH:MM (a schedule's cron has no seconds)."""
    return _clock(text, _CLOCK, "00:15")


def _clock(text: str, form: re.Pattern[str], example: str) -> time:
    try:
        value = time.fromisoformat(text) if form.fullmatch(text) else None
    except ValueError:
        value = None
    if value is None:
        raise ValueError(f"must be a UTC time of day like {example}, got {text!r}")
    return value


def location(text: str) -> str:
    """A folder (a path without control characters, not starting like a URL's ``scheme:``),
    ``file://`` + an absolute path, or ``s3://bucket/prefix`` with a valid bucket name."""
    if _CONTROL.search(text) or (_SCHEME.match(text) and not _FILE_OR_S3.fullmatch(text)):
        raise ValueError(f"must be a folder or an s3://bucket/prefix URL, got {text!r}")
    if _GLOB.search(text):  # polars' and fsspec's readers would expand it as a pattern
        raise ValueError(f"must not contain the glob characters * ? [ ] {{ }}, got {text!r}")
    return text


def apart(landing: str, lake: str) -> None:
    """The lake is not the landing zone, nor inside a folder the landing readers list
    (``trades/``, ``corrections/``): the lake's files would be read as landed trades."""

    def folder(url: str) -> str:
        plain = url.removeprefix("file://")
        return (plain if "://" in plain else os.path.abspath(plain)).rstrip("/")

    landing_folder, lake_folder = folder(landing), folder(lake)
    if lake_folder == landing_folder or any(
        f"{lake_folder}/".startswith(f"{landing_folder}/{dataset}/") for dataset in (TRADES, CORRECTIONS)
    ):
        raise ValueError(
            f"must not be the landing zone or inside its trades/ or corrections/ folders, got {lake!r}"
        )


def broker_url(text: str) -> str:
    """A Celery broker URL that kombu can use, such as ``redis://host:6379/0``."""
    from kombu import Connection  # only a set-up with Celery pays for it

    return _service_url(text, lambda url: Connection(url).info())


def backend_url(text: str) -> str:
    """A Celery result backend URL that Celery can use, such as ``redis://host:6379/1``."""
    from celery.app.backends import by_url

    return _service_url(text, by_url)


def _service_url(text: str, use: Callable[[str], object]) -> str:
    """``text`` if ``use`` accepts it; it may hold a password, so errors never show it."""
    try:
        if not _URL.fullmatch(text):
            raise ValueError
        urlsplit(text).port  # noqa: B018  (raises for a port out of range)
        use(text)
    except Exception:  # kombu and Celery raise several kinds for a URL they cannot use
        raise ValueError(
            "must be a URL like redis://host:6379/0 of a transport Celery knows "
            "(the value is not shown: it may hold a password)"
        ) from None
    return text


def name(text: str) -> str:
    """A name of at most 255 characters without control characters."""
    if not _PRINTABLE.fullmatch(text):
        raise ValueError(f"must be at most 255 characters without control characters, got {text!r}")
    return text


def glue_database(text: str) -> str:
    """An AWS Glue database that Athena can query: lowercase letters, digits and ``_``."""
    if not _GLUE_DATABASE.fullmatch(text):
        raise ValueError(f"must be a Glue database name (lowercase letters, digits, '_'), got {text!r}")
    return text


def flag(text: str) -> bool:
    """``true`` or ``false`` (also 1/0, yes/no), in any case."""
    answer = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.lower())
    if answer is None:
        raise ValueError(f"must be true or false, got {text!r}")
    return answer


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """One of ``choices``, in any case."""

    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
        return text.lower()

    return parse


def catalog_name(text: str) -> str:
    """A pyiceberg catalog name that its ``PYICEBERG_CATALOG__<NAME>__...`` variables can spell:
    letters, digits and ``_``."""
    if not _CATALOG.fullmatch(text):
        raise ValueError(f"must be a catalog name (letters, digits, '_'), got {text!r}")
    return text


def dbt_models(text: str) -> tuple[str, ...] | None:
    """``all`` (None), ``none`` (no model), or comma-separated models of the dbt project."""
    if text.lower() in ("all", "none"):
        return None if text.lower() == "all" else ()
    models = tuple(dict.fromkeys(model.strip() for model in text.split(",")))
    unknown = [model for model in models if model not in model_names()]
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))}: not a model of the dbt project "
            f"(all, none, or some of: {', '.join(model_names())})"
        )
    return models
