"""Broker URLs with credentials and TLS, and the account registry's files (no broker needed)."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest

from ioc.broker import BrokerUrl, MosquittoBroker, mosquitto_config
from ioc.broker.accounts import AccountError, AccountRegistry, mosquitto_hash


def test_mqtts_url_defaults_to_8883_and_takes_a_ca_file(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    b = BrokerUrl.parse(f"mqtts://68.cam-1:p%40ss@broker.ioc.local?cafile={ca}")
    assert (b.tls, b.port, b.ca_file, b.username, b.password) == (
        True, 8883, str(ca), "68.cam-1", "p@ss",
    )  # fmt: skip
    assert "p@ss" not in str(b) and str(b).startswith("mqtts://68.cam-1@broker.ioc.local:8883")
    assert BrokerUrl.parse("mqtt://h").tls is False


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mqtt://h?cafile=/etc/hosts", "needs TLS"),
        ("mqtts://h?cafile=/nonexistent/ca.crt", "does not exist"),
        ("http://h", "mqtts://"),
    ],
)
def test_bad_tls_urls_are_explained(url, message):
    with pytest.raises(ValueError, match=message):
        BrokerUrl.parse(url)


def test_hash_is_mosquittos_pbkdf2_sha512_format():
    h = mosquitto_hash("secret", iterations=101)
    _, kind, iterations, salt, digest = h.split("$")
    assert (kind, iterations) == ("7", "101")
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", base64.b64decode(salt), 101, dklen=64)
    assert base64.b64decode(digest) == expected
    assert mosquitto_hash("secret") != mosquitto_hash("secret")  # salted


def test_registry_renders_acl_and_password_file(tmp_path):
    reg = AccountRegistry(tmp_path)
    creds = reg.add_device("46", "bus-12")
    reg.set_service("ingest")
    reg.add_device("68", "cam-3")
    reg.set_device_enabled("68", "cam-3", False)
    reg.save()
    acl = (tmp_path / "acl").read_text()
    assert (
        "user 46.bus-12\ntopic write ioc/v1/46/+/bus-12/#\ntopic write ioc/v1/46/status/bus-12"
        in acl
    )
    assert "user ioc-ingest\ntopic read ioc/v1/#" in acl
    assert "cam-3" not in acl  # disabled: no ACL and no password line
    passwd = (tmp_path / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == ["ioc-ingest", "46.bus-12"]
    assert creds.password not in (tmp_path / "accounts.json").read_text()
    for name in ("acl", "passwd", "accounts.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert (
        json.loads((tmp_path / "accounts.json").read_text())["devices"]["68.cam-3"]["enabled"]
        is False
    )


@pytest.mark.parametrize(
    ("province", "source", "message"),
    [
        ("99", "cam-1", "unknown province"),
        ("68", "cam:1", "':' cannot be used"),
        ("68", "cam/1", "not a valid device id"),
        ("68", "cam+", "not a valid device id"),
    ],
)
def test_bad_devices_are_refused(tmp_path, province, source, message):
    with pytest.raises(AccountError, match=message):
        AccountRegistry(tmp_path).add_device(province, source)


def test_secure_config_has_no_anonymous_access(tmp_path):
    conf = mosquitto_config(1883, tmp_path, secure=True)
    lines = [line for line in conf.splitlines() if not line.startswith("#")]
    assert "allow_anonymous false" in lines and "allow_anonymous true" not in lines
    assert f"password_file {tmp_path.resolve()}/passwd" in conf
    assert f"acl_file {tmp_path.resolve()}/acl" in conf


@pytest.mark.mqtt  # MosquittoBroker looks for the binary before it checks the host
def test_anonymous_broker_only_on_loopback(tmp_path):
    with pytest.raises(ValueError, match="only for loopback"):
        MosquittoBroker(tmp_path, host="0.0.0.0")


def test_stale_pid_file_is_not_signalled(tmp_path):
    from ioc.broker.accounts import PID_FILE, broker_pid, reload

    # The pid of a live process that is not this directory's broker (this test itself).
    (tmp_path / PID_FILE).write_text(f"{os.getpid()}\n")
    assert broker_pid(tmp_path) is None and reload(tmp_path) is None


def test_settings_accept_mqtts_and_never_echo_a_password():
    from ioc.settings import ConfigError, load_settings

    url = "mqtts://ioc-ingest:s3cr3t@broker.ioc.local:8883"
    assert load_settings(mqtt_url=url).mqtt_url == url
    with pytest.raises(ConfigError, match="mqtt_url") as err:
        load_settings(mqtt_url="http://ioc-ingest:s3cr3t@broker")
    assert "s3cr3t" not in str(err.value) and "ioc-ingest:***@broker" in str(err.value)
