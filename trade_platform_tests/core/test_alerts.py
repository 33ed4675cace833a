"""Alerts reach a real local webhook and a real local SMTP server; a target that fails is retried
and logged, never raised, and its secrets never appear in a log line."""

from __future__ import annotations

import json
import logging

import pytest

from trade_platform.core.alerts.delivery import deliver
from trade_platform.core.alerts.messages import DLQ_RATE_ABOVE_ERROR_GATE, Alert
from trade_platform.core.alerts.targets import AlertTargets
from trade_platform_tests.alert_servers import smtp_server, unused_port, webhook

LOG = logging.getLogger("trade_platform_tests.alerts")
ALERT = Alert(
    kind=DLQ_RATE_ABOVE_ERROR_GATE,
    subject="trades_dlq check dlq_rate (ERROR)",
    partition="2024-03-01",
    link="http://ui.example:3000/assets/trades_dlq?view=checks&checkDetail=dlq_rate",
    details=("DLQ rate 31.00% (310 of 1000 records); warn above 5.00%, error above 20.00%", "dlq_rate: 0.31"),
)


def test_an_alert_is_posted_as_slack_compatible_json_naming_the_kind_partition_and_ui_page():
    with webhook() as hook:
        assert deliver(ALERT, AlertTargets(webhook_url=hook.url), LOG)
    [text] = hook.texts()
    assert text.splitlines()[0] == (
        "[trade-platform] DLQ rate above its error gate: trades_dlq check dlq_rate (ERROR), partition 2024-03-01"
    )
    assert "DLQ rate 31.00% (310 of 1000 records)" in text
    assert text.endswith("\nUI: http://ui.example:3000/assets/trades_dlq?view=checks&checkDetail=dlq_rate")


def test_slack_markup_in_a_detail_is_escaped_and_the_link_is_not():
    alert = Alert("Run failed", "job x, run 1", None, "http://ui/runs/1?a=1&b=2", ("error: <boom> & more",))
    text = json.loads(alert.webhook_json())["text"]
    assert "error: &lt;boom&gt; &amp; more" in text and text.endswith("UI: http://ui/runs/1?a=1&b=2")
    assert "partition (none)" in text
    assert "error: <boom> & more" in alert.text()  # an email is not Slack markup


def test_a_webhook_that_fails_first_gets_the_alert_on_a_retry_and_the_failure_is_logged(caplog):
    caplog.set_level(logging.INFO, LOG.name)
    with webhook(statuses=[500, 503]) as hook:
        assert deliver(ALERT, AlertTargets(webhook_url=hook.url), LOG, first_delay=0.01)
    assert len(hook.posts) == 3 and len(hook.accepted) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "HTTP Error 500" in warnings[0] and "attempt 1 of 3" in warnings[0]
    assert "webhook http://127.0.0.1:" in warnings[0]
    assert "secret-token" not in caplog.text  # the webhook's path is its secret


def test_a_target_that_stays_down_is_logged_and_never_raises(caplog):
    port = unused_port()
    targets = AlertTargets(webhook_url=f"http://127.0.0.1:{port}/hook/secret-token")
    assert not deliver(ALERT, targets, LOG, attempts=2, first_delay=0.01)
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "not delivered after 2 attempts" in error and "secret-token" not in caplog.text


def test_an_alert_is_emailed_through_the_smtp_server_with_the_urls_credentials(caplog):
    caplog.set_level(logging.INFO, LOG.name)
    with smtp_server() as mailbox:
        targets = AlertTargets(
            smtp_url=f"smtp://ops%40example.com:p%40ss-w0rd@127.0.0.1:{mailbox.port}",
            email_to=("oncall@example.com", "desk@example.com"),
        )
        assert deliver(ALERT, targets, LOG)
    assert mailbox.logins == [("ops@example.com", "p@ss-w0rd")]
    [(recipients, message)] = mailbox.messages
    assert recipients == ["oncall@example.com", "desk@example.com"]
    assert message["Subject"] == ALERT.headline and message["From"] == "ops@example.com"
    assert (
        "UI: http://ui.example:3000/assets/trades_dlq?view=checks&checkDetail=dlq_rate"
        in message.get_content()
    )
    assert "p@ss-w0rd" not in caplog.text and "email via smtp://127.0.0.1:" in caplog.text


def test_both_targets_get_the_alert_when_both_are_set():
    with webhook() as hook, smtp_server() as mailbox:
        targets = AlertTargets(
            webhook_url=hook.url, smtp_url=f"smtp://127.0.0.1:{mailbox.port}", email_to=("a@example.com",)
        )
        assert deliver(ALERT, targets, LOG)
    assert len(hook.accepted) == len(mailbox.messages) == 1 and mailbox.logins == []


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ({"webhook": "ftp://hooks.example/secret-token"}, "WEBHOOK: must be an http:// or https:// URL"),
        ({"webhook": "https://hooks.example:99999/secret-token"}, "WEBHOOK: must be an http"),
        ({"smtp": "smtp://u:secret-pass@host/x", "to": "a@b"}, "SMTP: must be a URL like smtp://"),
        ({"smtp": "http://u:secret-pass@host", "to": "a@b"}, "SMTP: must be a URL like smtp://"),
        ({"smtp": "smtps://host:465"}, "set SMTP and TO together"),
        ({"to": "a@b"}, "set SMTP and TO together"),
        ({"smtp": "smtp://host", "to": "a@b, not an address"}, "TO: must be comma-separated email addresses"),
        ({"ui": "127.0.0.1:3000"}, "UI: must be an http:// or https:// URL"),
    ],
)
def test_a_bad_target_fails_naming_its_variable_and_never_showing_a_secret(given: dict, error: str):
    with pytest.raises(ValueError, match=error) as raised:
        AlertTargets.configured(
            {name: given.get(name.lower(), "") for name in ("WEBHOOK", "SMTP", "TO", "UI")}
        )
    assert "secret" not in str(raised.value)


def test_targets_are_off_unless_a_webhook_or_smtp_server_is_set():
    assert not AlertTargets().enabled
    targets = AlertTargets.configured(
        {
            "WEBHOOK": "",
            "SMTP": "smtps://mail.example",
            "TO": " a@example.com ,b@example.com",
            "UI": "https://ui/",
        }
    )
    assert targets.enabled and targets.email_to == ("a@example.com", "b@example.com")
    assert targets.ui_url == "https://ui" and "mail.example" not in repr(targets)
