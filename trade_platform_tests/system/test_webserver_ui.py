"""A real ``dagster-webserver`` over a materialized day: its GraphQL API and its asset-check page."""

import os
import shutil

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
def webserver(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ui")
    env = ui_stack.materialized_instance(workdir)
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
