"""The jobs: every asset of a day (or a range), every check of a day, and the DLQ replay."""

from dagster import (
    AssetSelection,
    PartitionedConfig,
    PartitionsDefinition,
    define_asset_job,
)

from trade_platform.core import names

TRADES_CHECKS_JOB = "trades_checks_job"

trades_daily_job = define_asset_job(
    "trades_daily_job",
    # Every asset below what ingest writes (the marts, the dbt models), with every check on them.
    selection=AssetSelection.assets(*names.INGESTED).downstream(),
    description="One day (or a range of days) of every asset and check.",
)

# Re-validates a partition's landing files with the current rules and any corrections under
# <landing>/corrections/date=D/, then rebuilds everything downstream; idempotent.
replay_dlq_job = define_asset_job(
    "replay_dlq",
    selection=AssetSelection.assets(*names.INGESTED).downstream(),
    description="Replay a partition's DLQ after a rule change or with a corrections file.",
)


def build_trades_checks_job(partitions: PartitionsDefinition):
    """Every check of the assets over a day's stored partitions, without materializing them.

    Dagster 1.13 cannot run a partitioned check alone from the UI ("not yet supported"), and
    a job that selects only checks loses its ``partitions_def`` (it is inferred from the
    selected assets, and there are none). A ``PartitionedConfig`` (no config) gives the job its
    days: the Launchpad offers a partition, and a run's checks read that day from the lake."""
    return define_asset_job(
        TRADES_CHECKS_JOB,
        selection=AssetSelection.checks_for_assets(*names.ALL),
        config=PartitionedConfig(partitions_def=partitions, run_config_for_partition_key_fn=lambda _: {}),
        description="Re-run every check of a day (or a range) on the lake's stored partitions, "
        "e.g. after fixing a file; nothing is materialized.",
    )
