"""A real ``dagster-webserver`` over a materialized day: its GraphQL API and its asset-check page."""

import os
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from dagster_graphql import DagsterGraphQLClient

from trade_platform_tests.system.conftest import screenshot_ui, ui_stack

pytestmark = pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning")
ASSETS = {"raw_trades", "validated_trades", "trades_dlq", "ohlcv", "daily_volume"}
PARTITIONED_CHECKS = {
    "raw_trades": {"record_count", "column_schema"},
    "validated_trades": {"record_count", "reconciliation", "unique_trade_id", "price_range", "column_schema"},
    "trades_dlq": {"dlq_rate"},
    "ohlcv": {"ohlcv_invariants"},
    "daily_volume": {"daily_volume_totals"},
}


DAY = ui_stack.DAY.isoformat()


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ui")
    return workdir, ui_stack.materialized_instance(workdir)


@pytest.fixture(scope="module")
def webserver(materialized):
    workdir, env = materialized
    with ui_stack.running_webserver(env, workdir / "webserver.log") as url:
        yield url, workdir


@pytest.fixture(scope="module")
def client(webserver):
    url, _ = webserver
    host, port = url.removeprefix("http://").split(":")
    return DagsterGraphQLClient(host, port_number=int(port), timeout=60)


def query(client: DagsterGraphQLClient, text: str, **variables) -> dict:
    return client._execute(text, variables)  # the client's GraphQL transport, as its public calls use it


