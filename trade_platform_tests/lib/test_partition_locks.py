"""``holding_days`` on a real SQLite Dagster instance (file locks under ``$DAGSTER_HOME/locks``):
holders of a day take turns, holders of different days do not wait, and a lock ends with its
holder, whether it leaves by an exception or is killed."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from trade_platform.lib import partition_locks
from trade_platform.lib.partition_locks import HOLDING, holding_days

DAY, NEXT_DAY = "2026-11-20", "2026-11-21"
WAIT = 5.0
"""Seconds a test waits for what must happen; what must not happen is given ``BRIEFLY``."""
BRIEFLY = 0.5


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(partition_locks, "POLL_SECONDS", 0.02)  # a waiting holder retries often


class Holder:
    """A step in a thread that holds ``days`` until released, with its own context and log."""

    def __init__(self, instance: dg.DagsterInstance, days: list[str]):
        self.context = dg.build_asset_context(instance=instance)
        self.messages: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: self.messages.append(record.getMessage())
        self.context.log.addHandler(handler)
        self.held, self.release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(days,), daemon=True)
        self._thread.start()

    def _hold(self, days: list[str]) -> None:
        with holding_days(self.context, days):
            self.held.set()
            self.release.wait(WAIT)

    def done(self) -> None:
        self.release.set()
        self._thread.join(WAIT)


def test_two_holders_of_the_same_day_take_turns(instance):
    first = Holder(instance, [DAY])
    assert first.held.wait(WAIT)
    second = Holder(instance, [DAY])
    assert not second.held.wait(BRIEFLY)
    assert any(f"waiting for {DAY}: another run is writing it" in m for m in second.messages)
    first.done()
    assert second.held.wait(WAIT)
    second.done()


def test_holders_of_different_days_do_not_wait_for_each_other(instance):
    first = Holder(instance, [DAY])
    assert first.held.wait(WAIT)
    second = Holder(instance, [NEXT_DAY])
    assert second.held.wait(WAIT)
    assert not any("waiting" in m for m in second.messages)
    first.done()
    second.done()


def test_days_are_taken_in_order_so_a_waiting_holder_holds_no_later_day(instance):
    """The second holder asks for the next day first, yet waits for the first day holding
    nothing: two runs over overlapping ranges cannot deadlock."""
    first = Holder(instance, [DAY])
    assert first.held.wait(WAIT)
    second = Holder(instance, [NEXT_DAY, DAY])
    assert not second.held.wait(BRIEFLY)
    third = Holder(instance, [NEXT_DAY])
    assert third.held.wait(WAIT)
    third.done()
    first.done()
    assert second.held.wait(WAIT)
    assert f"{HOLDING} {DAY}, {NEXT_DAY}" in second.messages[-1]
    second.done()


def test_a_day_is_released_when_its_holder_raises(instance):
    context = dg.build_asset_context(instance=instance)
    with pytest.raises(RuntimeError, match="the write failed"), holding_days(context, [DAY]):
        raise RuntimeError("the write failed")
    holder = Holder(instance, [DAY])
    assert holder.held.wait(BRIEFLY)
    holder.done()


HOLD_IN_A_PROCESS = """
import sys, time
import dagster as dg
from trade_platform.lib.partition_locks import holding_days

with dg.DagsterInstance.get() as instance:
    with holding_days(dg.build_asset_context(instance=instance), [sys.argv[1]]):
        print("held", flush=True)
        time.sleep(60)
"""


def test_a_killed_holder_leaves_its_day_free_and_the_lock_file_in_dagster_home(instance, dagster_home: Path):
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_A_PROCESS, DAY], stdout=subprocess.PIPE, text=True, env=environment
    )
    try:
        assert process.stdout.readline().strip() == "held"
        assert (dagster_home / "locks" / f"{DAY}.lock").exists()
        waiting = Holder(instance, [DAY])
        assert not waiting.held.wait(BRIEFLY)
        process.send_signal(signal.SIGKILL)  # no exit handler runs: the kernel drops the lock
        assert waiting.held.wait(WAIT)
        waiting.done()
    finally:
        process.kill()
        process.wait()
