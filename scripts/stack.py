"""The local scale-out stack: PostgreSQL, Redis, moto's S3 server, dagster-daemon,
dagster-webserver and two ``trade-platform worker`` processes, all on loopback.

``python scripts/stack.py up`` (``make stack``) starts them as this project's own processes on
free ports, each logging to a file under ``.stack/``, writes ``.stack/env.sh`` (the environment
that reaches them) and returns; ``down`` (``make stack-down``) stops exactly the processes ``up``
started, by the pids it recorded. PostgreSQL and Redis come from Debian's packages, installed with
apt-get when missing (as root). Each worker has its own working directory, scratch directory and
``DAGSTER_HOME``: the workers share only S3, PostgreSQL and Redis. The tests use ``Stack`` as a
context manager. ``up`` also starts a Kafka broker (scripts/kafka_broker.py) and exports its
address as ``KAFKA_BOOTSTRAP_SERVERS``; the tests' ``Stack`` does not, unless asked.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import debian  # noqa: E402
from kafka_broker import KafkaBroker  # noqa: E402
from ui_stack import free_port, wait_until_loaded  # noqa: E402

DEBIAN_PACKAGES = ("postgresql", "redis-server")
KAFKA_PARTITIONS = 4
PII_KEY_VARIABLES = ("TRADE_PLATFORM_PII_KEY", "TRADE_PLATFORM_PII_KEY_FILE")
BUCKET = "trade-platform"
STOP_SECONDS = 20.0


class Stack:
    """The stack's processes and the environment that reaches them."""

    def __init__(
        self,
        directory: Path,
        workers: tuple[str, ...] = ("w1", "w2"),
        env: dict | None = None,
        monitoring_seconds: int | None = None,
        kafka: bool = False,
    ):
        """``monitoring_seconds``: run monitoring's poll interval instead of deploy/dagster.yaml's
        (the tests check for lost workers every few seconds rather than every 30).
        ``kafka``: also a Kafka broker (off by default: the scale-out tests need none, and it
        would cost them a JVM)."""
        self.directory = directory.resolve()
        self.workers = workers
        self.extra_env = env or {}
        self.monitoring_seconds = monitoring_seconds
        self.kafka = kafka
        self.broker: KafkaBroker | None = None
        self.pids: dict[str, int] = {}
        self.env: dict[str, str] = {}
        self.url = ""

    # --- start -------------------------------------------------------------------------
    def up(self) -> Stack:
        from trade_platform.core.pseudonymise import DEVELOPMENT_KEY

        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            postgres_url = self.start_postgres()
            redis_url = self._redis()
            s3 = self._moto()
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.env = {
                "DAGSTER_PG_URL": postgres_url,
                "TRADE_PLATFORM_CELERY_BROKER_URL": f"{redis_url}/0",
                "TRADE_PLATFORM_CELERY_BACKEND_URL": f"{redis_url}/1",
                "TRADE_PLATFORM_MAX_CONCURRENT_RUNS": str(len(self.workers)),
                "TRADE_PLATFORM_MAX_PARTITIONS_PER_RUN": "2",
                "TRADE_PLATFORM_LANDING_URL": f"s3://{BUCKET}/landing",
                "TRADE_PLATFORM_LAKE_URL": f"s3://{BUCKET}/lake",
                "TRADE_PLATFORM_COMPUTE_LOG_BUCKET": BUCKET,
                "TRADE_PLATFORM_COMPUTE_LOG_PREFIX": "compute-logs",
                "AWS_ENDPOINT_URL": s3,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "TRADE_PLATFORM_UI_URL": self.url,  # the links the CLI prints lead to this webserver
                **self.extra_env,
            }
            # Generated trades carry account and trader ids: a development key unless one is given.
            if not any(name in os.environ or name in self.env for name in PII_KEY_VARIABLES):
                self.env["TRADE_PLATFORM_PII_KEY"] = DEVELOPMENT_KEY.decode()
            if self.kafka:
                self.env["KAFKA_BOOTSTRAP_SERVERS"] = self._kafka()
            self._bucket(s3)
            control = self._dagster_home(self.directory / "control")
            self._start(
                "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")], control
            )
            web = [
                str(BIN / "dagster-webserver"),
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ]
            process = self._start("webserver", web, control)
            for name in self.workers:
                self._start(
                    f"worker-{name}",
                    [str(BIN / "trade-platform"), "worker", "--name", name],
                    self._worker_home(name),
                )
            wait_until_loaded(self.url, process, 180, self.log("webserver"))
            self._wait_for_workers()
        except BaseException:
            self.down()
            raise
        self._save()
        return self

    def start_postgres(self) -> str:
        """A PostgreSQL cluster with a ``dagster`` database; returns its URL."""
        initdb = _debian_binary("initdb", "/usr/lib/postgresql/*/bin/initdb")
        # The cluster runs as Debian's postgres user (initdb refuses root), in a folder it can reach.
        data = Path(tempfile.mkdtemp(prefix="trade-platform-pg-"))
        data.chmod(0o755)
        (self.directory / "postgres-data").write_text(str(data))
        cluster = data / "cluster"
        user = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}
        if user:
            shutil.chown(data, "postgres", "postgres")
        self._run(
            [initdb, "-D", str(cluster), "-A", "trust", "-U", "postgres", "-E", "UTF8"], "postgres-init", user
        )
        port = free_port()
        command = [
            str(Path(initdb).with_name("postgres")), "-D", str(cluster), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data}",
        ]  # fmt: skip
        self._start("postgres", command, cwd=data, user=user)
        _wait(lambda: _postgres_ready(port), "PostgreSQL", self.log("postgres"))
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE dagster")
        connection.close()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/dagster"

    def _redis(self) -> str:
        server = _debian_binary("redis-server", "/usr/bin/redis-server")
        port = free_port()
        command = [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(self.directory),
        ]
        self._start("redis", command, self.directory)
        _wait(lambda: _redis_ready(port), "Redis", self.log("redis"))
        return f"redis://127.0.0.1:{port}"

    def _moto(self) -> str:
        port = free_port()
        self._start("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], self.directory)
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: _http_ready(url), "moto's S3 server", self.log("s3"))
        return url

    def _kafka(self) -> str:
        """A fresh broker (the stack's PostgreSQL starts empty too); returns its bootstrap servers."""
        folder = self.directory / "kafka"
        KafkaBroker(folder).stop()  # one a failed `down` left running, by its recorded pid
        shutil.rmtree(folder, ignore_errors=True)
        self.broker = KafkaBroker(folder).start()
        # The default topic, so `trade-platform stream` and kafka_lag_sensor have one to read.
        self.broker.create_topic(self.extra_env.get("TRADE_PLATFORM_KAFKA_TOPIC", "trades"), KAFKA_PARTITIONS)
        return self.broker.bootstrap_servers

    def _bucket(self, endpoint: str) -> None:
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        s3.create_bucket(Bucket=BUCKET)

    def _dagster_home(self, folder: Path) -> Path:
        home = folder / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        config = (REPO / "deploy" / "dagster.yaml").read_text()
        if self.monitoring_seconds:
            config = config.replace(
                "poll_interval_seconds: 30", f"poll_interval_seconds: {self.monitoring_seconds}"
            )
        (home / "dagster.yaml").write_text(config)
        return folder

    def _worker_home(self, name: str) -> Path:
        folder = self._dagster_home(self.directory / f"worker-{name}")
        (folder / "scratch").mkdir(exist_ok=True)
        return folder

    def _wait_for_workers(self) -> None:
        from celery import Celery

        app = Celery(broker=self.env["TRADE_PLATFORM_CELERY_BROKER_URL"])
        expected = {f"{name}@{socket.gethostname()}" for name in self.workers}

        def answered() -> bool:
            for name in self.workers:
                if not _alive(self.pids[f"worker-{name}"]):
                    log = self.log(f"worker-{name}")
                    raise RuntimeError(f"worker {name} exited:\n{log.read_text()[-3000:]}")
            replies = app.control.ping(timeout=1.0)
            return expected <= {name for reply in replies for name in reply}

        _wait(answered, f"workers {', '.join(self.workers)}", self.directory / "worker-*.log", timeout=120)

    # --- using it -----------------------------------------------------------------------
    def client_env(self) -> dict[str, str]:
        """The environment of a command on the control host (CLI, backfill, ``dagster``)."""
        return {**os.environ, **self.env, "DAGSTER_HOME": str(self.directory / "control" / "dagster_home")}

    def stop_sensors(self, *names: str) -> None:
        """Stop these sensors, so that only the runs a caller launches run."""
        self._sensors("stop", names)

    def start_sensors(self, *names: str) -> None:
        self._sensors("start", names)

    def _sensors(self, action: str, names: tuple[str, ...]) -> None:
        for name in names:
            command = [str(BIN / "dagster"), "sensor", action, name, "-w", str(REPO / "workspace.yaml")]
            subprocess.run(command, env=self.client_env(), check=True, capture_output=True)

    # --- processes ----------------------------------------------------------------------
    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def _environment(self, folder: Path) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if (folder / "dagster_home").is_dir():
            env["DAGSTER_HOME"] = str(folder / "dagster_home")
        if (folder / "scratch").is_dir():
            env["TMPDIR"] = str(folder / "scratch")
        return env

    def _start(self, name: str, command: list[str], cwd: Path, user: dict | None = None) -> subprocess.Popen:
        """A process in its own session (so its children stop with it), logging to ``<name>.log``."""
        with self.log(name).open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=self._environment(cwd),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **(user or {}),
            )
        self.pids[name] = process.pid
        self._save()
        return process

    def _run(self, command: list[str], name: str, user: dict) -> None:
        with self.log(name).open("ab") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, **user)

    def _save(self) -> None:
        state = {"pids": self.pids, "url": self.url, "env": self.env}
        (self.directory / "stack.json").write_text(json.dumps(state, indent=2))
        lines = [f"export {name}={shlex.quote(value)}" for name, value in self.env.items()]
        (self.directory / "env.sh").write_text("\n".join(lines) + "\n")

    # --- stop ---------------------------------------------------------------------------
    def down(self) -> None:
        """Stop every process this stack started (workers first, PostgreSQL last), by pid."""
        for name in sorted(self.pids, key=_stop_order):
            _stop(self.pids[name], signal.SIGINT if name == "postgres" else signal.SIGTERM)
        self.pids = {}
        # After the workers (its clients); by the pid in kafka/broker.pid when `up` ran elsewhere.
        if self.broker is not None or (self.directory / "kafka" / "broker.pid").exists():
            (self.broker or KafkaBroker(self.directory / "kafka")).stop()
            self.broker = None
        data = self.directory / "postgres-data"
        if data.exists():
            shutil.rmtree(data.read_text(), ignore_errors=True)
            data.unlink()
        self._save()

    @classmethod
    def load(cls, directory: Path) -> Stack:
        stack = cls(directory)
        state = json.loads((directory / "stack.json").read_text())
        stack.pids, stack.url, stack.env = state["pids"], state["url"], state["env"]
        return stack

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *_) -> None:
        self.down()


