"""Brokers the product starts itself: Mosquitto with the shipped config when the
binary is installed, or the pure-Python amqtt broker as an embedded fallback."""

from __future__ import annotations

import asyncio
import getpass
import logging
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MQTT_PORT = 1883
# Mosquitto saves its state after this many changes (docs/broker.md, "What a broker crash
# can lose"): the bound on what a kill -9 of the broker loses, against the cost of a save.
DEFAULT_AUTOSAVE_CHANGES = 1000


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where and how to connect: mqtt://[user[:password]@]host[:port][?protocol=3.1.1]."""

    host: str
    port: int = DEFAULT_MQTT_PORT
    v5: bool = True
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """Parse a broker URL; ValueError says what is wrong with it."""
        if url == "embedded":
            raise ValueError(
                "the broker URL is 'embedded', which only exists inside `ioc demo`: start a "
                "broker with `ioc broker` (or use the one `ioc demo` prints) and pass its URL "
                "with --mqtt-url mqtt://host:port"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported broker URL {url!r}: use mqtt://host:port")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        protocol = parse_qs(parts.query).get("protocol", ["5"])[-1]
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"unsupported MQTT protocol {protocol!r} in {url!r}: use 5 or 3.1.1")
        try:
            port = parts.port or DEFAULT_MQTT_PORT
        except ValueError as exc:
            raise ValueError(f"bad port in {url!r}: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            v5=protocol == "5",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        suffix = "" if self.v5 else "?protocol=3.1.1"
        user = f"{self.username}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port}{suffix}"


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def mosquitto_config(
    port: int,
    data_dir: Path,
    host: str = DEFAULT_HOST,
    autosave_changes: int = DEFAULT_AUTOSAVE_CHANGES,
) -> str:
    """The shipped Mosquitto config rendered for one port and data directory."""
    template = resources.files("ioc.broker").joinpath("mosquitto.conf").read_text("utf-8")
    # Run as whoever starts it: as root, Mosquitto would otherwise switch to the `mosquitto`
    # user and fail to write its persistence file in a directory that user does not own.
    return template.format(
        port=port,
        host=host,
        data_dir=data_dir.resolve().as_posix(),
        user=getpass.getuser(),
        autosave_changes=int(autosave_changes),
    )


class MosquittoBroker:
    """A Mosquitto process on its own port and data directory, with the shipped config."""

    kind = "mosquitto"

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        host: str = DEFAULT_HOST,
        *,
        autosave_changes: int = DEFAULT_AUTOSAVE_CHANGES,
    ) -> None:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.binary = binary
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = Path(data_dir)
        self.autosave_changes = autosave_changes
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> MosquittoBroker:
        """Start (or restart) the process and wait until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            mosquitto_config(self.port, self.data_dir, self.host, self.autosave_changes)
        )
        log = open(self.data_dir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            self.stop()
            tail = (self.data_dir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{tail}") from None
        logger.info("mosquitto listening on %s (data in %s)", self.url, self.data_dir)
        return self

    def stop(self, kill: bool = False) -> None:
        """Stop the process (SIGKILL with kill=True, else SIGTERM, which saves persistence)."""
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop and start on the same port, keeping persisted sessions."""
        self.stop()
        self.start()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AmqttBroker:
    """The amqtt broker in a background thread: MQTT 3.1.1 only, no shared subscriptions."""

    kind = "amqtt"

    def __init__(self, data_dir: Path, port: int = 0, host: str = DEFAULT_HOST) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = Path(data_dir)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}?protocol=3.1.1"

    def start(self) -> AmqttBroker:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
            "topic-check": {"enabled": False},
        }
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("embedded amqtt broker did not start")
        wait_for_port(self.host, self.port)
        return self

    def stop(self, kill: bool = False) -> None:
        if self._loop is None or self._broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> AmqttBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def embedded_broker(data_dir: Path, port: int = 0) -> MosquittoBroker | AmqttBroker:
    """Mosquitto if installed (the tested path), else the in-process amqtt broker."""
    try:
        return MosquittoBroker(Path(data_dir) / "mosquitto", port)
    except FileNotFoundError:
        logger.warning("mosquitto not installed; using the embedded amqtt broker (MQTT 3.1.1)")
        return AmqttBroker(Path(data_dir) / "amqtt", port)
