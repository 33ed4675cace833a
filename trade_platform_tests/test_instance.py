"""One instance, whatever the shell: run from a checkout, ``dagster``, ``dg`` and ``trade-platform``
use its ``.dagster_home`` (through the ``.env`` that ``make`` writes with
``scripts/project_env.py``) and the development PII key, unless the shell sets its own; a command
that needs an instance and has none says so in one line; and the tests never use the demo's."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
from trade_platform.lib.sqlite_storage import embedded_instance_config

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAY = (date.today() - timedelta(days=1)).isoformat()  # the generator's default --end


def checkout(folder: Path) -> Path:
    """A folder as ``make venv`` leaves a clone: ``.env``, ``.dagster_home/``, the dg project file
    and ``.venv``; the code itself comes from this repository (PYTHONPATH)."""
    folder.mkdir()
    subprocess.run([sys.executable, REPO / "scripts" / "project_env.py", folder], check=True)
    (folder / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    (folder / ".venv").symlink_to(Path(sys.prefix))
    return folder


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``command`` in ``cwd`` from a shell that sets neither DAGSTER_HOME nor a PII key (nor
    dbt models: these runs are about the instance, the models' own tests are elsewhere)."""
    program = [sys.executable, "-m", "trade_platform.cli.main"] if command[0] == "trade-platform" else []
    program = program or [str(BIN / command[0])]
    environment = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO),
        "TRADE_PLATFORM_DBT_MODELS": "none",
        **env,
    }
    return subprocess.run(
        [*program, *command[1:]], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def runs_of(home: Path) -> list[tuple[str, DagsterRunStatus]]:
    with DagsterInstance.from_config(str(home)) as instance:
        return [(run.job_name, run.status) for run in instance.get_runs()]


def test_dagster_dg_and_trade_platform_run_from_a_checkout_use_its_instance_and_development_key(tmp_path):
    clone = checkout(tmp_path / "clone")
    assert (
        run(["trade-platform", "generate", "--days", "1", "--trades-per-day", "300"], clone).returncode == 0
    )
    # The generated trades carry account ids: these runs succeed only with a key, the development one.
    materialize = ["dagster", "asset", "materialize", "-m", "trade_platform.definitions", "--select", "*"]
    done = run([*materialize, "--partition", DAY], clone)
    assert done.returncode == 0, done.stderr[-2000:]
    launched = run(["dg", "launch", "--assets", "*", "--partition", DAY], clone)
    assert launched.returncode == 0, launched.stderr[-2000:]
    assert runs_of(clone / ".dagster_home") == [("__ASSET_JOB", DagsterRunStatus.SUCCESS)] * 2
    with DagsterInstance.from_config(str(clone / ".dagster_home")) as instance:  # the embedded one
        assert type(instance.event_log_storage).__module__ == "trade_platform.lib.sqlite_storage"
    assert not list(clone.glob(".tmp_dagster_home_*"))  # no throwaway instance was made

    lake = clone / "data" / "lake"
    raw = pl.read_parquet(lake / "raw_trades" / f"date={DAY}" / "part-0.parquet")
    validated = pl.read_parquet(lake / "validated_trades" / f"date={DAY}" / "part-0.parquet")
    development_tokens = set(PiiKey(DEVELOPMENT_KEY).tokens(raw["account_id"]).drop_nulls())
    assert validated.height and set(validated["account_id"]) <= development_tokens

    submitted = run(["trade-platform", "backfill", "--from", DAY, "--to", DAY], clone)
    assert submitted.returncode == 0, submitted.stderr
    with DagsterInstance.from_config(str(clone / ".dagster_home")) as instance:
        assert len(instance.get_backfills()) == 1


def test_a_dagster_home_set_in_the_shell_wins_over_the_checkouts(tmp_path):
    clone, elsewhere = checkout(tmp_path / "clone"), tmp_path / "elsewhere"
    elsewhere.mkdir()
    submitted = run(
        ["trade-platform", "backfill", "--from", DAY, "--to", DAY], clone, DAGSTER_HOME=str(elsewhere)
    )
    assert submitted.returncode == 0, submitted.stderr
    for home, backfills in ((elsewhere, 1), (clone / ".dagster_home", 0)):
        with DagsterInstance.from_config(str(home)) as instance:
            assert len(instance.get_backfills()) == backfills


@pytest.mark.parametrize(
    ("dagster_home", "reason"),
    [
        (None, "The environment variable $DAGSTER_HOME is not set"),
        ("relative/home", '$DAGSTER_HOME "relative/home" must be an absolute path'),
        ("/nonexistent/home", '$DAGSTER_HOME "/nonexistent/home" is not a directory or does not exist'),
    ],
)
def test_a_command_that_needs_an_instance_and_has_none_says_so_in_one_line(tmp_path, dagster_home, reason):
    env = {} if dagster_home is None else {"DAGSTER_HOME": dagster_home}
    failed = run(["trade-platform", "backfill", "--from", DAY, "--to", DAY], tmp_path, **env)  # no .env here
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith(f"trade-platform backfill: {reason}: ")
    assert "make venv" in failed.stderr


def test_the_tests_never_use_the_demos_instance(session_dagster_home):
    """``make test`` exports no DAGSTER_HOME, and the session sets its own over any the shell
    had: a command started from the repository (whose .env names .dagster_home) uses it."""
    assert os.environ["DAGSTER_HOME"] == str(session_dagster_home)
    assert not session_dagster_home.is_relative_to(REPO)
    clone = checkout(session_dagster_home.parent / "clone")
    info = subprocess.run(
        [BIN / "dagster", "instance", "info"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"$DAGSTER_HOME: {session_dagster_home}" in info.stdout and str(clone) not in info.stdout


def test_a_checkouts_instance_is_the_embedded_one_its_folders_following_a_moved_clone(tmp_path):
    def project_env(folder: Path) -> dict:
        subprocess.run([sys.executable, REPO / "scripts" / "project_env.py", folder], check=True)
        return yaml.safe_load((folder / ".dagster_home" / "dagster.yaml").read_text())

    clone = checkout(tmp_path / "clone")
    config = clone / ".dagster_home" / "dagster.yaml"
    assert yaml.safe_load(config.read_text()) == embedded_instance_config(clone / ".dagster_home")
    config.write_text(config.read_text() + "nux:\n  enabled: false\n")  # a setting of the user's
    moved = tmp_path / "moved"
    clone.rename(moved)
    assert project_env(moved) == embedded_instance_config(moved / ".dagster_home") | {
        "nux": {"enabled": False}
    }

    config = moved / ".dagster_home" / "dagster.yaml"
    config.write_text("telemetry:\n  enabled: false\n")  # what the script wrote before
    assert project_env(moved) == embedded_instance_config(moved / ".dagster_home")

    for users in ("storage:\n  postgres:\n    postgres_url: {env: PG}\n", "telemetry: [unclosed\n"):
        config.write_text(users)
        subprocess.run([sys.executable, REPO / "scripts" / "project_env.py", moved], check=True)
        assert config.read_text() == users
