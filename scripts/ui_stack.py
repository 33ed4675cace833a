"""A throw-away Dagster UI with materialized days: the set-up of the UI tests and screenshots.

``materialized_instance`` generates a day of trades into a temporary landing zone, materializes
it with every check into a temporary lake and ``DAGSTER_HOME``; ``demo_instance`` runs
``trade-platform demo`` there instead, as ``make demo`` does; ``running_webserver`` serves that
instance with the project's ``workspace.yaml`` on a free loopback port, and ``running_daemon``
runs its sensors, schedule and run queue; ``ensure_chromium`` and ``screenshot`` drive Debian's
headless ``chromium``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import debian  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DAY = date(2024, 3, 1)
CHROMIUM_PACKAGES = ("chromium", "fonts-liberation")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def materialized_instance(workdir: Path, day: date = DAY, trades: int = 2_000) -> dict[str, str]:
    """Materialize ``day`` under ``workdir``; return the environment that serves the result."""
    from dagster import DagsterInstance

    from trade_platform.core.generate import generate_day, write_day
    from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
    from trade_platform.definitions import build_defs
    from trade_platform.settings import Settings

    home, landing, lake = workdir / "dagster_home", workdir / "landing", workdir / "lake"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    write_day(generate_day(day, trades, seed=7), str(landing), corrupt_file=True)
    with DagsterInstance.from_config(str(home)) as instance:
        settings = Settings(landing_url=str(landing), lake_url=str(lake), pii_key=PiiKey(DEVELOPMENT_KEY))
        job = build_defs(settings).resolve_job_def("trades_daily_job")
        result = job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False
        )
        if not result.success:
            raise RuntimeError(f"materializing {day} failed (run {result.run_id})")
    return {
        "DAGSTER_HOME": str(home),
        "TRADE_PLATFORM_LANDING_URL": str(landing),
        "TRADE_PLATFORM_LAKE_URL": str(lake),
        "TRADE_PLATFORM_PII_KEY": DEVELOPMENT_KEY.decode(),  # the generated trades carry account ids
    }


def demo_instance(workdir: Path, days: int = 2, trades: int = 500) -> dict[str, str]:
    """``trade-platform demo`` of ``days`` days under ``workdir``, started there as ``make demo``
    starts it in the repository (it writes its start date to ``workdir/.env``, which a Dagster CLI
    started in ``workdir`` reads); return the environment that serves the result."""
    from trade_platform.core.pseudonymise import DEVELOPMENT_KEY

    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    env = {
        "DAGSTER_HOME": str(home),
        "TRADE_PLATFORM_LANDING_URL": str(workdir / "landing"),
        "TRADE_PLATFORM_LAKE_URL": str(workdir / "lake"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = ["demo", "--days", str(days), "--trades-per-day", str(trades), "--env-file", ".env"]
    with (workdir / "demo.log").open("wb") as log:
        completed = subprocess.run(
            [sys.executable, "-m", "trade_platform.cli.main", *command],
            cwd=workdir,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if completed.returncode:
        raise RuntimeError(f"the demo failed:\n{(workdir / 'demo.log').read_text()[-3000:]}")
    return {**env, "TRADE_PLATFORM_PII_KEY": DEVELOPMENT_KEY.decode()}  # as make ui supplies it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_webserver(
    env: dict[str, str], log: Path, timeout: float = 120.0, cwd: Path | None = None
) -> Iterator[str]:
    """``dagster-webserver`` on 127.0.0.1 with the project's workspace, started in ``cwd`` (whose
    ``.env`` it reads; default: the log's folder); yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["dagster-webserver", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    with _running(command, env, log, cwd) as process:
        wait_until_loaded(url, process, timeout, log)
        yield url


@contextlib.contextmanager
def running_daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` (sensors, schedules, the run queue) over the project's workspace."""
    with _running(["dagster-daemon", "run", "-w", str(REPO / "workspace.yaml")], env, log) as process:
        yield process


@contextlib.contextmanager
def _running(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A Dagster service of this virtualenv in its own process group, logging to ``log``; the
    group (the service and the code server it started) is stopped on exit, and nothing else.
    It starts in ``cwd`` (default: the log's folder), never in the repository: Dagster's CLIs
    load the ``.env`` of the folder they start in over ``env`` (``make demo`` writes one there)."""
    executable = str(Path(sys.executable).with_name(command[0]))
    with log.open("wb") as output:
        process = subprocess.Popen(
            [executable, *command[1:]],
            cwd=cwd or log.parent,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:  # dagster-webserver does not always honour SIGTERM; nothing here needs a clean exit
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until_loaded(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    from dagster_graphql import DagsterGraphQLClient

    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    client = DagsterGraphQLClient("127.0.0.1", port_number=int(url.rsplit(":", 1)[1]), timeout=10)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        with contextlib.suppress(Exception):
            urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
            entries = client._execute(query)["workspaceOrError"]["locationEntries"]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                return
        time.sleep(0.5)
    raise TimeoutError(f"dagster-webserver not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def ensure_chromium() -> str:
    """The path of Debian's ``chromium``, installing it with apt-get when missing (as root)."""
    return debian.ensure("chromium", lambda: shutil.which("chromium"), CHROMIUM_PACKAGES)


def _chromium(chromium: str, profile: Path, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=timeout,
        check=True,
    )


def screenshot(url: str, output: Path, *, chromium: str, profile: Path, size: str = "1600,1000") -> str:
    """Save a PNG of ``url`` once its scripts have run; return the rendered page's text (DOM)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    budget = "--virtual-time-budget=15000"
    dom = _chromium(chromium, profile / "dom", budget, "--dump-dom", url).stdout.decode(errors="replace")
    _chromium(chromium, profile / "shot", budget, f"--window-size={size}", f"--screenshot={output}", url)
    return dom


def check_page_url(base_url: str, asset: str, check: str) -> str:
    return f"{base_url}/assets/{asset}?view=checks&checkDetail={check}"
