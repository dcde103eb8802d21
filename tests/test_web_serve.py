"""Production serving (issue 15): `ioc serve --workers`, pool sizes, the read replica URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from dash_support import PASSWORD, add_user, dash_call, seed
from test_dash_security import FEED_VALUES, login

from dashboards.cli import gunicorn_command, pool_size
from ioc.settings import ConfigError, load_settings
from ioc.store import open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_pids(parent: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(entry))
    return found


@pytest.mark.slow
def test_serve_with_workers_answers_healthz_and_a_login(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ioc.db'}"
    store = open_store(db_url, migrate=True)
    add_user(store, "op68", "operator", "68")
    store.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "wb")
    cmd = [sys.executable, "-m", "ioc", "--db-url", db_url, "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [*cmd, "serve", "--workers", "2", "--threads", "4", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and health is None:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                health = requests.get(f"{base}/healthz", timeout=20)
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        assert health is not None and health.status_code == 200
        assert len(worker_pids(proc.pid)) == 2, "gunicorn runs two workers"
        # One Dash app per worker: every callback registered once (twice would run twice).
        outputs = [
            d["output"] for d in requests.get(f"{base}/_dash-dependencies", timeout=20).json()
        ]
        assert len(outputs) == len(set(outputs)), "callbacks registered twice"
        # Signed out: the login page; a wrong password is refused.
        http = requests.Session()
        bad = http.post(
            f"{base}/auth/login",
            data={"username": "op68", "password": "sai", "next": "/live"},
            allow_redirects=False,
            timeout=10,
        )
        assert bad.status_code == 303 and "error" in bad.headers["Location"]
        ok = http.post(
            f"{base}/auth/login",
            data={"username": "op68", "password": PASSWORD, "next": "/live"},
            allow_redirects=False,
            timeout=10,
        )
        assert ok.status_code == 303 and ok.headers["Location"] == "/live"
        # The session works on whichever worker answers (the secret and sessions are shared).
        for _ in range(6):
            page = http.get(f"{base}/live", headers={"Accept": "text/html"}, timeout=10)
            assert page.status_code == 200 and "/login" not in page.url
            fresh = requests.get(f"{base}/live", headers={"Accept": "text/html"}, timeout=10)
            assert fresh.url.endswith("/login?next=/live")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()


def test_gunicorn_command_sizes_the_pool_from_threads():
    argv, env = gunicorn_command(
        host="0.0.0.0", port=8050, workers=3, threads=6, secure_cookies=True, stale_after=90
    )
    assert argv[1:3] == ["-m", "gunicorn"] and argv[-1].endswith(
        "create_server(stale_after_s=90, secure_cookies=True)"
    )
    assert env["IOC_WEB_WORKERS"] == "3" and env["IOC_WEB_THREADS"] == "6"
    assert int(env["IOC_WEB_POOL_SIZE"]) == pool_size(6) > 6
    assert env["IOC_WEB_BIND"] == "0.0.0.0:8050"


def test_read_url_must_be_a_postgresql_replica(tmp_path):
    with pytest.raises(ConfigError):
        load_settings(data_dir=str(tmp_path), db_read_url=f"sqlite:///{tmp_path / 'r.db'}")


def test_a_primary_reports_no_replica_lag(store):
    assert store.replica_lag_s() is None


@pytest.mark.postgres
def test_dashboard_reads_go_to_the_read_url(tmp_path, pg_url):
    """Events only on the primary; the live feed reads the (empty) 'replica'."""
    primary = f"sqlite:///{tmp_path / 'ioc.db'}"
    settings = load_settings(data_dir=str(tmp_path), db_url=primary, db_read_url=pg_url)
    store = open_store(primary, migrate=True)
    open_store(pg_url, migrate=True).close()
    add_user(store, "op68", "operator", "68")
    seed(store, tmp_path)
    from dashboards.app import create_app

    app = create_app(settings)
    try:
        client = app.server.test_client()
        csrf = login(client, "op68")  # sessions live on the primary
        r = dash_call(client, csrf, "live-feed.children", FEED_VALUES)
        assert r.status_code == 200
        answer = r.get_json()["response"]
        assert answer["live-feed-count"]["children"] == "0"
        status = dash_call(client, csrf, "shell-status.data", {"status-tick.n_intervals": 1})
        assert status.status_code == 200
        assert "replica_lag_s" in status.get_json()["response"]["shell-status"]["data"]
    finally:
        app.server.extensions["ioc"].close()
        store.close()
