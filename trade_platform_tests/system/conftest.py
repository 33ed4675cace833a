"""Shared by the system tests: the scripts that start a real webserver, daemon, scale-out stack and
Kafka broker."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def _script(name: str):
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ui_stack = _script("ui_stack")
screenshot_ui = _script("screenshot_ui")
stack = _script("stack")
kafka_broker = _script("kafka_broker")


@pytest.fixture(scope="session", name="kafka_broker")
def _kafka_broker(tmp_path_factory):
    """A real single-node Kafka broker for the session (the first run on a machine fetches its jars
    with mvn); named apart from the ``kafka_broker`` module above, which it would shadow."""
    broker = kafka_broker.KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()
