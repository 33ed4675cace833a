"""Where alerts go: a webhook, an SMTP server and its recipients, and the UI the messages link to.

A webhook URL is a secret (Slack's carries its token in the path) and an SMTP URL may carry a
password: neither is ever shown, in an error or a log line; ``where`` names only the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit

from trade_platform.core.storage import without_credentials

DEFAULT_UI_URL = "http://127.0.0.1:3000"
_HOST_PORT = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_ADDRESS = re.compile(r"[^@\s,<>\"()\[\];:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AlertTargets:
    webhook_url: str | None = field(default=None, repr=False)
    """POSTed ``{"text": ...}`` JSON (a Slack incoming webhook, or anything that takes JSON)."""
    smtp_url: str | None = field(default=None, repr=False)
    """``smtp://[user:password@]host[:port]`` (STARTTLS when offered) or ``smtps://``."""
    email_to: tuple[str, ...] = ()
    ui_url: str = DEFAULT_UI_URL
    """The Dagster UI the messages link to."""

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or self.smtp_url)

    @classmethod
    def configured(cls, given: Mapping[str, str]) -> AlertTargets:
        """The targets of ``{webhook, SMTP, recipients, UI variable: its text}`` (blank: not set);
        an SMTP URL without recipients, or recipients without one, is an error naming both."""
        (webhook_name, webhook), (smtp_name, smtp), (to_name, to), (ui_name, ui) = given.items()
        if bool(smtp) != bool(to):
            raise ValueError(f"set {smtp_name} and {to_name} together (email needs a server and recipients)")
        parsed = {}
        for name, text, parse in (
            (webhook_name, webhook, webhook_url),
            (smtp_name, smtp, smtp_url),
            (to_name, to, addresses),
            (ui_name, ui, ui_url),
        ):
            try:
                parsed[name] = parse(text) if text else None
            except ValueError as exc:
                raise ValueError(f"{name}: {without_credentials(str(exc))}") from None
        return cls(
            webhook_url=parsed[webhook_name],
            smtp_url=parsed[smtp_name],
            email_to=parsed[to_name] or (),
            ui_url=parsed[ui_name] or DEFAULT_UI_URL,
        )


def webhook_url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host; never shown (it may hold a token)."""
    if _url(text, ("http", "https")) is None:
        raise ValueError("must be an http:// or https:// URL (the value is not shown: it may hold a token)")
    return text


def smtp_url(text: str) -> str:
    """``smtp://`` or ``smtps://``, optional ``user:password@``, a host, an optional port and no
    path; never shown (it may hold a password)."""
    url = _url(text, ("smtp", "smtps"))
    if url is None or url.path not in ("", "/") or url.query or url.fragment:
        raise ValueError(
            "must be a URL like smtp://user:password@host:587 or smtps://host:465 "
            "(the value is not shown: it may hold a password)"
        )
    return text


def ui_url(text: str) -> str:
    """The UI's ``http(s)://`` base URL, without a trailing ``/``."""
    if _url(text, ("http", "https")) is None:
        raise ValueError(f"must be an http:// or https:// URL like {DEFAULT_UI_URL}, got {text!r}")
    return text.rstrip("/")


def addresses(text: str) -> tuple[str, ...]:
    """Comma-separated email addresses (``ops@example.com,oncall@example.com``), at least one."""
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    if not found or not all(_ADDRESS.fullmatch(address) for address in found):
        raise ValueError(f"must be comma-separated email addresses like ops@example.com, got {text!r}")
    return found


def _url(text: str, schemes: tuple[str, ...]) -> SplitResult | None:
    """``text`` split, if it is a URL of one of ``schemes`` with a host and a valid port."""
    if _UNSAFE.search(text):
        return None
    try:
        url = urlsplit(text)
        url.port  # noqa: B018  (raises for a port out of range)
    except ValueError:
        return None
    ok = (
        url.scheme in schemes
        and url.hostname
        and url.port != 0
        and _HOST_PORT.fullmatch(url.netloc.rpartition("@")[2])
    )
    return url if ok else None


def where(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what a log line may say about a target."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def credentials(url: str) -> tuple[str, str] | None:
    """The URL's ``(user, password)``, percent-decoded, or None."""
    parts = urlsplit(url)
    return (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
