"""The alert sensors over a real instance and a real local webhook: one message per failed run
and per failed ERROR check evaluation (freshness and DLQ rate named as such), each naming its
partition and linking to the UI, and none twice."""

from __future__ import annotations

import re
import socket
from datetime import UTC, date, datetime

import pytest
from dagster import DagsterInstance, SensorDefinition, build_sensor_context

from trade_platform.core.alerts.targets import AlertTargets
from trade_platform.core.generate import generate_day, write_day
from trade_platform.definitions import build_defs
from trade_platform.defs.alerts import sensors as sensors_module
from trade_platform.defs.alerts.evaluations import Cursor
from trade_platform.defs.alerts.messages import CHECK_KINDS
from trade_platform.defs.freshness.checks import expected_partition
from trade_platform.settings import QualityGates, Settings
from trade_platform_tests.alert_servers import webhook
from trade_platform_tests.conftest import settings_for
from trade_platform_tests.defs.test_public_names import CHECKS, SENSORS

DAY = "2024-03-01"
UI = "http://ui.test:3000"
ALERT_SENSORS = ["check_failure_alert_sensor", "run_failure_alert_sensor"]


class Sensors:
    """The alert sensors, each ticking with the cursor its previous tick left (as the daemon does)."""

    def __init__(self, defs, instance: DagsterInstance):
        self.repository, self.instance = defs.get_repository_def(), instance
        self.cursors: dict[str, str | None] = dict.fromkeys(ALERT_SENSORS)

    def tick(self) -> None:
        for name in ALERT_SENSORS:
            sensor: SensorDefinition = self.repository.get_sensor_def(name)
            context = build_sensor_context(
                self.instance, cursor=self.cursors[name], repository_def=self.repository
            )
            self.cursors[name] = sensor.evaluate_tick(context).cursor


@pytest.fixture
def landing(tmp_path):
    write_day(
        generate_day(date.fromisoformat(DAY), 300, seed=5), str(tmp_path / "landing"), corrupt_file=True
    )
    return tmp_path / "landing"


def test_alert_sensors_exist_only_when_a_target_is_set_and_name_real_checks():
    assert sorted(s.name for s in build_defs(Settings()).get_repository_def().sensor_defs) == SENSORS
    targets = AlertTargets(webhook_url="https://hooks.example/x")
    sensors = build_defs(Settings(alerts=targets)).get_repository_def().sensor_defs
    assert sorted(s.name for s in sensors) == sorted(SENSORS + ALERT_SENSORS)
    assert all(s.default_status.value == "RUNNING" for s in sensors if s.name in ALERT_SENSORS)
    assert set(CHECK_KINDS) <= {check.split(":")[1] for check in CHECKS}


@pytest.mark.parametrize("error_rate", [0.0, 1.0])
def test_each_failed_error_check_is_alerted_once_naming_its_kind_partition_and_page(
    tmp_path, landing, instance, error_rate: float
):
    # The corrupt file's records make a DLQ rate of 1%: an error above 0, only a warning below 100%.
    gates = QualityGates(dlq_warn_rate=0.0, dlq_error_rate=error_rate)
    with webhook() as hook:
        targets = AlertTargets(webhook_url=hook.url, ui_url=UI)
        defs = build_defs(settings_for(landing, tmp_path / "lake", alerts=targets, gates=gates))
        sensors = Sensors(defs, instance)
        sensors.tick()  # the first tick starts from now
        result = defs.resolve_job_def("trades_daily_job").execute_in_process(
            partition_key=DAY, instance=instance
        )
        sensors.tick()
        sensors.tick()
    headlines = sorted(text.splitlines()[0] for text in hook.texts())
    due, _ = expected_partition(datetime.now(UTC), Settings().freshness_deadline)
    dlq_alert = (
        f"[trade-platform] DLQ rate above its error gate: trades_dlq check dlq_rate (ERROR), partition {DAY}"
    )
    assert headlines == sorted(
        [
            f"[trade-platform] Check failed: raw_trades check landing_completeness (ERROR), partition {DAY}",
            *([dlq_alert] if error_rate == 0.0 else []),
            *(
                f"[trade-platform] Freshness violation: {asset} check freshness (ERROR), partition {due}"
                for asset in ("daily_volume", "ohlcv", "validated_trades")
            ),
        ]
    )
    if error_rate == 1.0:
        return
    [dlq] = [text for text in hook.texts() if "dlq_rate" in text.splitlines()[0]]
    assert "DLQ rate 1.00% (3 of 300 records, 1 unreadable files)" in dlq
    assert f"run: {UI}/runs/{result.run_id}" in dlq
    assert dlq.endswith(f"UI: {UI}/assets/trades_dlq?view=checks&checkDetail=dlq_rate")


