"""Delivery of an alert to every target: each attempt that fails is logged and retried with
exponential back-off, and a target that keeps failing is logged, never raised: an alert must
not fail what reports it. Log lines name a target by its host only (``targets.where``)."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

from trade_platform.core.alerts.messages import Alert
from trade_platform.core.alerts.targets import AlertTargets, credentials, where

ATTEMPTS = 3
FIRST_DELAY_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0
SMTP_PORTS = {"smtp": 25, "smtps": 465}


def deliver(
    alert: Alert,
    targets: AlertTargets,
    log: logging.Logger,
    *,
    attempts: int = ATTEMPTS,
    first_delay: float = FIRST_DELAY_SECONDS,
) -> bool:
    """Send ``alert`` to the webhook and the recipients that ``targets`` name; True when every
    target took it. Never raises."""
    sends: list[tuple[str, Callable[[], None], tuple[str, ...]]] = []
    if webhook := targets.webhook_url:
        sends.append((f"webhook {where(webhook)}", lambda: post_webhook(webhook, alert), (webhook,)))
    if (smtp := targets.smtp_url) and targets.email_to:
        secrets = (smtp, *(credentials(smtp) or ())[1:])
        sends.append((f"email via {where(smtp)}", lambda: send_email(smtp, targets.email_to, alert), secrets))
    delivered = True
    for target, send, secrets in sends:
        delivered &= _with_retries(
            send, f"{alert.headline!r} to {target}", secrets, log, attempts, first_delay
        )
    return delivered


def _with_retries(
    send: Callable[[], None],
    what: str,
    secrets: tuple[str, ...],
    log: logging.Logger,
    attempts: int,
    first_delay: float,
) -> bool:
    for attempt in range(1, attempts + 1):
        try:
            send()
        except Exception as exc:  # noqa: BLE001  (any failure of a target is logged, none raised)
            error = _masked(f"{type(exc).__name__}: {exc}", secrets)
            if attempt == attempts:
                log.error("alert %s not delivered after %d attempts: %s", what, attempts, error)
                return False
            delay = first_delay * 2 ** (attempt - 1)
            log.warning(
                "alert %s failed (attempt %d of %d: %s); retrying in %.1f s",
                what,
                attempt,
                attempts,
                error,
                delay,
            )
            time.sleep(delay)
        else:
            log.info("alert %s delivered", what)
            return True
    return False


def post_webhook(url: str, alert: Alert) -> None:
    """POST the alert's JSON; any status but 2xx raises (``urllib`` raises for 4xx and 5xx)."""
    request = urllib.request.Request(
        url, data=alert.webhook_json(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (http(s) only: settings)
        if not 200 <= response.status < 300:
            raise OSError(f"the webhook answered {response.status}")


def send_email(url: str, recipients: tuple[str, ...], alert: Alert) -> None:
    """Send the alert as an email through the SMTP server of ``url``: TLS from the start for
    ``smtps://``, STARTTLS when an ``smtp://`` server offers it, and a login when the URL has a user."""
    parts, login = urlsplit(url), credentials(url)
    port = parts.port or SMTP_PORTS[parts.scheme]
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            parts.hostname, port, timeout=TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(parts.hostname, port, timeout=TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if parts.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if login:
            client.login(*login)
        sender = login[0] if login and "@" in login[0] else f"trade-platform@{socket.gethostname()}"
        client.send_message(alert.email(sender, recipients))


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
