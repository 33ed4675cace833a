"""Alerts as an operator meets them: a real ``dagster-daemon`` evaluates the alert sensors and
sends one message per failed run and per failed ERROR check to a local webhook and a local SMTP
server; the webhook fails first (the alert is retried, the run is untouched), and neither
another tick nor a restart of the daemon sends anything twice."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform.defs.freshness.checks import expected_partition
from trade_platform.settings import QualityGates, Settings
from trade_platform_tests.alert_servers import smtp_server, webhook
from trade_platform_tests.conftest import TEST_PII_KEY, new_dagster_home, settings_for
from trade_platform_tests.system.conftest import ui_stack
from trade_platform_tests.system.test_daemon_and_webserver import wait_for

pytestmark = pytest.mark.slow
DAY = "2024-03-01"
UI = "http://dagster.test:3000"
ALERT_SENSORS = ("run_failure_alert_sensor", "check_failure_alert_sensor")


def finished_ticks(instance: DagsterInstance) -> dict[str, int]:
    """How many ticks of each alert sensor have finished, raising if one failed."""
    counts = dict.fromkeys(ALERT_SENSORS, 0)
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name in counts:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            failed = [t.error.message for t in ticks if t.status == TickStatus.FAILURE]
            assert not failed, (state.instigator_name, failed)
            counts[state.instigator_name] = sum(t.status != TickStatus.STARTED for t in ticks)
    return counts


def test_the_daemon_alerts_once_per_failed_run_and_error_check_retrying_a_failed_delivery(tmp_path: Path):
    home, landing = new_dagster_home(tmp_path, nux={"enabled": False}), tmp_path / "landing"
    write_day(generate_day(date.fromisoformat(DAY), 300, seed=5), str(landing), corrupt_file=True)
    with (
        webhook(statuses=[500]) as hook,
        smtp_server() as mailbox,
        DagsterInstance.from_config(str(home)) as instance,
    ):
        env = {
            "DAGSTER_HOME": str(home),
            # The daemon's own sensors find nothing to do: an empty landing zone, and partitions
            # that start today, so that no freshness check is due.
            "TRADE_PLATFORM_LANDING_URL": str(tmp_path / "daemon_landing"),
            "TRADE_PLATFORM_LAKE_URL": str(tmp_path / "daemon_lake"),
            "TRADE_PLATFORM_START_DATE": datetime.now(UTC).date().isoformat(),
            "TRADE_PLATFORM_PII_KEY": TEST_PII_KEY.secret.decode(),
            "TRADE_PLATFORM_ALERT_WEBHOOK_URL": hook.url,
            "TRADE_PLATFORM_ALERT_SMTP_URL": f"smtp://alerts:s3cret-pass@127.0.0.1:{mailbox.port}",
            "TRADE_PLATFORM_ALERT_EMAIL_TO": "ops@example.com",
            "TRADE_PLATFORM_UI_URL": UI,
        }
        with ui_stack.running_daemon(env, tmp_path / "daemon.log"):
            wait_for("the alert sensors' first ticks", lambda: all(finished_ticks(instance).values()))
            # Runs of this process on the daemon's instance: a run that succeeds with failed
            # ERROR checks (a DLQ rate above a gate of 0, a corrupt landing file, stale assets),
            # and a run that fails (no PII key for the trades' account ids).
            job = "trades_daily_job"
            gates = QualityGates(dlq_warn_rate=0.0, dlq_error_rate=0.0)
            checked = build_defs(settings_for(landing, tmp_path / "lake", gates=gates)).resolve_job_def(job)
            assert checked.execute_in_process(partition_key=DAY, instance=instance).success
            failing = build_defs(settings_for(landing, tmp_path / "lake2", pii_key=None)).resolve_job_def(job)
            run = failing.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
            assert not run.success
            wait_for("6 alerts", lambda: len(hook.accepted) >= 6, log=tmp_path / "daemon.log")
            wait_for("6 emails", lambda: len(mailbox.messages) >= 6, log=tmp_path / "daemon.log")
            # The cursor is stored when a tick ends: the daemon goes on ticking (and sends nothing
            # again) before it is stopped, so that no tick is cut short.
            ticks = finished_ticks(instance)
            wait_for("another tick", lambda: all(n > ticks[s] for s, n in finished_ticks(instance).items()))
        ticks = finished_ticks(instance)
        with ui_stack.running_daemon(env, tmp_path / "daemon-restarted.log"):
            wait_for(
                "a tick after the restart",
                lambda: all(n > ticks[s] for s, n in finished_ticks(instance).items()),
            )
            time.sleep(1)  # a message sent twice would arrive now
    headlines = sorted(text.splitlines()[0] for text in hook.texts())
    due, _ = expected_partition(datetime.now(UTC), Settings().freshness_deadline)
    assert len(hook.posts) == 7  # the first was answered 500 and sent again
    assert headlines == sorted(
        [
            f"[trade-platform] Run failed: job trades_daily_job, run {run.run_id}, partition {DAY}",
            f"[trade-platform] DLQ rate above its error gate: trades_dlq check dlq_rate (ERROR), partition {DAY}",
            f"[trade-platform] Check failed: raw_trades check landing_completeness (ERROR), partition {DAY}",
            *(
                f"[trade-platform] Freshness violation: {asset} check freshness (ERROR), partition {due}"
                for asset in ("daily_volume", "ohlcv", "validated_trades")
            ),
        ]
    )
    assert sorted(message["Subject"] for _, message in mailbox.messages) == headlines
    assert mailbox.logins == [("alerts", "s3cret-pass")] * 6
    [failed] = [text for text in hook.texts() if "Run failed" in text]
    assert failed.endswith(f"UI: {UI}/runs/{run.run_id}")
    log = (tmp_path / "daemon.log").read_text()
    assert "failed (attempt 1 of 3: HTTPError: HTTP Error 500" in log, log[-3000:]
    assert "s3cret-pass" not in log and "/hook/secret-token" not in log
