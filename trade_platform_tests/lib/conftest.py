"""A lake on disk and ``dg.materialize`` with the platform's real resources, on the test's instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from trade_platform.lib.resources import platform_resources
from trade_platform_tests.conftest import settings_for

DEFAULT_PARTITION = "2026-11-20"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def materialize(tmp_path: Path, lake: Path, instance: dg.DagsterInstance):
    """Run assets (and checks) for one partition, or for a range given by ``tags``."""
    resources = platform_resources(settings_for(tmp_path / "landing", lake))

    def run(assets: list, partition: str | None = DEFAULT_PARTITION, **kwargs) -> dg.ExecuteInProcessResult:
        key = None if kwargs.get("tags") else partition
        return dg.materialize(assets, resources=resources, instance=instance, partition_key=key, **kwargs)

    return run
