"""A real single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM) on loopback.

It runs from Kafka's own jars: ``deploy/kafka/pom.xml`` names them, ``mvn`` fetches them into the
local Maven repository (``~/.m2``) on first use, and the resolved classpath is cached under
``~/.cache/trade-platform/kafka/`` (keyed by the pom's hash), so later starts do not run Maven.

``python scripts/kafka_broker.py up`` (``make kafka``) starts one with its state under ``.kafka/``
(data, ``broker.log``, ``broker.pid``, ``env.sh`` exporting ``KAFKA_BOOTSTRAP_SERVERS``);
``down`` (``make kafka-down``) stops exactly that process and keeps its data. The tests use
``KafkaBroker`` directly, in a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import debian  # noqa: E402
from ui_stack import free_port  # noqa: E402

POM = REPO / "deploy" / "kafka" / "pom.xml"
LOG4J = REPO / "deploy" / "kafka" / "log4j2.properties"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trade-platform" / "kafka"
# SerialGC: on a 2-core machine G1's background threads compete with the tests for a broker that
# needs no pause-time goal. Kafka 4.x runs on Java 17 as is: no --add-opens needed.
JVM_OPTIONS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
START_SECONDS = 60.0
STOP_SECONDS = 30.0


class KafkaBroker:
    """One broker+controller JVM whose data, config, log and pid file live in ``workdir``.

    Its ports are chosen on the first start and kept in ``workdir/broker.json``, so that
    ``restart()`` (or a later ``KafkaBroker`` on the same directory) brings back the same broker,
    topics and messages included, at the same address.
    """

    def __init__(self, workdir: Path, *, port: int | None = None):
        self.workdir = Path(workdir).resolve()
        self.process: subprocess.Popen | None = None
        state = self._state_file()
        saved = json.loads(state.read_text()) if state.exists() else {}
        self.port: int | None = port or saved.get("port")
        self.controller_port: int | None = saved.get("controller_port")

    # --- where things are -------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise RuntimeError("the broker has no port yet: start() it first")
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The running broker's pid (this object's child, or the one ``broker.pid`` records)."""
        if self.process is not None:
            return self.process.pid if self.process.poll() is None else None
        try:
            pid = int((self.workdir / "broker.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if self._is_our_broker(pid) else None

    def is_running(self) -> bool:
        return self.pid is not None

    def _state_file(self) -> Path:
        return self.workdir / "broker.json"

    # --- start ------------------------------------------------------------------------
    def start(self, timeout: float = START_SECONDS) -> KafkaBroker:
        """Start the broker (formatting its storage on the first start) and wait until it answers."""
        if self.is_running():
            raise RuntimeError(f"the Kafka broker in {self.workdir} is already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        java, classpath = _java(), resolve_classpath()
        config = self._configure()
        if not (self.workdir / "data" / "meta.properties").exists():
            self._format(java, classpath, config)
        command = [java, *JVM_OPTIONS, f"-Dlog4j2.configurationFile={LOG4J}", "-cp", classpath]
        with self.log.open("ab") as out:
            # Its own session: a Ctrl-C meant for the caller does not reach it; stop() does.
            self.process = subprocess.Popen(
                [*command, "kafka.Kafka", str(config)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.workdir / "broker.pid").write_text(str(self.process.pid))
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _configure(self) -> Path:
        """server.properties from the kept ports (new free ones on the first start)."""
        if self.port is None:
            self.port = free_port()
        while self.controller_port is None or self.controller_port == self.port:
            self.controller_port = free_port()
        for port in (self.port, self.controller_port):
            if not _bindable(port):
                raise RuntimeError(
                    f"port {port} of the Kafka broker in {self.workdir} is taken by another process; "
                    f"free it, or remove {self.workdir} to start afresh on new ports"
                )
        state = {"port": self.port, "controller_port": self.controller_port}
        self._state_file().write_text(json.dumps(state, indent=2) + "\n")
        listen, control = f"127.0.0.1:{self.port}", f"127.0.0.1:{self.controller_port}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # A static quorum of one: `format` needs no --standalone, and the controller keeps its port.
            "controller.quorum.voters": f"1@{control}",
            "listeners": f"PLAINTEXT://{listen},CONTROLLER://{control}",
            "advertised.listeners": f"PLAINTEXT://{listen}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            # One broker: every internal topic has one replica, or it is never created.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer internal partitions than the default 50: a test's first consumer group is ready sooner.
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            # Topics exist only when created on purpose (create_topic), never by a typo'd producer.
            "auto.create.topics.enable": "false",
        }
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return config

    def _format(self, java: str, classpath: str, config: Path) -> None:
        """Kafka 4.x's `kafka-storage.sh format`: the Scala object kafka.tools.StorageTool in kafka_2.13."""
        command = [java, *JVM_OPTIONS, f"-Dlog4j2.configurationFile={LOG4J}", "-cp", classpath]
        command += ["kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)]
        with self.log.open("ab") as out:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"formatting Kafka's storage failed; {self.log} ends:\n{self._tail()}")

    def _wait_until_ready(self, timeout: float) -> None:
        """Until the broker answers a metadata request and lists itself (node 1)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Kafka broker exited with code {self.process.returncode}; {self.log} ends:\n"
                    f"{self._tail()}"
                )
            try:
                # The TCP probe first: librdkafka would log every refused connection to stderr.
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if 1 in self.admin().list_topics(timeout=2).brokers:
                    return
            except Exception:  # not up yet: refused, or the broker is still registering
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the Kafka broker did not answer on {self.bootstrap_servers} within {timeout:g}s; "
                    f"{self.log} ends:\n{self._tail()}"
                )
            time.sleep(0.2)

    def _tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    # --- use --------------------------------------------------------------------------
    def admin(self):
        """A confluent_kafka AdminClient on this broker."""
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap_servers})

    def create_topic(self, name: str, partitions: int = 1, *, timeout: float = 30.0) -> None:
        """Create the topic and wait until every partition has a leader, so producing can begin."""
        from confluent_kafka.admin import NewTopic

        admin = self.admin()
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1)
        futures = admin.create_topics([topic], operation_timeout=timeout, request_timeout=timeout)
        futures[name].result(timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = admin.list_topics(topic=name, timeout=timeout).topics[name]
            leaders = [partition.leader for partition in found.partitions.values()]
            if found.error is None and len(leaders) == partitions and min(leaders) >= 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"topic {name}: partitions without a leader after {timeout:g}s")

    # --- stop -------------------------------------------------------------------------
    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM exactly the broker's pid (Kafka shuts down cleanly), SIGKILL after ``timeout``."""
        pid = self.pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
                if not self._wait_for_exit(pid, timeout):
                    os.kill(pid, signal.SIGKILL)
                    self._wait_for_exit(pid, 10.0)
            except ProcessLookupError:  # it exited on its own meanwhile
                pass
        self.process = None
        (self.workdir / "broker.pid").unlink(missing_ok=True)

    def restart(self, timeout: float = START_SECONDS) -> KafkaBroker:
        """Stop and start again: same data, same ports (a client sees the broker come back)."""
        self.stop()
        return self.start(timeout)

    def _wait_for_exit(self, pid: int, timeout: float) -> bool:
        if self.process is not None:  # our child: wait() also reaps it
            try:
                self.process.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._is_our_broker(pid):
                return True
            time.sleep(0.2)
        return False

    def _is_our_broker(self, pid: int) -> bool:
        """Alive, and running this workdir's server.properties: a stale pid file's reused pid is not."""
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return state != "Z" and str(self.workdir / "server.properties").encode() in command

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()


def resolve_classpath() -> str:
    """The broker's classpath: cached per pom content; Maven runs only when the pom changed (or a
    jar went missing from ~/.m2), offline first (everything is there after the first fetch)."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cached = CACHE / f"classpath-{digest}.txt"
    if cached.exists():
        entries = cached.read_text().strip()
        if entries and all(Path(jar).is_file() for jar in entries.split(os.pathsep)):
            return entries
    mvn = _tool("mvn")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    print(f"kafka_broker: resolving Kafka's jars with Maven ({POM.relative_to(REPO)})", file=sys.stderr)
    for offline in (["-o"], []):
        command = [mvn, "-B", "-q", *offline, "-f", str(POM), "dependency:build-classpath"]
        done = subprocess.run(
            [*command, f"-Dmdep.outputFile={partial}"], capture_output=True, text=True, cwd=POM.parent
        )
        if done.returncode == 0:
            break
    else:
        raise RuntimeError(f"mvn could not resolve {POM}:\n{(done.stdout + done.stderr)[-4000:]}")
    os.replace(partial, cached)  # atomic: a concurrent start reads a whole file or none
    return cached.read_text().strip()


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return _tool("java")


def _tool(name: str) -> str:
    """``java`` or ``mvn`` from PATH; as root, Debian's ``maven`` (it brings a JRE 17) when missing."""
    return debian.ensure(name, lambda: shutil.which(name), ("maven",))


def _cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints (without starting a JVM for it): a random UUID in
    unpadded URL-safe base64, never starting with '-' (it would read as a command-line option)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not value.startswith("-"):
            return value


def _bindable(port: int) -> bool:
    """Free to listen on (SO_REUSEADDR, like the JVM: a restart's TIME_WAIT connections don't count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument(
        "--dir", type=Path, default=REPO / ".kafka", help="data, log, pid file, env.sh (default .kafka/)"
    )
    parser.add_argument("--port", type=int, help="the client port (default: kept, or a free one)")
    args = parser.parse_args()
    broker = KafkaBroker(args.dir, port=args.port)
    env = args.dir / "env.sh"
    if args.action == "down":
        if not broker.is_running():
            print(f"no Kafka broker running in {args.dir}")
            return 0
        broker.stop()
        env.unlink(missing_ok=True)
        print(f"Kafka broker stopped (its data stays in {args.dir}/data; remove {args.dir} for a fresh one)")
        return 0
    if broker.is_running():
        print(f"Kafka is already up: {broker.bootstrap_servers} (pid {broker.pid}); source {env}")
        return 0
    started = time.monotonic()
    broker.start()
    env.write_text(f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}\n")
    print(
        f"Kafka broker up in {time.monotonic() - started:.1f}s: {broker.bootstrap_servers} "
        f"(pid {broker.pid})\nlog: {broker.log}\nenvironment: source {env}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
