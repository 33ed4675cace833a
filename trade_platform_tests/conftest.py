"""Shared fixtures: temporary landing zone and lake on real disk, a real Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from trade_platform.definitions import ALL_CHECKS, ASSETS
from trade_platform.resources import local_resources

DAY = "2026-11-20"


@dataclass
class Platform:
    """A landing zone, a lake and a Dagster instance under one temporary folder."""

    landing: Path
    lake: Path
    instance: DagsterInstance

    def definitions(self) -> Definitions:
        return Definitions(
            assets=ASSETS,
            asset_checks=ALL_CHECKS,
            resources=local_resources(str(self.landing), str(self.lake)),
        )

    def materialize(
        self, partition: str = DAY, *, until: str | None = None, raise_on_error: bool = True
    ) -> ExecuteInProcessResult:
        """Run every asset and check for one partition, or for ``partition..until`` in one run."""
        job = self.definitions().resolve_implicit_global_asset_job_def()
        if until is None:
            return job.execute_in_process(
                partition_key=partition, instance=self.instance, raise_on_error=raise_on_error
            )
        tags = {"dagster/asset_partition_range_start": partition, "dagster/asset_partition_range_end": until}
        return job.execute_in_process(tags=tags, instance=self.instance, raise_on_error=raise_on_error)

    def day_dir(self, day: str = DAY) -> Path:
        path = self.landing / "trades" / f"date={day}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def partition_file(self, asset: str, day: str = DAY) -> Path:
        return self.lake / asset / f"date={day}" / "part-0.parquet"

    def read(self, asset: str, day: str = DAY) -> pl.DataFrame:
        return pl.read_parquet(self.partition_file(asset, day))


@pytest.fixture
def dagster_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = previous


@pytest.fixture
def platform(tmp_path: Path, dagster_home: Path) -> Iterator[Platform]:
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        yield Platform(landing=tmp_path / "landing", lake=tmp_path / "lake", instance=instance)
