"""The value forms of the settings: each parser takes the text of one variable and raises a
``ValueError`` saying what was expected (``settings`` adds the variable's name)."""

from __future__ import annotations

from datetime import date, time

from trade_platform.core.names import RETENTION_LAYERS


def parse_intervals(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of polars durations such as ``1m,5m,1h``."""
    intervals = tuple(part.strip() for part in text.split(",") if part.strip())
    if not intervals:
        raise ValueError(f"name at least one interval like 1m,5m,1h, got {text!r}")
    return intervals


def parse_retention(text: str) -> dict[str, int]:
    """Parse ``layer=days`` pairs such as ``landing=30,raw_trades=90``: each layer at most once,
    at least one day (a window of N days keeps today and the N-1 days before it)."""
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
            windows[layer] = positive(days)
        except ValueError as exc:
            raise ValueError(f"{layer}: {exc}") from None
    return windows


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be a date like 2024-01-01, got {text!r}") from None


def days(text: str) -> frozenset[str]:
    try:
        return frozenset(date.fromisoformat(p.strip()).isoformat() for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise ValueError(f"must list days like 2024-12-25,2024-12-26: {exc}") from None


def time_of_day(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be a UTC time of day like 02:00, got {text!r}") from None


def _number(kind: type, text: str):
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"must be a {kind.__name__} >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    return _number(int, text)


def positive(text: str) -> int:
    value = _number(int, text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text!r}")
    return value


def seconds(text: str) -> float:
    return _number(float, text)


def rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"must be a fraction between 0 and 1, got {text!r}")
    return rate
