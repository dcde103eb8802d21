"""A real three-node RabbitMQ cluster started from the Debian binaries, for the clustered
ingest engine's tests; plus a device-like publisher that fails over between nodes.

Each node gets its own node name, ports (AMQP, MQTT, Erlang distribution), data and
log directories under a temporary directory, and the cluster its own Erlang cookie
(HOME points there), so the system RabbitMQ on 5672/25672 is never touched. The
nodes find each other by the classic_config peer discovery of their config files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.publisher import FastPublisher, PublishError
from ioc.broker import free_port, wait_for_port
from ioc.events import Event
from ioc.geo import geography

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT_S = 120.0


def rabbitmq_installed() -> bool:
    """True when Debian's rabbitmq-server (with its MQTT plugin) is installed."""
    return (RABBIT_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None


class RabbitNode:
    """One RabbitMQ node: its ports, directories and process."""

    def __init__(self, cluster: RabbitCluster, index: int) -> None:
        self.cluster = cluster
        self.index = index
        self.name = f"{cluster.tag}{index}@localhost"
        self.amqp_port = free_port()
        self.mqtt_port = free_port()
        self.dist_port = free_port()
        self.dir = cluster.root / f"node{index}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def mqtt_url(self) -> str:
        # The RabbitMQ 3.10 MQTT plugin speaks MQTT 3.1.1 only.
        return f"mqtt://127.0.0.1:{self.mqtt_port}?protocol=3.1.1"

    def env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "HOME": str(self.cluster.root),  # the cluster's own .erlang.cookie
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
        }

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        peers = "\n".join(
            f"cluster_formation.classic_config.nodes.{n.index} = {n.name}"
            for n in self.cluster.nodes
        )
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}\n"
            "loopback_users = none\n"
            "cluster_formation.peer_discovery_backend = classic_config\n"
            f"{peers}\n"
            "log.console = false\n"
            "log.file.level = info\n"
        )
        (self.dir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")

    def start(self) -> None:
        """Start the node process (again after a kill: same name, ports and data)."""
        self.write_config()
        (self.dir / "pid").unlink(missing_ok=True)
        log = open(self.dir / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until the node accepts AMQP and MQTT connections."""
        deadline = time.monotonic() + timeout
        for port in (self.amqp_port, self.mqtt_port):
            left = deadline - time.monotonic()
            try:
                wait_for_port("127.0.0.1", port, timeout=max(left, 0.1))
            except TimeoutError:
                raise TimeoutError(f"{self.name} did not start:\n{self.log_tail()}") from None

    def beam_pid(self) -> int | None:
        """The Erlang VM's pid (the node itself), from its pid file."""
        try:
            return int((self.dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """kill -9 of the node's VM: no goodbye to the cluster or the clients."""
        pid = self.beam_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """Stop the node (SIGTERM: the start script stops the VM); kill it if it hangs."""
        if self.proc is None:
            return
        try:
            self.proc.terminate()
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            pid = self.beam_pid()
            deadline = time.monotonic() + 30
            while pid is not None and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        logs = sorted((self.dir / "log").glob("*.log")) if (self.dir / "log").exists() else []
        text = "".join(p.read_text(errors="replace") for p in logs if "upgrade" not in p.name)
        return text[-chars:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class RabbitCluster:
    """Three RabbitMQ nodes clustered on this machine, under `root`."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = Path(root)
        self.tag = f"ioct{uuid.uuid4().hex[:6]}n"
        self.nodes: list[RabbitNode] = []
        self.nodes = [RabbitNode(self, i) for i in range(1, size + 1)]

    def start(self) -> RabbitCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_ready()
        self.wait_running(len(self.nodes))
        return self

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 60) -> str:
        """rabbitmqctl against one node, with the cluster's cookie."""
        out = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args],
            env=node.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout

    def running_nodes(self, via: RabbitNode) -> list[str]:
        """Names of the nodes `via` sees running in its cluster."""
        import json

        status = json.loads(self.ctl(via, "cluster_status", "--formatter", "json"))
        return sorted(status.get("running_nodes", []))

    def wait_running(self, n: int, via: RabbitNode | None = None, timeout: float = 120) -> None:
        """Block until `via` (default: the first live node) sees n running cluster members."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            node = via or next(x for x in self.nodes if x.proc is not None)
            try:
                seen = self.running_nodes(node)
            except (RuntimeError, subprocess.TimeoutExpired):
                seen = []
            if len(seen) >= n:
                return
            time.sleep(1)
        raise TimeoutError(f"cluster has {seen} running, wanted {n}")

    def quorum_members(self, queue: str, via: RabbitNode) -> list[dict[str, str]]:
        """`rabbitmq-queues quorum_status` of a queue: one row per replica."""
        import json

        out = subprocess.run(
            [str(RABBIT_BIN / "rabbitmq-queues"), "-n", via.name, "quorum_status", queue,
             "--formatter", "json"],
            env=via.env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"quorum_status {queue}: {out.stdout}{out.stderr}")
        return json.loads(out.stdout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def amqp_urls(self, first: int = 0) -> list[str]:
        """AMQP URLs of all nodes, starting with node `first` (0-based)."""
        urls = [n.amqp_url for n in self.nodes]
        return urls[first:] + urls[:first]


# --- what devices send ----------------------------------------------------------------


def sensor_events(n: int, run_id: str, province: str = "46") -> list[Event]:
    """n distinct valid sensor readings (ids `{run_id}-{i}`) in one province."""
    geo = geography()
    communes = geo.communes_of(province)[:20]
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        commune = communes[i % len(communes)]
        out.append(
            Event(
                id=f"{run_id}-{i}",
                ts=now - timedelta(milliseconds=i),
                source=f"sensor-{commune.code}-{i % 3}",
                kind="sensor.reading",
                severity=0,
                province=province,
                ward=commune.code,
                attrs={"metric": "pm25", "value": float(i % 150), "unit": "ug/m3"},
            )
        )
    return out


def bad_messages(prefix: str, n: int, run_id: str) -> list[tuple[str, bytes]]:
    """n distinct messages ingest must dead-letter (malformed JSON) on an event topic."""
    topic = f"{prefix}/46/sensor/sensor-bad/reading"
    return [(topic, f'{{"id": "{run_id}-bad-{i}", "ts": '.encode()) for i in range(n)]


class FailoverFeed:
    """Publishes like a device with a list of cluster nodes: QoS 1 in chunks; when its node
    dies it moves to the next one and sends the unacknowledged chunk again."""

    def __init__(self, urls: list[str], wire: list[tuple[str, bytes]], *, chunk: int = 250):
        self.urls = urls
        self.wire = wire
        self.chunk = chunk
        self.node = 0
        self.failovers = 0
        self.acked = 0
        self.client_id = f"test-device-{uuid.uuid4().hex[:8]}"

    def publish_range(self, start: int, end: int, pause: float = 0.0) -> None:
        """Publish wire[start:end]; every message is acknowledged by some node on return."""
        i = start
        pub: FastPublisher | None = None
        try:
            while i < end:
                part = self.wire[i : min(i + self.chunk, end)]
                if pub is None:
                    pub = FastPublisher(
                        self.urls[self.node % len(self.urls)],
                        client_id=self.client_id,
                        window=self.chunk,
                        reconnect_timeout_s=3.0,
                    )
                try:
                    self.acked += pub.publish(part)
                except PublishError:
                    pub.close()
                    pub = None
                    self.node += 1
                    self.failovers += 1
                    if self.failovers > 20:
                        raise
                    continue  # the whole chunk again, to the next node (QoS 1: at least once)
                i += len(part)
                if pause:
                    time.sleep(pause)
        finally:
            if pub is not None:
                pub.close()