def test_a_failed_run_is_alerted_once_naming_its_failed_step(tmp_path, landing, instance):
    with webhook() as hook:
        targets = AlertTargets(webhook_url=hook.url, ui_url=UI)
        # No PII key: the trades carry account ids, so ingest fails (and no check runs).
        settings = settings_for(landing, tmp_path / "lake", alerts=targets, pii_key=None)
        defs = build_defs(settings)
        sensors = Sensors(defs, instance)
        sensors.tick()
        job = defs.resolve_job_def("trades_daily_job")
        result = job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
        assert not result.success
        sensors.tick()
        sensors.tick()
    [text] = hook.texts()
    lines = text.splitlines()
    assert (
        lines[0] == f"[trade-platform] Run failed: job trades_daily_job, run {result.run_id}, partition {DAY}"
    )
    assert any(line.startswith("step ingest_trades: ") and "no PII key" in line for line in lines)
    assert lines[-1] == f"UI: {UI}/runs/{result.run_id}"


def test_a_tick_out_of_time_stops_inside_a_run_and_the_next_goes_on_without_repeating(
    tmp_path, landing, instance, monkeypatch
):
    monkeypatch.setattr(sensors_module, "TICK_BUDGET_SECONDS", -1.0)  # every tick stops after one alert
    with webhook() as hook:
        targets = AlertTargets(webhook_url=hook.url, ui_url=UI)
        defs = build_defs(settings_for(landing, tmp_path / "lake", alerts=targets))
        sensors = Sensors(defs, instance)
        sensors.tick()
        start = Cursor.parse(sensors.cursors["check_failure_alert_sensor"])
        defs.resolve_job_def("trades_daily_job").execute_in_process(partition_key=DAY, instance=instance)
        progress = []
        for _ in range(6):
            sensors.tick()
            progress.append(Cursor.parse(sensors.cursors["check_failure_alert_sensor"]))
    # landing_completeness and three freshness checks fail at ERROR (the DLQ rate only warns).
    assert [(cursor.after, cursor.done) for cursor in progress[:4]] == [
        (start.after, n) for n in (1, 2, 3, 4)
    ]
    assert progress[4].after > start.after and progress[4].done == 0 and progress[5] == progress[4]
    headlines = [text.splitlines()[0] for text in hook.texts()]
    assert len(headlines) == len(set(headlines)) == 4


def test_an_alert_that_could_not_be_delivered_is_not_counted_as_delivered(tmp_path, landing, instance):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    targets = AlertTargets(webhook_url=f"http://127.0.0.1:{closed}/hook", ui_url=UI)
    gates = QualityGates(dlq_warn_rate=0.0, dlq_error_rate=0.0)  # the corrupt file's DLQ rate fails
    defs = build_defs(settings_for(landing, tmp_path / "lake", alerts=targets, gates=gates))
    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def("check_failure_alert_sensor")
    first = sensor.evaluate_tick(build_sensor_context(instance, repository_def=repository))
    defs.resolve_job_def("trades_daily_job").execute_in_process(
        partition_key=DAY, instance=instance, raise_on_error=False
    )
    tick = sensor.evaluate_tick(
        build_sensor_context(instance, cursor=first.cursor, repository_def=repository)
    )
    assert re.fullmatch(r"0 alert\(s\) delivered, [1-9]\d* not delivered \(see the log\)", tick.skip_message)
