"""The message of an alert: one headline naming the kind, what failed and the partition, a few
lines of detail, and the link to the UI; as Slack-compatible webhook JSON and as an email."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

RUN_FAILED = "Run failed"
CHECK_FAILED = "Check failed"
FRESHNESS_VIOLATION = "Freshness violation"
DLQ_RATE_ABOVE_ERROR_GATE = "DLQ rate above its error gate"
MAX_DETAIL_CHARS = 500
"""A detail line (an error message, a check's description) is cut here: a message is read, not parsed."""
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


@dataclass(frozen=True)
class Alert:
    kind: str
    """``RUN_FAILED``, ``CHECK_FAILED``, ``FRESHNESS_VIOLATION`` or ``DLQ_RATE_ABOVE_ERROR_GATE``."""
    subject: str
    """What failed: a job and its run, or an asset and its check."""
    partition: str | None
    link: str
    """The page of the UI that shows it."""
    details: Sequence[str] = ()

    @property
    def headline(self) -> str:
        return f"[trade-platform] {self.kind}: {self.subject}, partition {self.partition or '(none)'}"

    def text(self, *, slack: bool = False) -> str:
        """The headline, the details and the link, one per line; for Slack, ``& < >`` outside the
        link are escaped (Slack reads ``<...>`` as markup)."""
        lines = [self.headline, *(_cut(line) for line in self.details)]
        body = "\n".join(lines).translate(_SLACK_ESCAPES) if slack else "\n".join(lines)
        return f"{body}\nUI: {self.link}"

    def webhook_json(self) -> bytes:
        """The body of a Slack incoming webhook's POST: ``{"text": ...}``."""
        return json.dumps({"text": self.text(slack=True)}).encode()

    def email(self, sender: str, recipients: Sequence[str]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = self.headline
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        message.set_content(self.text())
        return message


def _cut(line: str) -> str:
    line = " ".join(line.split())  # one line each, whatever the error's own line breaks
    return line if len(line) <= MAX_DETAIL_CHARS else line[: MAX_DETAIL_CHARS - 1] + "…"
