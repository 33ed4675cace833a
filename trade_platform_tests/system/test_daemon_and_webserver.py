"""Sensors and runs as a user meets them: a real ``dagster-daemon`` and ``dagster-webserver`` over
one instance, the landing sensor launching runs, and Terminate pressed through the UI's API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster_graphql import DagsterGraphQLClient

from trade_platform.core.generate import generate_day, write_day
from trade_platform_tests.conftest import TEST_PII_KEY, new_dagster_home
from trade_platform_tests.system.conftest import ui_stack

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning")]
SENSORS = ("landing_sensor", "freshness_sensor", "openlineage_sensor")
SMALL_DAY = "2024-03-01"
# Days big enough that ingest is still reading when Terminate is pressed (seconds, not millis).
TERMINATED_DAY, FORCE_TERMINATED_DAY = "2024-03-02", "2024-03-03"
BIG_DAY_TRADES = 2_000_000
TERMINATE = """
mutation ($runId: String!, $policy: TerminateRunPolicy) {
  terminateRun(runId: $runId, terminatePolicy: $policy) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""


def wait_for(what: str, condition: Callable[[], object], timeout: float = 180.0, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.25)
    raise TimeoutError(
        f"{what} not seen within {timeout}s" + (f":\n{log.read_text()[-3000:]}" if log else "")
    )


class Stack:
    def __init__(self, workdir: Path, env: dict[str, str], instance: DagsterInstance, url: str):
        self.workdir, self.env, self.instance, self.url = workdir, env, instance, url
        self.lake = Path(env["TRADE_PLATFORM_LAKE_URL"])
        host, port = url.removeprefix("http://").split(":")
        self.client = DagsterGraphQLClient(host, port_number=int(port), timeout=60)

    def run_of_day(self, day: str):
        def launched():
            runs = self.instance.get_runs(RunsFilter(tags={"dagster/partition": day}))
            return runs[0] if runs else None

        return wait_for(f"the landing sensor's run of {day}", launched, log=self.workdir / "daemon.log")

    def events(self, run_id: str, event_type: DagsterEventType) -> list:
        return self.instance.get_records_for_run(run_id, of_type=event_type).records

    def finished(self, run_id: str) -> DagsterRunStatus:
        done = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
        return wait_for(
            f"run {run_id} to finish",
            lambda: (run := self.instance.get_run_by_id(run_id)).status in done and run.status,
        )

    def terminate(self, day: str, policy: str) -> str:
        """Press Terminate on the day's run once its ingest step is running; return the run id."""
        run = self.run_of_day(day)
        wait_for(f"ingest of {day} to start", lambda: self.events(run.run_id, DagsterEventType.STEP_START))
        answer = self.client._execute(TERMINATE, {"runId": run.run_id, "policy": policy})["terminateRun"]
        assert answer["__typename"] == "TerminateRunSuccess", answer
        return run.run_id

    def written(self, day: str) -> list[str]:
        return sorted(str(p.relative_to(self.lake)) for p in self.lake.glob(f"*/date={day}/*"))

    def lineage(self) -> list[dict]:
        folder = self.lake / "lineage"
        return [json.loads(line) for path in sorted(folder.glob("events-*.jsonl")) for line in path.open()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stack")
    home, landing, lake = (
        new_dagster_home(workdir, nux={"enabled": False}),
        workdir / "landing",
        workdir / "lake",
    )
    write_day(generate_day(date.fromisoformat(SMALL_DAY), 2_000, seed=7), str(landing))
    for day in (TERMINATED_DAY, FORCE_TERMINATED_DAY):
        write_day(generate_day(date.fromisoformat(day), BIG_DAY_TRADES, seed=8, n_symbols=50), str(landing))
    env = {
        "DAGSTER_HOME": str(home),
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_LAKE_URL": str(lake),
        "TRADE_PLATFORM_PII_KEY": TEST_PII_KEY.secret.decode(),  # the trades carry account ids
        "TRADE_PLATFORM_DBT_MODELS": "all",  # the sensor's run writes the dbt models too
    }
    # The instance's databases exist before the services start, so that they do not race to create them.
    with DagsterInstance.from_config(str(home)) as instance:
        with (
            ui_stack.running_daemon(env, workdir / "daemon.log"),
            ui_stack.running_webserver(env, workdir / "webserver.log") as url,
        ):
            yield Stack(workdir, env, instance, url)


def test_terminate_in_the_ui_stops_the_run_and_writes_nothing(stack: Stack):
    run_id = stack.terminate(TERMINATED_DAY, "SAFE_TERMINATE")
    assert stack.finished(run_id) == DagsterRunStatus.CANCELED
    assert not stack.events(run_id, DagsterEventType.STEP_UP_FOR_RETRY)  # an interrupt is not a fault
    assert not stack.events(run_id, DagsterEventType.ASSET_MATERIALIZATION)
    time.sleep(3)  # a process that went on would write now
    assert stack.written(TERMINATED_DAY) == []


def test_force_termination_in_the_ui_stops_the_run_and_writes_nothing(stack: Stack):
    run_id = stack.terminate(FORCE_TERMINATED_DAY, "MARK_AS_CANCELED_IMMEDIATELY")
    assert stack.finished(run_id) == DagsterRunStatus.CANCELED
    wait_for("the run's step to stop", lambda: stack.events(run_id, DagsterEventType.STEP_FAILURE))
    time.sleep(3)
    assert not stack.events(run_id, DagsterEventType.ASSET_MATERIALIZATION)
    assert stack.written(FORCE_TERMINATED_DAY) == []


def test_the_landing_sensors_run_succeeds_on_the_daemon(stack: Stack):
    run = stack.run_of_day(SMALL_DAY)
    assert stack.finished(run.run_id) == DagsterRunStatus.SUCCESS
    # The platform's five assets and the dbt project's three models (TRADE_PLATFORM_DBT_MODELS=all).
    assert [path.split("/")[0] for path in stack.written(SMALL_DAY)] == [
        "account_daily", "daily_volume", "dlq_daily_summary", "ohlcv", "raw_trades", "symbol_hourly",
        "trades_dlq", "validated_trades",
    ]  # fmt: skip


def test_every_sensor_ticks_on_the_daemon_without_error(stack: Stack):
    def ticks() -> dict[str, list]:
        states = stack.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        found = {
            state.instigator_name: stack.instance.get_ticks(state.instigator_origin_id, state.selector_id)
            for state in states
        }
        done = {name: [t for t in found.get(name, []) if t.status != TickStatus.STARTED] for name in SENSORS}
        return done if all(done.values()) else None

    by_sensor = wait_for("a finished tick of every sensor", ticks, log=stack.workdir / "daemon.log")
    for name, sensor_ticks in by_sensor.items():
        failed = [t.error.message for t in sensor_ticks if t.status == TickStatus.FAILURE]
        assert not failed, (name, failed)
    # Its first tick comes before any run has evaluated the checks: it must launch one.
    [freshness_tick] = [t for t in by_sensor["freshness_sensor"] if t.run_ids]
    [run_id] = freshness_tick.run_ids
    assert stack.finished(run_id) == DagsterRunStatus.SUCCESS
    evaluated = stack.events(run_id, DagsterEventType.ASSET_CHECK_EVALUATION)
    assert {r.event_log_entry.dagster_event.event_specific_data.check_name for r in evaluated} == {
        "freshness"
    }
    assert len(evaluated) == 3


def test_a_cancelled_run_gets_an_abort_lineage_event(stack: Stack):
    cancelled = {
        stack.run_of_day(day).run_id
        for day in (TERMINATED_DAY, FORCE_TERMINATED_DAY)
        if stack.finished(stack.run_of_day(day).run_id) == DagsterRunStatus.CANCELED
    }
    assert len(cancelled) == 2

    def aborts():
        found = {e["run"]["runId"]: e for e in stack.lineage() if e["eventType"] == "ABORT"}
        return found if cancelled <= set(found) else None

    events = wait_for("ABORT events of the cancelled runs", aborts, log=stack.workdir / "daemon.log")
    for run_id in cancelled:
        assert events[run_id]["job"]["name"] == "trades_daily_job"
        assert events[run_id]["outputs"] == []  # nothing was written


@pytest.mark.parametrize("sensor", SENSORS)
def test_every_sensor_previews_without_error(sensor: str, tmp_path: Path, dagster_home: Path):
    landing = tmp_path / "landing"
    write_day(generate_day(date.fromisoformat(SMALL_DAY), 100, seed=3), str(landing))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_LAKE_URL": str(tmp_path / "lake"),
        "TRADE_PLATFORM_PII_KEY": TEST_PII_KEY.secret.decode(),
    }
    command = [str(Path(sys.executable).with_name("dagster")), "sensor", "preview", sensor]
    completed = subprocess.run(
        [*command, "-m", "trade_platform.definitions"], env=env, capture_output=True, text=True, timeout=180
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "Error" not in completed.stdout, output[-3000:]
