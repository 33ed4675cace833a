"""``python -m trade_platform_tests.system.materialize_main LANDING LAKE DAY``: one partition, every
asset and check, on the instance in DAGSTER_HOME. Tests run it as a process they can kill.
Prints the process's own peak RSS in MiB as its last line."""

from __future__ import annotations

import sys

from dagster import DagsterInstance

from benchmarks.common import peak_rss_mib
from trade_platform.definitions import build_defs
from trade_platform.settings import Settings


def main(landing: str, lake: str, day: str) -> int:
    job = build_defs(Settings(landing_url=landing, lake_url=lake)).resolve_implicit_global_asset_job_def()
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
    print(peak_rss_mib())
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
