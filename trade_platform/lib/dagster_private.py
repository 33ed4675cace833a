"""Every name this project takes from Dagster's private modules, in one place.

Dagster is pinned (the 1.13.27 family), and these names have no public equivalent in it; each is
used for the reason given. On a Dagster upgrade, run ``trade_platform_tests/test_dagster_private.py``
first: it imports every name below from where it is listed, so a moved or renamed one fails there,
naming it, rather than deep inside a run. Then re-read the uses named here (CONTRIBUTING.md,
"Upgrading Dagster"). No other module imports ``dagster._...`` (the same test checks that).

- ``AssetCheckEvaluationTargetMaterializationData``: one evaluation per partition of a range run
  names the materialization it judged (``lib/partitioned_checks.py``); AssetCheckResult
  cannot, so the evaluation is built whole.
- ``COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES``: has the freshness check finished an
  evaluation since the deadline (``defs/freshness/sensors.py``).
- ``is_reserved_asset_job_name``: lineage names a run of Dagster's hidden asset job after what it
  ran (``defs/lineage/events.py``).
- ``PartitionBackfill``, ``make_new_backfill_id``, ``BulkActionStatus``,
  ``BULK_ACTION_TERMINAL_STATUSES``: ``trade-platform backfill`` submits and awaits a multi-run
  backfill as the UI would (``lib/scaleout/backfills.py``, ``cli/backfill.py``); the landing
  sensor leaves the days of unfinished backfills to them (``defs/ingest/sensors.py``).
- ``CheckRunHealthResult``, ``WorkerStatus``: the launcher interface's own result types, for the
  worker-aware run launcher (``lib/scaleout/launcher.py``).
- ``SqlEventLogStorage`` and its tables: retention wipes deleted partitions from the event log's
  asset index (``lib/partition_history.py``), because ``DagsterInstance.
  wipe_asset_partitions`` raises NotImplementedError on the open-source SQL event logs in 1.13.
- ``SqliteEventLogStorage``, ``SqliteRunStorage``, ``SqlPollingEventWatcher``,
  ``INDEX_SHARD_NAME``, ``SQLITE_BUSY_TIMEOUT_SECONDS``: the embedded instance's storages keep
  their connections instead of opening each through a new engine (``lib/sqlite_storage.py``);
  Dagster's SQLite storages are public only as names in ``dagster.yaml``.
- ``unpack_value``: which run a Celery task executes (``lib/scaleout/celery_app.py``).
- ``WorkspaceProcessContext``, ``WorkspaceFileTarget``, ``JobSubsetSelector``, ``execute_run``,
  ``recon_job_from_origin``: the demo creates its runs from the code location that
  ``workspace.yaml`` loads, as ``dagster job launch`` and the UI do (so the UI finds their job,
  origin and snapshot), and executes them in its own process (``lib/workspace_runs.py``).
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.assets.job.asset_job import is_reserved_asset_job_name
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.execution.api import execute_run
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionStatus,
    PartitionBackfill,
)
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)
from dagster._core.storage.event_log.polling_event_watcher import SqlPollingEventWatcher
from dagster._core.storage.event_log.schema import (
    AssetEventTagsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._serdes import unpack_value
from dagster._utils.hosted_user_process import recon_job_from_origin

__all__ = [
    "BULK_ACTION_TERMINAL_STATUSES",
    "COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES",
    "INDEX_SHARD_NAME",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetEventTagsTable",
    "AssetKeyTable",
    "BulkActionStatus",
    "CheckRunHealthResult",
    "JobSubsetSelector",
    "PartitionBackfill",
    "SqlEventLogStorage",
    "SqlEventLogStorageTable",
    "SqliteEventLogStorage",
    "SqlPollingEventWatcher",
    "SqliteRunStorage",
    "WorkerStatus",
    "WorkspaceFileTarget",
    "WorkspaceProcessContext",
    "execute_run",
    "is_reserved_asset_job_name",
    "make_new_backfill_id",
    "recon_job_from_origin",
    "unpack_value",
]