ASSET_NODES = """
{
  assetNodes {
    assetKey { path }
    isPartitioned
    partitionKeys
    partitionDefinition { type }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""

CHECK_EXECUTIONS = """
query ($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition, limit: 5) {
    runId
    status
    partition
    evaluation { success severity description partition metadataEntries { label } }
  }
}
"""


def test_webserver_listens_on_loopback_only(webserver):
    url, _ = webserver
    assert url.startswith("http://127.0.0.1:")


def test_graphql_finds_the_five_assets_their_daily_partitions_and_checks(client):
    nodes = {node["assetKey"]["path"][-1]: node for node in query(client, ASSET_NODES)["assetNodes"]}
    assert set(nodes) == ASSETS
    for name, node in nodes.items():
        assert node["isPartitioned"] and node["partitionDefinition"]["type"] == "TIME_WINDOW", name
        assert node["partitionKeys"][0] == "2024-01-01" and DAY in node["partitionKeys"], name
        checks = {check["name"] for check in node["assetChecksOrError"]["checks"]}
        assert PARTITIONED_CHECKS[name] <= checks, name
    assert {"freshness"} <= {c["name"] for c in nodes["ohlcv"]["assetChecksOrError"]["checks"]}


def test_graphql_returns_the_check_results_of_the_materialized_partition(client):
    for asset, checks in PARTITIONED_CHECKS.items():
        for check in checks:
            executions = query(
                client, CHECK_EXECUTIONS, assetKey={"path": [asset]}, checkName=check, partition=DAY
            )["assetCheckExecutions"]
            assert len(executions) == 1, (asset, check)
            [execution] = executions
            assert execution["partition"] == DAY and execution["evaluation"]["partition"] == DAY
            assert execution["status"] == "SUCCEEDED", (asset, check, execution["evaluation"]["description"])
            assert execution["evaluation"]["metadataEntries"], (asset, check)  # what was measured
    other_day = query(
        client,
        CHECK_EXECUTIONS,
        assetKey={"path": ["validated_trades"]},
        checkName="reconciliation",
        partition="2024-03-02",
    )
    assert other_day["assetCheckExecutions"] == []


def _chromium() -> str:
    if shutil.which("chromium"):
        return shutil.which("chromium")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    return ui_stack.ensure_chromium()


def test_asset_check_page_renders_in_headless_chromium(webserver, tmp_path):
    url, workdir = webserver
    output = tmp_path / "asset_checks.png"
    page = screenshot_ui.capture(
        url, output, chromium=_chromium(), workdir=tmp_path, asset="validated_trades", check="reconciliation"
    )
    assert "view=checks" in page
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert output.stat().st_size > 30_000  # a rendered page, not a blank one


REPOSITORY = """
{
  repositoriesOrError { ... on RepositoryConnection { nodes {
    sensors { name targets { pipelineName } assetSelection { assetSelectionString } }
    schedules { name pipelineName }
    partitionSets { name pipelineName }
  } } }
}
"""

ASSET_FACTS = """
query ($day: String!) {
  assetNodes {
    assetKey { path }
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    tags { key value }
    backfillPolicy { policyType maxPartitionsPerRun description }
    metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name description } } } }
    assetMaterializations(partitions: [$day]) { runId metadataEntries { label } }
  }
}
"""


@pytest.fixture(scope="module")
def asset_facts(client) -> dict[str, dict]:
    nodes = query(client, ASSET_FACTS, day=DAY)["assetNodes"]
    return {node["assetKey"]["path"][-1]: node for node in nodes}


def test_graphql_names_every_sensors_and_schedules_target_as_a_job(client):
    [repository] = query(client, REPOSITORY)["repositoriesOrError"]["nodes"]
    targets = {s["name"]: [t["pipelineName"] for t in s["targets"]] for s in repository["sensors"]}
    targets |= {s["name"]: [s["pipelineName"]] for s in repository["schedules"]}
    assert [s["assetSelection"] for s in repository["sensors"]] == [None] * len(repository["sensors"])
    assert [name for name, jobs in targets.items() if any(j.startswith("__") for j in jobs)] == []
    assert targets["freshness_sensor"] == ["freshness_checks_job"]
    # The checks job is partitioned: the Launchpad offers the days.
    assert {"pipelineName": "trades_checks_job", "name": "trades_checks_job_partition_set"} in repository[
        "partitionSets"
    ]


def test_graphql_describes_every_column_of_every_asset(asset_facts):
    for name, node in asset_facts.items():
        [schema] = [e["schema"] for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
        assert [c["name"] for c in schema["columns"] if not c["description"]] == [], name


def test_graphql_shows_every_assets_owner_and_tags(asset_facts):
    for name, node in asset_facts.items():
        assert node["owners"] == [{"team": "trade-data"}], name
        tags = {t["key"]: t["value"] for t in node["tags"]}
        assert {"layer", "domain", "format", "pii"} <= set(tags), name
    assert {name: _tag(node, "pii") for name, node in asset_facts.items()} == {
        "raw_trades": "true", "validated_trades": "true", "trades_dlq": "true", "ohlcv": "false",
        "daily_volume": "false",
    }  # fmt: skip


def _tag(node: dict, key: str) -> str:
    return next(t["value"] for t in node["tags"] if t["key"] == key)


def test_graphql_shows_one_backfill_policy_for_the_assets_backfilled_together(asset_facts):
    policies = [node["backfillPolicy"] for node in asset_facts.values()]
    assert policies == [policies[0]] * len(ASSETS)
    assert policies[0]["policyType"] == "SINGLE_RUN"


def test_graphql_shows_the_marts_metadata_of_the_materialized_day(asset_facts):
    def labels(asset: str) -> set[str]:
        [materialization] = asset_facts[asset]["assetMaterializations"]
        return {entry["label"] for entry in materialization["metadataEntries"]}

    times = {"first_trade_time", "last_trade_time", "symbols", "symbol_list"}
    assert times | {"candles_1m", "candles_5m", "candles_1h"} <= labels("ohlcv")
    assert times | {"total_notional"} <= labels("daily_volume")


LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_STATUS = "query ($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
PARTITION = """
query ($day: String!) {
  partitionSetOrError(
    repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "trade_platform"}
    partitionSetName: "trades_checks_job_partition_set"
  ) {
    ... on PartitionSet {
      partition(partitionName: $day) {
        runConfigOrError { ... on PartitionRunConfig { yaml } }
        tagsOrError { ... on PartitionTags { results { key value } } }
      }
    }
  }
}
"""


def test_a_launched_trades_checks_job_run_re_checks_a_changed_day_without_materializing_it(
    materialized, client, asset_facts
):
    """Launched as the Launchpad launches the job for a day; the daemon dequeues it. Runs last
    in this module: it changes the stored day."""
    workdir, env = materialized
    stored = Path(env["TRADE_PLATFORM_LAKE_URL"]) / "validated_trades" / f"date={DAY}" / "part-0.parquet"
    trades = pl.read_parquet(stored)
    pl.concat([trades, trades.head(1)]).write_parquet(stored)  # a repeated trade_id
    # What the Launchpad reads when the day is picked: the run config and tags of its partition.
    partition = query(client, PARTITION, day=DAY)["partitionSetOrError"]["partition"]
    assert partition["runConfigOrError"]["yaml"].strip() == "{}"
    tags = partition["tagsOrError"]["results"]
    assert {"key": "dagster/partition", "value": DAY} in tags
    params = {
        "selector": {
            "repositoryLocationName": "trade_platform",
            "repositoryName": "__repository__",
            "jobName": "trades_checks_job",
        },
        "runConfigData": {},
        "executionMetadata": {"tags": tags},
    }
    with ui_stack.running_daemon(env, workdir / "daemon.log"):
        launched = query(client, LAUNCH, params=params)["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 180
        while (status := query(client, RUN_STATUS, runId=run_id)["runOrError"]["status"]) not in (
            "SUCCESS",
            "FAILURE",
            "CANCELED",
        ):
            assert time.monotonic() < deadline, f"run {run_id} still {status}"
            time.sleep(1)
    assert status == "FAILURE"  # the blocking unique_trade_id check failed
    executions = query(
        client,
        CHECK_EXECUTIONS,
        assetKey={"path": ["validated_trades"]},
        checkName="unique_trade_id",
        partition=DAY,
    )["assetCheckExecutions"]
    assert (executions[0]["runId"], executions[0]["status"]) == (run_id, "FAILED")
    assert executions[0]["evaluation"]["partition"] == DAY
    after = query(client, ASSET_FACTS, day=DAY)["assetNodes"]
    for node in after:  # no asset was materialized again
        name = node["assetKey"]["path"][-1]
        assert node["assetMaterializations"] == asset_facts[name]["assetMaterializations"], name