def _stop_order(name: str) -> int:
    return {"postgres": 3, "redis": 2, "s3": 2}.get(name, 0 if name.startswith("worker") else 1)


def _stop(pid: int, sig: int) -> None:
    """Signal the process group ``pid`` leads, and wait for the leader; SIGKILL after a while."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        return finished == 0
    except ChildProcessError:  # started by another process (`up` before `down`)
        try:
            os.kill(pid, 0)
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except (ProcessLookupError, FileNotFoundError):
            return False


def _debian_binary(name: str, pattern: str) -> str:
    """The binary from Debian's package, installing the packages with apt-get when missing."""
    return debian.ensure(
        name, lambda: (sorted(glob.glob(pattern)) or [shutil.which(name)])[-1], DEBIAN_PACKAGES
    )


def _wait(ready, what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except RuntimeError:  # the service exited: waiting longer cannot help
            raise
        except Exception:  # not up yet: a refused connection, a timeout, a client's own error
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not start within {timeout:.0f}s; see {log}")


def _postgres_ready(port: int) -> bool:
    import psycopg2

    psycopg2.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
    ).close()
    return True


def _redis_ready(port: int) -> bool:
    import redis

    return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())


def _http_ready(url: str) -> bool:
    import urllib.request

    urllib.request.urlopen(url, timeout=2).read()
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument(
        "--dir", type=Path, default=REPO / ".stack", help="state, logs and env.sh (default .stack/)"
    )
    parser.add_argument("--no-kafka", action="store_true", help="up: without the Kafka broker")
    args = parser.parse_args()
    if args.action == "down":
        if not (args.dir / "stack.json").exists():
            print(f"no stack recorded in {args.dir}")
            return 0
        Stack.load(args.dir).down()
        print("stack stopped")
        return 0
    if (args.dir / "stack.json").exists() and Stack.load(args.dir).pids:
        print(f"a stack is already up ({args.dir}/stack.json); run `make stack-down` first")
        return 1
    stack = Stack(args.dir, kafka=not args.no_kafka).up()
    print(f"webserver: {stack.url}\nlogs: {args.dir}/*.log\nenvironment: source {args.dir}/env.sh")
    if stack.broker is not None:
        print(f"kafka: {stack.broker.bootstrap_servers} (log {stack.broker.log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
