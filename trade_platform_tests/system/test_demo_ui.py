"""After ``trade-platform demo``, the UI tells the truth: read over GraphQL from a real
``dagster-webserver`` started, as ``make ui`` is, in the folder where the demo ran."""

from datetime import UTC, date, datetime, timedelta

import pytest
from dagster_graphql import DagsterGraphQLClient

from trade_platform_tests.system.conftest import ui_stack

pytestmark = pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning")
DAYS = 2
JOB = "trades_daily_job"
ASSETS = ("raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's days (ending yesterday, its default) and a client of the UI serving them."""
    workdir = tmp_path_factory.mktemp("demo-ui")
    env = ui_stack.demo_instance(workdir, days=DAYS, trades=300)
    yesterday = date.today() - timedelta(days=1)  # the demo's default end
    days = [yesterday - timedelta(days=offset) for offset in reversed(range(DAYS))]
    with ui_stack.running_webserver(env, workdir / "webserver.log", cwd=workdir) as url:
        yield days, DagsterGraphQLClient("127.0.0.1", port_number=int(url.rsplit(":", 1)[1]), timeout=60)


def query(client: DagsterGraphQLClient, text: str, **variables) -> dict:
    return client._execute(text, variables)  # the client's GraphQL transport, as its public calls use it


RUNS = """
{
  runsOrError {
    ... on Runs {
      results {
        runId pipelineName status pipelineSnapshotId
        repositoryOrigin { repositoryLocationName repositoryName }
        tags { key value }
      }
    }
  }
  pipelineOrError(params: {
    pipelineName: "trades_daily_job", repositoryName: "__repository__", repositoryLocationName: "trade_platform"
  }) {
    ... on Pipeline { pipelineSnapshotId runs { runId } }
  }
}
"""

PARTITIONS = """
query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      partitionKeys
      partitionStats { numMaterialized numPartitions numFailed }
    }
  }
}
"""


def test_the_demo_runs_are_runs_of_trades_daily_job_from_the_code_location_one_per_day(demo):
    days, client = demo
    answer = query(client, RUNS)
    runs = answer["runsOrError"]["results"]
    assert sorted(dict((t["key"], t["value"]) for t in run["tags"])["dagster/partition"] for run in runs) == [
        day.isoformat() for day in days
    ]
    job = answer["pipelineOrError"]
    for run in runs:
        # The runs page's Target, the Overview timeline (by code location) and a Re-execute
        # without "may be a different version" (same origin and the job's current snapshot).
        assert run["status"] == "SUCCESS" and run["pipelineName"] == JOB, run
        assert run["repositoryOrigin"] == {
            "repositoryLocationName": "trade_platform",
            "repositoryName": "__repository__",
        }, run
        assert run["pipelineSnapshotId"] == job["pipelineSnapshotId"], run
    assert {run["runId"] for run in job["runs"]} == {run["runId"] for run in runs}  # the job's history


@pytest.mark.parametrize("asset", ASSETS)
def test_the_partitions_start_at_the_demo_first_day_and_only_the_open_day_is_missing(demo, asset):
    days, client = demo
    node = query(client, PARTITIONS, path=[asset])["assetNodeOrError"]
    today = days[-1] + timedelta(days=1)  # the open day, a partition too (docs/ui.md)
    assert node["partitionKeys"] == [day.isoformat() for day in [*days, today]]
    assert node["partitionStats"] == {"numMaterialized": DAYS, "numPartitions": DAYS + 1, "numFailed": 0}


def test_latest_in_the_materialize_dialog_is_the_open_day(demo):
    """The dialog's "Latest" takes the last partition key (Dagster 1.13's UI), which is today's
    open day while ``end_offset=1`` keeps it a partition; docs/ui.md says so."""
    days, client = demo
    keys = query(client, PARTITIONS, path=["validated_trades"])["assetNodeOrError"]["partitionKeys"]
    assert date.fromisoformat(keys[-1]) == datetime.now(UTC).date()
    assert keys[-2] == days[-1].isoformat()  # the demo's last day, the last closed one
