"""Brokers the product starts itself: Mosquitto with the shipped config when the
binary is installed, or the pure-Python amqtt broker as an embedded fallback."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ioc.broker.client import (
    DEFAULT_MQTT_PORT,
    DEFAULT_MQTTS_PORT,
    BrokerConnectError,
    BrokerUrl,
    Will,
    connect_and_wait,
    connect_kwargs,
    mqtt_client,
)

__all__ = [
    "DEFAULT_MQTTS_PORT",
    "DEFAULT_MQTT_PORT",
    "BrokerConnectError",
    "BrokerUrl",
    "Will",
    "connect_and_wait",
    "connect_kwargs",
    "mqtt_client",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# Mosquitto saves its state after this many changes (docs/broker.md, "What a broker crash
# can lose"): the bound on what a kill -9 of the broker loses, against the cost of a save.
DEFAULT_AUTOSAVE_CHANGES = 1000


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


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Server certificate, its key and the CA that signed it (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def access_block(
    data_dir: Path, *, secure: bool, host: str, tls: TlsFiles | None = None, tls_port: int = 0
) -> str:
    """The auth/listener lines: anonymous (loopback demo) or password_file + acl_file (+ TLS)."""
    from ioc.broker.accounts import ACL_FILE, PASSWORD_FILE

    if not secure:
        if tls is not None:
            raise ValueError("a TLS listener needs the secure config (accounts), not anonymous")
        return "allow_anonymous true"
    d = data_dir.resolve()
    lines = [
        "allow_anonymous false",
        f"password_file {(d / PASSWORD_FILE).as_posix()}",
        f"acl_file {(d / ACL_FILE).as_posix()}",
    ]
    if tls is not None:
        lines += [
            "",
            f"listener {tls_port} {host}",
            f"cafile {Path(tls.ca_file).resolve().as_posix()}",
            f"certfile {Path(tls.cert_file).resolve().as_posix()}",
            f"keyfile {Path(tls.key_file).resolve().as_posix()}",
            "tls_version tlsv1.2",
        ]
    return "\n".join(lines)


def mosquitto_config(
    port: int,
    data_dir: Path,
    host: str = DEFAULT_HOST,
    *,
    secure: bool = False,
    tls: TlsFiles | None = None,
    tls_port: int = 0,
    autosave_changes: int = DEFAULT_AUTOSAVE_CHANGES,
) -> str:
    """The shipped Mosquitto config rendered for one port and data directory."""
    template = resources.files("ioc.broker").joinpath("mosquitto.conf").read_text("utf-8")
    # Run as whoever starts it: as root, Mosquitto would otherwise switch to the `mosquitto`
    # user and fail to write its persistence file in a directory that user does not own.
    access = access_block(data_dir, secure=secure, host=host, tls=tls, tls_port=tls_port)
    return template.format(
        port=port,
        host=host,
        data_dir=data_dir.resolve().as_posix(),
        user=getpass.getuser(),
        access=access,
        autosave_changes=int(autosave_changes),
    )


def is_loopback(host: str) -> bool:
    """True if host is a loopback name or address (anonymous access is allowed only there)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MosquittoBroker:
    """A Mosquitto process on its own port and data directory, with the shipped config.

    secure=True renders password_file + acl_file from the account registry in data_dir
    and creates the service accounts; their URLs are in `service_urls` (this run only).
    """

    kind = "mosquitto"

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        host: str = DEFAULT_HOST,
        *,
        secure: bool = False,
        tls: TlsFiles | None = None,
        tls_port: int = 0,
        autosave_changes: int = DEFAULT_AUTOSAVE_CHANGES,
    ) -> None:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed")
        if not secure and not is_loopback(host):
            raise ValueError(
                f"refusing an anonymous broker on {host}: anonymous access is only for loopback"
            )
        self.binary = binary
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = Path(data_dir)
        self.secure = secure
        self.tls = tls
        self.tls_port = (tls_port or free_port(host)) if tls is not None else 0
        self.service_urls: dict[str, str] = {}
        self.autosave_changes = autosave_changes
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        from ioc.broker.accounts import PID_FILE

        return self.data_dir / PID_FILE

    def start(self) -> MosquittoBroker:
        """Start (or restart) the process and wait until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.secure:
            from ioc.broker.accounts import ensure_service_accounts

            for name, creds in ensure_service_accounts(self.data_dir).items():
                self.service_urls[name] = creds.url(self.host, self.port)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            mosquitto_config(
                self.port,
                self.data_dir,
                self.host,
                secure=self.secure,
                tls=self.tls,
                tls_port=self.tls_port,
                autosave_changes=self.autosave_changes,
            )
        )
        log = open(self.data_dir / "mosquitto.log", "ab")
        # The absolute config path lets `ioc devices` tell this broker from any other mosquitto.
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf.resolve())], stdout=log, stderr=log
        )
        log.close()
        # Recorded so `ioc devices` can SIGHUP this broker to reload accounts and ACL.
        self.pid_file.write_text(f"{self.proc.pid}\n")
        try:
            wait_for_port(self.host, self.port)
            if self.tls is not None:
                wait_for_port(self.host, self.tls_port)
        except TimeoutError:
            self.stop()
            tail = (self.data_dir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{tail}") from None
        logger.info("mosquitto listening on %s (data in %s)", self.url, self.data_dir)
        return self

    def reload(self) -> None:
        """Make the running broker re-read password_file and acl_file (SIGHUP, no restart)."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGHUP)

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
        self.pid_file.unlink(missing_ok=True)

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
