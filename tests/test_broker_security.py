"""Trust at the device edge: accounts, ACL and TLS on a real Mosquitto with the shipped secure config."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.harness_ingest import WorkerProcess
from ingest.publisher import FastPublisher, PublishError
from ioc.broker import MosquittoBroker, TlsFiles
from ioc.broker.accounts import AccountRegistry, Credentials
from ioc.store import open_store

pytestmark = pytest.mark.mqtt

TIMEOUT = 10.0


@pytest.fixture
def secure_broker(tmp_path):
    """Mosquitto with password_file + acl_file, data under tmp_path/data/mosquitto like `ioc broker`."""
    with MosquittoBroker(tmp_path / "data" / "mosquitto", secure=True) as broker:
        yield broker


class Client:
    """A paho MQTT 5 client that records the CONNACK, SUBACKs and messages it gets."""

    def __init__(self, url: str, name: str = "t") -> None:
        from ioc.broker import BrokerUrl

        self.url = BrokerUrl.parse(url)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{name}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self.url.configure(self.client)
        self.connack: list[object] = []
        self.subacks: list[list[object]] = []
        self.messages: list[tuple[str, bytes]] = []
        self.published: dict[int, object] = {}  # mid -> PUBACK reason code
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: (
            self.connack.append(rc),
            self.connected.set(),
        )
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append(rcs)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_publish = lambda c, u, mid, rc, p: self.published.__setitem__(mid, rc)

    def connect(self) -> object:
        """Connect and return the CONNACK reason code."""
        self.client.connect(self.url.host, self.url.port)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "no CONNACK"
        return self.connack[-1]

    def subscribe(self, topic: str) -> list[object]:
        """Subscribe and return the SUBACK reason codes."""
        n = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        wait_for(lambda: len(self.subacks) > n)
        return self.subacks[-1]

    def publish(self, topic: str, payload: bytes) -> object:
        """Publish at QoS 1, wait for the broker's PUBACK and return its reason code."""
        info = self.client.publish(topic, payload, qos=1)
        wait_for(lambda: info.mid in self.published)
        return self.published[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate, timeout: float = TIMEOUT) -> None:
    """Poll until predicate() is true; fail after timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


def connack_ok(url: str) -> bool:
    """True if the broker accepts a connection with these credentials."""
    c = Client(url, "probe")
    try:
        return not c.connect().is_failure  # type: ignore[attr-defined]
    finally:
        c.close()


def add_device(broker: MosquittoBroker, province: str, source: str) -> Credentials:
    registry = AccountRegistry(broker.data_dir)
    creds = registry.add_device(province, source)
    registry.save()
    broker.reload()
    return creds


def ingest_subscriber(broker: MosquittoBroker) -> Client:
    sub = Client(broker.service_urls["ingest"], "ingest")
    assert not sub.connect().is_failure  # type: ignore[attr-defined]
    assert not sub.subscribe("ioc/v1/#")[0].is_failure  # type: ignore[attr-defined]
    return sub


def test_anonymous_connect_is_refused(secure_broker):
    c = Client(secure_broker.url, "anon")
    rc = c.connect()
    c.close()
    assert rc.is_failure and "authori" in str(rc).lower()  # type: ignore[attr-defined]
    assert connack_ok(secure_broker.service_urls["ingest"])


def test_device_wrong_password_is_refused(secure_broker):
    creds = add_device(secure_broker, "68", "cam-1")
    wait_for(lambda: connack_ok(creds.url(secure_broker.host, secure_broker.port)))
    assert not connack_ok(
        Credentials(creds.username, "wrong").url(secure_broker.host, secure_broker.port)
    )


def test_device_publishes_only_as_itself_in_its_province(secure_broker):
    creds = add_device(secure_broker, "68", "cam-1")
    wait_for(lambda: connack_ok(creds.url(secure_broker.host, secure_broker.port)))
    sub = ingest_subscriber(secure_broker)
    dev = Client(creds.url(secure_broker.host, secure_broker.port), "cam-1")
    assert not dev.connect().is_failure  # type: ignore[attr-defined]
    denied = [
        "ioc/v1/68/security/cam-2/intrusion",  # another source
        "ioc/v1/46/security/cam-1/intrusion",  # another province
        "ioc/v1/68/status/cam-2",  # another device's status
        "ioc/v1/68/security/cam-1x/intrusion",  # a prefix of its id is not its id
        "other/topic",
    ]
    # MQTT 5 publishers are told (PUBACK "Not authorized"); MQTT 3.1.1 ones cannot be.
    assert {str(dev.publish(topic, b"{}")) for topic in denied} == {"Not authorized"}
    allowed = ["ioc/v1/68/security/cam-1/intrusion", "ioc/v1/68/status/cam-1"]
    for topic in allowed:
        assert not dev.publish(topic, b"{}").is_failure  # type: ignore[attr-defined]
    # One publisher's QoS 1 messages arrive in order: once the last allowed one is here,
    # any denied one that had been forwarded would be here too.
    wait_for(lambda: len(sub.messages) >= len(allowed))
    dev.close()
    sub.close()
    assert [t for t, _ in sub.messages] == allowed


def test_device_cannot_subscribe(secure_broker):
    creds = add_device(secure_broker, "68", "cam-1")
    wait_for(lambda: connack_ok(creds.url(secure_broker.host, secure_broker.port)))
    sub = ingest_subscriber(secure_broker)
    dev = Client(creds.url(secure_broker.host, secure_broker.port), "cam-1")
    dev.connect()
    # Mosquitto 2.0 grants the SUBACK and applies the read ACL to every message instead.
    dev.subscribe("ioc/v1/#")
    dev.subscribe("ioc/v1/68/security/cam-1/#")  # not even its own topics
    replay = Client(secure_broker.service_urls["replay"], "replay")
    replay.connect()
    for i in range(3):
        replay.publish(f"ioc/v1/68/security/cam-1/e{i}", b"{}")
    wait_for(lambda: len(sub.messages) == 3)
    # Deliveries of the same message to two subscribers leave the broker together; the
    # device's loop is given a moment beyond the ingest's anyway.
    time.sleep(0.2)
    for c in (replay, dev, sub):
        c.close()
    assert dev.messages == []


def test_ingest_account_cannot_publish(secure_broker):
    sub = ingest_subscriber(secure_broker)
    ingest2 = Client(secure_broker.service_urls["ingest"], "ingest-pub")
    ingest2.connect()
    ingest2.publish("ioc/v1/68/security/cam-1/forged", b"{}")
    replay = Client(secure_broker.service_urls["replay"], "replay")
    replay.connect()
    replay.publish("ioc/v1/68/security/cam-1/real", b"{}")
    wait_for(lambda: len(sub.messages) >= 1)
    for c in (replay, ingest2, sub):
        c.close()
    assert [t for t, _ in sub.messages] == ["ioc/v1/68/security/cam-1/real"]


def test_disable_and_rotate_take_effect_on_reload_without_restart(secure_broker):
    host, port = secure_broker.host, secure_broker.port
    pid = secure_broker.proc.pid
    creds = add_device(secure_broker, "68", "cam-1")
    wait_for(lambda: connack_ok(creds.url(host, port)))

    registry = AccountRegistry(secure_broker.data_dir)
    new = registry.rotate_device("68", "cam-1")
    registry.save()
    secure_broker.reload()
    wait_for(lambda: connack_ok(new.url(host, port)))
    assert not connack_ok(creds.url(host, port))

    live = Client(new.url(host, port), "live")
    assert not live.connect().is_failure  # type: ignore[attr-defined]
    ingest = ingest_subscriber(secure_broker)
    registry = AccountRegistry(secure_broker.data_dir)
    registry.set_device_enabled("68", "cam-1", False)
    registry.save()
    secure_broker.reload()
    wait_for(lambda: not connack_ok(new.url(host, port)))
    # Mosquitto re-checks connected clients on reload: the open session is dropped too.
    wait_for(lambda: not live.client.is_connected())
    live.close()
    # Everyone else keeps their connection through the reload.
    assert ingest.client.is_connected() and len(ingest.connack) == 1
    ingest.close()
    assert secure_broker.proc.pid == pid and secure_broker.proc.poll() is None


def ioc(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ioc CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "ioc", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _password(out: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith("password"))


def test_cli_manages_devices_on_a_running_broker(secure_broker):
    data_dir = secure_broker.data_dir.parent
    host, port = secure_broker.host, secure_broker.port
    added = ioc(data_dir, "devices", "add", "--province", "68", "--source", "cam-9")
    assert added.returncode == 0, added.stderr
    assert f"pid {secure_broker.proc.pid}" in added.stdout
    first = Credentials("68.cam-9", _password(added.stdout))
    wait_for(lambda: connack_ok(first.url(host, port)))

    # Files hold hashes only, mode 0600.
    for name in ("accounts.json", "passwd", "acl"):
        path = secure_broker.data_dir / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert first.password not in path.read_text()

    listed = ioc(data_dir, "devices", "list", "--json")
    rows = json.loads(listed.stdout)["devices"]
    assert [(d["username"], d["enabled"]) for d in rows] == [("68.cam-9", True)]
    assert "hash" not in listed.stdout

    again = ioc(data_dir, "devices", "add", "--province", "68", "--source", "cam-9")
    assert again.returncode == 1 and "already registered" in again.stderr
    bad = ioc(data_dir, "devices", "add", "--province", "99", "--source", "cam-9")
    assert bad.returncode == 1 and "unknown province" in bad.stderr

    rotated = ioc(data_dir, "devices", "rotate", "--province", "68", "--source", "cam-9")
    assert rotated.returncode == 0, rotated.stderr
    second = Credentials("68.cam-9", _password(rotated.stdout))
    wait_for(lambda: connack_ok(second.url(host, port)))
    assert not connack_ok(first.url(host, port))

    disabled = ioc(data_dir, "devices", "disable", "--province", "68", "--source", "cam-9")
    assert disabled.returncode == 0, disabled.stderr
    wait_for(lambda: not connack_ok(second.url(host, port)))

    svc = ioc(data_dir, "devices", "service", "rotate", "ingest")
    assert svc.returncode == 0, svc.stderr
    ingest = Credentials("ioc-ingest", _password(svc.stdout))
    wait_for(lambda: connack_ok(ingest.url(host, port)))
    assert not connack_ok(secure_broker.service_urls["ingest"])
    assert secure_broker.proc.poll() is None


def test_cli_without_running_broker_says_so(tmp_path):
    out = ioc(tmp_path, "devices", "add", "--province", "46", "--source", "bus-7")
    assert out.returncode == 0, out.stderr
    assert "no running broker" in out.stdout


def _make_ca(directory: Path, host: str) -> TlsFiles:
    """A throwaway CA and a server certificate for host, written as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("IOC test CA"))
        .issuer_name(name("IOC test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key_file.chmod(0o600)
    return files


def test_tls_listener_accepts_a_client_trusting_the_ca(tmp_path):
    tls = _make_ca(tmp_path, "127.0.0.1")
    with MosquittoBroker(tmp_path / "data" / "mosquitto", secure=True, tls=tls) as broker:
        creds = add_device(broker, "68", "cam-1")
        plain_ingest = broker.service_urls["ingest"]
        tls_ingest = plain_ingest.replace("mqtt://", "mqtts://").replace(
            f":{broker.port}", f":{broker.tls_port}"
        )
        sub = Client(f"{tls_ingest}?cafile={tls.ca_file}", "ingest-tls")
        assert not sub.connect().is_failure  # type: ignore[attr-defined]
        sub.subscribe("ioc/v1/#")
        # The device over TLS with the lean publisher (raw socket + ssl), its own credentials.
        dev_url = creds.url(broker.host, broker.tls_port, "mqtts") + f"?cafile={tls.ca_file}"
        with FastPublisher(dev_url, client_id="cam-1-tls") as pub:
            pub.publish([("ioc/v1/68/security/cam-1/intrusion", b"{}")])
        wait_for(lambda: len(sub.messages) == 1)
        sub.close()

        # Without the CA (system trust store only) the server certificate is not trusted.
        untrusted = FastPublisher(
            creds.url(broker.host, broker.tls_port, "mqtts"), reconnect_timeout_s=1
        )
        with pytest.raises(PublishError, match="certificate not trusted"):
            untrusted.publish([("ioc/v1/68/security/cam-1/intrusion", b"{}")])
        # Credentials are still required over TLS.
        anon = FastPublisher(
            f"mqtts://nobody:x@{broker.host}:{broker.tls_port}?cafile={tls.ca_file}",
            reconnect_timeout_s=1,
        )
        with pytest.raises(PublishError, match="refused the credentials"):
            anon.publish([("ioc/v1/68/security/cam-1/intrusion", b"{}")])


EVENT = {
    "source": "cam-1",
    "kind": "security.intrusion",
    "severity": 3,
    "province": "68",
    "lat": 11.94,
    "lon": 108.44,
    "attrs": {"camera": "cam-1", "confidence": 0.9, "zone": "Cổng chợ"},
}


def _event(**changes: object) -> bytes:
    ts = dt.datetime.now(dt.UTC).replace(microsecond=0)
    data = {"id": f"cam-1:{uuid.uuid4().hex}", "ts": ts.isoformat(), **EVENT, **changes}
    return json.dumps(data).encode()


def test_ingest_with_its_account_stores_device_events_and_dead_letters_spoofed_payloads(
    secure_broker, store_url, tmp_path
):
    creds = add_device(secure_broker, "68", "cam-1")
    wait_for(lambda: connack_ok(creds.url(secure_broker.host, secure_broker.port)))
    worker = WorkerProcess(
        db_url=store_url,
        mqtt_url=secure_broker.service_urls["ingest"],
        name=f"ingest-sec-{uuid.uuid4().hex[:6]}",
        log_path=tmp_path / "ingest.log",
    ).start()
    try:
        worker.wait_ready()
        dev_url = creds.url(secure_broker.host, secure_broker.port)
        with FastPublisher(dev_url, client_id="cam-1") as pub:
            pub.publish(
                [
                    ("ioc/v1/68/security/cam-1/intrusion", _event()),
                    # On its own topic, a payload claiming another device: the ACL lets it
                    # through (the topic is the device's), ingest refuses it.
                    ("ioc/v1/68/security/cam-1/intrusion", _event(source="cam-2")),
                    ("ioc/v1/68/security/cam-1/intrusion", _event(province="46")),
                ]
            )
        store = open_store(store_url)
        try:
            wait_for(lambda: store.count_events() + len(store.dead_letters()) >= 3, timeout=60)
            reasons = [d.reason for d in store.dead_letters()]
            assert store.count_events() == 1
        finally:
            store.close()
        assert len(reasons) == 2 and all("contradicts" in r for r in reasons), reasons
    finally:
        worker.terminate()


def test_replay_uses_its_service_account_and_wrong_credentials_are_a_clear_error(
    secure_broker, tmp_path
):
    sub = ingest_subscriber(secure_broker)
    feed = Path(__file__).parents[1] / "sample_feeds" / "lam-dong-68.jsonl.gz"
    window = ("--from", "07:00", "--until", "07:02", "--speed", "max", "--quiet", "--json")
    url = secure_broker.service_urls["replay"]
    ok = subprocess.run(
        [sys.executable, "-m", "ioc", "--data-dir", str(tmp_path), "--mqtt-url", url,
         "replay", *window, str(feed)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    published = json.loads(ok.stdout)["messages"]
    assert published > 0
    wait_for(lambda: len(sub.messages) >= published)
    sub.close()

    bad_url = Credentials("ioc-replay", "wrong").url(secure_broker.host, secure_broker.port)
    bad = subprocess.run(
        [sys.executable, "-m", "ioc", "--data-dir", str(tmp_path), "--mqtt-url", bad_url,
         "replay", *window, str(feed)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "Not authorized" in bad.stderr or "Bad user name or password" in bad.stderr, bad.stderr
    assert "wrong" not in bad.stderr  # the password is never echoed


def _start_until_banner(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`ioc --data-dir TMP ARGS` in a process of its own; its output up to the banner's
    "Ctrl+C" line (or its exit)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc", "--data-dir", str(tmp_path), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the banner ends with "Ctrl+C" or the process exits
            lines.append(line)
            if "Ctrl+C" in line:
                break
    except BaseException:
        _stop(proc, 30)
        raise
    return proc, "".join(lines)


def _stop(proc: subprocess.Popen[str], timeout: float) -> None:
    proc.terminate()
    proc.wait(timeout=timeout)
    proc.stdout.close()  # type: ignore[union-attr]


def test_demo_says_its_broker_is_anonymous(tmp_path):
    from ioc.broker import free_port

    proc, out = _start_until_banner(
        tmp_path, "demo", "--port", str(free_port()), "--speed", "1", "--history-events", "2000"
    )
    _stop(proc, 60)
    assert "ANONYMOUS" in out and "loopback only" in out, out
    assert "mqtt://127.0.0.1:" in out
    assert "2,000 events over 90 days" in out, out  # the first start writes the history


def test_ioc_broker_is_secure_by_default_and_ioc_devices_reloads_it(tmp_path):
    """The user flow: `ioc broker`, then `ioc devices add` on the same data dir, no restart."""
    from ioc.broker import free_port

    port = free_port()
    proc, out = _start_until_banner(tmp_path, "broker", "--port", str(port))
    try:
        assert "accounts and ACL required" in out, out
        ingest_url = next(w for w in out.split() if w.startswith("mqtt://ioc-ingest:"))
        assert connack_ok(ingest_url)
        assert not connack_ok(f"mqtt://127.0.0.1:{port}")  # anonymous

        added = ioc(tmp_path, "devices", "add", "--province", "46", "--source", "bus-7")
        assert added.returncode == 0 and "reloaded" in added.stdout, added.stdout + added.stderr
        device = Credentials("46.bus-7", _password(added.stdout))
        wait_for(lambda: connack_ok(device.url("127.0.0.1", port)))
        assert proc.poll() is None
    finally:
        _stop(proc, 30)
    assert not (tmp_path / "mosquitto" / "mosquitto.pid").exists()


def test_ingest_over_tls_stores_what_a_device_sends_over_tls(tmp_path, sqlite_url):
    """Transport, not store, is under test here: one backend is enough."""
    tls = _make_ca(tmp_path, "127.0.0.1")
    with MosquittoBroker(tmp_path / "data" / "mosquitto", secure=True, tls=tls) as broker:
        creds = add_device(broker, "68", "cam-1")
        ingest_tls = (
            broker.service_urls["ingest"]
            .replace("mqtt://", "mqtts://")
            .replace(f":{broker.port}", f":{broker.tls_port}")
            + f"?cafile={tls.ca_file}"
        )
        worker = WorkerProcess(
            db_url=sqlite_url, mqtt_url=ingest_tls, name="ingest-tls",
            log_path=tmp_path / "ingest.log",
        ).start()  # fmt: skip
        try:
            worker.wait_ready()
            dev_url = creds.url(broker.host, broker.tls_port, "mqtts") + f"?cafile={tls.ca_file}"
            n = 500
            with FastPublisher(dev_url, client_id="cam-1") as pub:
                pub.publish([("ioc/v1/68/security/cam-1/intrusion", _event()) for _ in range(n)])
            store = open_store(sqlite_url)
            try:
                wait_for(lambda: store.count_events() >= n, timeout=60)
                assert store.count_events() == n and store.dead_letters() == []
            finally:
                store.close()
        finally:
            worker.terminate()


def test_bench_ingest_runs_through_the_secured_broker(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ioc", "--data-dir", str(tmp_path), "bench", "ingest",
         "-n", "500", "--secure-devices", "20", "--json"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["broker_accounts"] == "password_file + acl_file, 20 devices"
    assert (result["raw_received"], result["stored"], result["lost"]) == (500, 500, 0)
    assert ":" not in result["broker"].split("@")[0].removeprefix("mqtt://")  # no password
