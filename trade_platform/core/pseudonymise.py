"""Keyed tokens for PII columns: the lowercase hex HMAC-SHA256 of each value.

The same value always gives the same token, so counts and joins by account still work
downstream, while the value itself stays in the restricted layers (raw_trades, trades_dlq).
Tokens are computed over the distinct values of a chunk (a few hundred accounts among millions
of trades) and mapped onto the rows by polars. The key lives only in a ``PiiKey``, whose repr
hides it; no message quotes it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

MIN_KEY_BYTES = 32
"""HMAC-SHA256 keys shorter than the digest (RFC 2104) weaken it: ``openssl rand -hex 32`` gives 64."""
TOKEN_PATTERN = r"^[0-9a-f]{64}$"
DEVELOPMENT_KEY = b"trade-platform development PII key: demo data only, never production"
"""The key of ``trade-platform demo`` when none is configured (its tokens protect nothing)."""


class MissingPiiKeyError(Exception):
    """Records carry identifying values but no key is configured; names columns, never values."""


@dataclass(frozen=True)
class PiiKey:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"the PII key must be at least {MIN_KEY_BYTES} bytes, got {len(self.secret)}")

    @classmethod
    def configured(cls, given: Mapping[str, str]) -> PiiKey | None:
        """The key of ``{text variable: the key, file variable: its path}`` (blank: not set), or
        None; setting both is an error. Errors name the variable, never the key."""
        (text_name, text), (file_name, path) = given.items()
        if text and path:
            raise ValueError(f"set {text_name} or {file_name}, not both")
        try:
            return cls.from_text(text) if text else cls.from_file(path) if path else None
        except ValueError as exc:
            raise ValueError(f"{text_name if text else file_name}: {exc}") from None

    @classmethod
    def from_text(cls, text: str) -> PiiKey:
        """The key given as text: its UTF-8 bytes."""
        return cls(text.encode())

    @classmethod
    def from_file(cls, path: str) -> PiiKey:
        """The key in a file: its bytes, less one trailing line break (``\\n`` or ``\\r\\n``)."""
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the PII key file {path!r}: {exc.strerror}") from None
        return cls(content[:-2] if content.endswith(b"\r\n") else content.removesuffix(b"\n"))

    def tokens(self, values: pl.Series) -> pl.Series:
        """Each value's token (null stays null): HMAC-SHA256 of its UTF-8 bytes, in lowercase hex."""
        distinct = values.drop_nulls().unique()
        keyed = hmac.new(self.secret, digestmod=hashlib.sha256)
        digests = [_token(keyed, value) for value in distinct.to_list()]  # per distinct value, not row
        return values.replace_strict(
            distinct, pl.Series(digests, dtype=pl.String), default=None, return_dtype=pl.String
        )


def _token(keyed: hmac.HMAC, value: str) -> str:
    mac = keyed.copy()
    mac.update(value.encode())
    return mac.hexdigest()


def require_key(frame: pl.DataFrame, columns: Sequence[str], key: PiiKey | None) -> None:
    """Raise ``MissingPiiKeyError`` when there is no key and one of ``columns`` holds a value
    (blank text is no value: the identifying columns are optional)."""
    present = [name for name in columns if name in frame.columns]
    if key is not None or not present or frame.is_empty():
        return
    held = frame.select((pl.col(name).str.strip_chars() != "").any() for name in present).row(0)
    filled = [name for name, has in zip(present, held, strict=True) if has]
    if filled:
        raise MissingPiiKeyError(f"{', '.join(filled)} hold identifying values but no PII key is configured")


def pseudonymise(frame: pl.DataFrame, columns: Sequence[str], key: PiiKey | None) -> pl.DataFrame:
    """``frame`` with each of ``columns`` replaced by its tokens (see ``require_key``)."""
    require_key(frame, columns, key)
    if key is None:
        return frame
    return frame.with_columns(key.tokens(frame[name]) for name in columns if name in frame.columns)
