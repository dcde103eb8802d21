"""Settings: explicit > environment > TOML file > defaults, with readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ioc.settings import ConfigError, load_settings, safe_url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for key in ("IOC_DB_URL", "IOC_MQTT_URL", "IOC_DATA_DIR", "IOC_CONFIG", "IOC_HTTP_PORT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_use_embedded_sqlite_and_broker():
    s = load_settings()
    assert s.db_url == "sqlite:///.ioc-data/ioc.db"
    assert s.mqtt_url == "embedded"
    assert (s.http_host, s.http_port, s.timezone, s.language) == (
        "127.0.0.1",
        8050,
        "Asia/Ho_Chi_Minh",
        "vi",
    )


def test_precedence_explicit_over_env_over_file(monkeypatch, tmp_path):
    Path("ioc.toml").write_text(
        'http_port = 9001\nmqtt_url = "mqtt://file:1883"\ndata_dir = "fromfile"\n'
    )
    s = load_settings()
    assert (s.http_port, s.mqtt_url, s.db_url) == (
        9001,
        "mqtt://file:1883",
        "sqlite:///fromfile/ioc.db",
    )
    monkeypatch.setenv("IOC_HTTP_PORT", "9002")
    assert load_settings().http_port == 9002
    assert load_settings(http_port=9003).http_port == 9003
    assert load_settings(http_port=None).http_port == 9002  # None means "not given"


def test_ioc_config_names_the_file(monkeypatch, tmp_path):
    cfg = tmp_path / "other.toml"
    cfg.write_text('db_url = "postgresql://u@h/db"\n')
    monkeypatch.setenv("IOC_CONFIG", str(cfg))
    assert load_settings().db_url == "postgresql://u@h/db"
    monkeypatch.setenv("IOC_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IOC_DB_URL": "mysql://x"}, "db_url"),
        ({"IOC_MQTT_URL": "http://x"}, "mqtt_url"),
        ({"IOC_HTTP_PORT": "seventy"}, "http_port"),
        ({"IOC_HTTP_PORT": "70000"}, "http_port"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_unknown_and_malformed_file_keys_are_errors():
    Path("ioc.toml").write_text("no_such_setting = 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings()
    Path("ioc.toml").write_text("http_port = [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings()


def test_session_secret_is_generated_once_outside_the_repo(tmp_path):
    s = load_settings(data_dir=tmp_path / "d")
    first = s.session_secret()
    assert len(first) == 64 and s.session_secret() == first
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert load_settings(secret_key="given").session_secret() == "given"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ioc:s3cr3t@db:5432/ioc", "postgresql://ioc:***@db:5432/ioc"),
        (
            "mqtts://ingest:p@ss@broker:8883?cafile=/ca.pem",
            "mqtts://ingest:***@broker:8883?cafile=/ca.pem",
        ),
        ("rtsp://admin:mat-khau@10.0.0.7/stream1", "rtsp://admin:***@10.0.0.7/stream1"),
        ("mqtt://ingest@broker:1883", "mqtt://ingest@broker:1883"),
        ("sqlite:///data/ioc.db", "sqlite:///data/ioc.db"),
        ("clips/moving.avi", "clips/moving.avi"),
    ],
)
def test_safe_url_masks_only_the_password(url, shown):
    assert safe_url(url) == shown
