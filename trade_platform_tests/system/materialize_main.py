"""``python -m trade_platform_tests.system.materialize_main LANDING LAKE DAY [LAST_DAY]``: one
partition (or the range DAY..LAST_DAY in one run), every asset and check, on the instance in
DAGSTER_HOME, with the settings of the environment but for the landing zone, lake, key and dbt
models. Tests run it as a process they can kill. Prints the process's own peak RSS in MiB as its
last line."""

from __future__ import annotations

import sys
from dataclasses import replace

from dagster import DagsterInstance

from benchmarks.common import peak_rss_mib
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings
from trade_platform_tests.conftest import TEST_PII_KEY


def main(landing: str, lake: str, day: str, last: str | None = None) -> int:
    # No dbt model (as ``conftest.settings_for``): these runs are about the platform's own writes.
    settings = replace(
        Settings.from_env(), landing_url=landing, lake_url=lake, pii_key=TEST_PII_KEY, dbt_models=()
    )
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    days = (
        {"tags": {"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": last}}
        if last
        else {"partition_key": day}
    )
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, **days)
    print(peak_rss_mib())
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
