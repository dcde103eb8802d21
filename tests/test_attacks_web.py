"""Attacks on sessions, login, audit scope, lookup quota, replay and the router (issue 11).

Each test plays the attacker against the real app (Flask test client over the real
WSGI stack) and a real store on both backends, and fails on the landed code.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from dash_support import PASSWORD, add_user, dash_call, seed, write_feed
from test_dash_security import FEED_VALUES, login, text

from ioc.auth import LoginPolicy, LoginThrottled, authenticate, hash_password
from ioc.population import open_directory
from ioc.population.service import LookupRefused, LookupService, RateLimit
from ioc.settings import load_settings
from ioc.store import open_store


@pytest.fixture
def env(tmp_path, store_url):
    settings = load_settings(data_dir=str(tmp_path), db_url=store_url)
    store = open_store(settings.db_url, migrate=True)
    add_user(store, "op68", "operator", "68")
    add_user(store, "admin", "admin")
    add_user(store, "admin68", "admin", "68")
    seeded = seed(store, tmp_path)
    from dashboards.app import create_app

    app = create_app(settings)
    yield app, store, seeded, settings
    store.close()
    app.server.extensions["ioc"].close()


def feed_ok(client, csrf: str) -> int:
    return dash_call(client, csrf, "live-feed.children", FEED_VALUES).status_code


def replay_cookie(app, cookie: str, csrf: str):
    """A second browser (the attacker's) holding a copied session cookie."""
    thief = app.server.test_client()
    thief.set_cookie("ioc_session", cookie)
    thief.set_cookie("_csrf_token", csrf)
    return thief


# --- item 3: sessions end ----------------------------------------------------------------


def test_cookie_replayed_after_logout_is_refused(env):
    app, store, _, _ = env
    client = app.server.test_client()
    csrf = login(client, "op68")
    stolen = client.get_cookie("ioc_session").value
    assert feed_ok(client, csrf) == 200
    assert len(store.sessions("op68")) == 1
    assert client.post("/auth/logout").status_code == 303
    thief = replay_cookie(app, stolen, csrf)
    assert feed_ok(thief, csrf) == 401
    assert store.sessions("op68") == []


@pytest.mark.parametrize(
    "change",
    [
        {"password_hash": hash_password("mot-mat-khau-moi")},
        {"role": "leader"},
        {"province": "46"},
    ],
    ids=["password", "role", "province"],
)
def test_any_account_change_ends_every_session(env, change):
    app, store, _, _ = env
    a, b = app.server.test_client(), app.server.test_client()
    csrf_a, csrf_b = login(a, "op68"), login(b, "op68")
    assert len(store.sessions("op68")) == 2
    store.update_user("op68", **change)
    assert feed_ok(a, csrf_a) == 401 and feed_ok(b, csrf_b) == 401
    assert store.sessions("op68") == []


def test_disable_then_enable_does_not_revive_the_cookie(env):
    app, store, _, _ = env
    client = app.server.test_client()
    csrf = login(client, "op68")
    store.update_user("op68", disabled=True)
    store.update_user("op68", disabled=False)
    assert feed_ok(client, csrf) == 401
    # A fresh login works again.
    fresh = app.server.test_client()
    assert feed_ok(fresh, login(fresh, "op68")) == 200


def test_idle_and_absolute_lifetime_end_sessions(tmp_path, store_url):
    store = open_store(store_url, migrate=True)
    try:
        add_user(store, "u", "operator")
        store.create_session("tok", "u", client_addr="10.0.0.1")
        hour = timedelta(hours=1)
        assert store.session_user("tok", idle=hour, max_age=hour).username == "u"
        # A session older than the absolute lifetime ends even if it was just used.
        assert store.session_user("tok", idle=hour, max_age=timedelta(seconds=0)) is None
        assert store.sessions("u") == []
        store.create_session("tok2", "u", client_addr=None)
        assert store.session_user("tok2", idle=timedelta(seconds=0), max_age=hour) is None
        (stored,) = store._rows("SELECT count(*) AS n FROM web_sessions")
        assert int(stored["n"]) == 0
    finally:
        store.close()


def test_store_keeps_only_a_hash_of_the_cookie_token(env):
    app, store, _, _ = env
    client = app.server.test_client()
    login(client, "op68")
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(app.server)
    token = serializer.loads(client.get_cookie("ioc_session").value)["sid"]
    (session,) = store.sessions("op68")
    assert session.id_hash != token and token not in session.id_hash
    assert session.client_addr == "127.0.0.1"


def ioc_cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `ioc` as an operator would, in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "ioc", "--db-url", settings.db_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_cli_lists_and_revokes_sessions(env):
    app, store, _, settings = env
    client = app.server.test_client()
    csrf = login(client, "op68")
    listed = ioc_cli(settings, "users", "sessions", "op68")
    assert listed.returncode == 0, listed.stderr
    assert "127.0.0.1" in listed.stdout and "1 session(s)" in listed.stdout
    revoked = ioc_cli(settings, "users", "sessions", "op68", "--revoke")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked 1" in revoked.stdout
    assert feed_ok(client, csrf) == 401
    assert store.audit_entries(action="sessions_revoke")[0].target == "op68"
    unknown = ioc_cli(settings, "users", "sessions", "nobody")
    assert unknown.returncode != 0 and "nobody" in unknown.stderr


# --- item 5: login throttling --------------------------------------------------------------


def test_brute_force_is_throttled_cheaply_and_audited_once_per_burst(tmp_path, store_url):
    store = open_store(store_url, migrate=True)
    try:
        add_user(store, "victim", "operator")
        policy = LoginPolicy(free_failures=3, base=timedelta(seconds=30))
        for _ in range(3):
            with pytest.raises(Exception) as exc:
                authenticate(store, "victim", "wrong-guess-xx", source="203.0.113.9", policy=policy)
            assert not isinstance(exc.value, LoginThrottled)
        began = time.perf_counter()
        for _ in range(20):
            with pytest.raises(LoginThrottled) as exc:
                # Even the right password is refused while throttled: guessing is pointless.
                authenticate(store, "victim", PASSWORD, source="203.0.113.9", policy=policy)
        per_try = (time.perf_counter() - began) / 20
        assert 25 <= exc.value.retry_after_s <= 31
        assert "giây" in str(exc.value) and "try again" in str(exc.value)
        # An Argon2id verify costs ~50+ ms and 64 MiB here; a throttled try must not.
        assert per_try < 0.03, f"{per_try * 1000:.1f} ms per throttled attempt"
        assert len(store.audit_entries(action="login_failed")) == 3
        assert len(store.audit_entries(action="login_throttled")) == 1
        print(f"throttled attempt: {per_try * 1000:.2f} ms ({store.backend})")
    finally:
        store.close()


def test_throttle_per_address_catches_password_spraying(tmp_path, store_url):
    store = open_store(store_url, migrate=True)
    try:
        policy = LoginPolicy(free_failures=2, address_factor=2, base=timedelta(seconds=30))
        for i in range(4):  # four different names from one address
            with pytest.raises(Exception) as exc:
                authenticate(store, f"name{i}", "guess-guess", source="198.51.100.7", policy=policy)
            assert not isinstance(exc.value, LoginThrottled)
        with pytest.raises(LoginThrottled):
            authenticate(store, "name9", "guess-guess", source="198.51.100.7", policy=policy)
        # Another address is not affected.
        add_user(store, "ok", "operator")
        assert authenticate(store, "ok", PASSWORD, source="192.0.2.1", policy=policy).username
    finally:
        store.close()


def test_login_page_says_when_to_retry(env):
    app, store, _, _ = env
    client = app.server.test_client()
    for _ in range(5):
        r = client.post("/auth/login", data={"username": "op68", "password": "x" * 12})
        assert "error=1" in r.headers["Location"]
    r = client.post("/auth/login", data={"username": "op68", "password": PASSWORD})
    assert r.status_code == 303 and "error=throttled" in r.headers["Location"]
    assert client.get_cookie("ioc_session") is None or store.sessions("op68") == []
    from dashboards.pages.login import error_text

    assert "thử lại sau 3 giây" in error_text("throttled", "3", "vi")
    assert "try again in 3 seconds" in error_text("throttled", "3", "en")
    assert error_text("throttled", "<script>", "en").endswith("in 1 seconds.")


# --- item 4: audit scoping ------------------------------------------------------------------


AUDIT_VALUES = {
    "audit-filter.n_clicks": 1,
    "audit-actor.value": None,
    "audit-action.value": None,
    "audit-since.value": None,
    "audit-limit.value": 500,
}


def test_scoped_admin_reads_and_exports_only_their_province(env):
    app, store, seeded, _ = env
    store.append_audit("someone", "lookup", "46001", {"q": "HUE-SECRET"}, province="46")
    store.append_audit("someone", "lookup", "68001", {"q": "DALAT-OWN"}, province="68")
    store.append_audit("root", "user_add", "x", {"q": "NATIONAL-ROW"})
    client = app.server.test_client()
    csrf = login(client, "admin68")
    r = dash_call(client, csrf, "audit-table-box.children", AUDIT_VALUES)
    assert r.status_code == 200
    body = text(r)
    assert "DALAT-OWN" in body and "HUE-SECRET" not in body and "NATIONAL-ROW" not in body
    r = dash_call(client, csrf, "audit-download.data", {"audit-export.n_clicks": 1, **AUDIT_VALUES})
    assert r.status_code == 200
    content = r.get_json()["response"]["audit-download"]["data"]["content"]
    rows = list(csv.DictReader(io.StringIO(content)))
    assert any("DALAT-OWN" in row["details"] for row in rows)
    assert {row["province"] for row in rows} == {"68"}
    assert "HUE-SECRET" not in content and "NATIONAL-ROW" not in content
    # The national admin sees all three.
    national = app.server.test_client()
    body = text(
        dash_call(national, login(national, "admin"), "audit-table-box.children", AUDIT_VALUES)
    )
    assert "HUE-SECRET" in body and "NATIONAL-ROW" in body and "DALAT-OWN" in body


def test_alarm_action_writes_exactly_one_audit_row_with_its_province(env):
    app, store, _, _ = env
    alarm = store.alarms(province="68")[0]
    client = app.server.test_client()
    csrf = login(client, "op68")
    before = len(store.audit_entries(action="alarm_acknowledge", limit=1000))
    r = dash_call(
        client,
        csrf,
        "alarm-message.children",
        {"alarm-ack.n_clicks": 1, "alarm-selected.data": {"id": alarm.id}},
    )
    assert r.status_code == 200, r.data
    assert store.get_alarm(alarm.id).state == "acknowledged"
    rows = store.audit_entries(action="alarm_acknowledge", limit=1000)
    assert len(rows) == before + 1
    assert rows[0].province == "68" and rows[0].target == f"alarm:{alarm.id}"


# --- item 6: lookup quota under concurrency -------------------------------------------------


def test_parallel_lookups_never_pass_the_limit(tmp_path, store_url):
    store = open_store(store_url, migrate=True)
    try:
        add_user(store, "op", "operator")
        user = store.get_user("op")
        limit, threads = 10, 24
        service = LookupService(
            store, open_directory(None), rate_limit=RateLimit(limit, timedelta(minutes=5))
        )
        gate = threading.Barrier(threads)
        outcomes: list[str] = []
        lock = threading.Lock()

        def one() -> None:
            gate.wait()
            try:
                service.lookup(
                    user,
                    purpose="search_rescue",
                    case_number="VV-2026/1",
                    national_id="000250841067",
                )
                result = "ok"
            except LookupRefused as exc:
                result = exc.reason
            with lock:
                outcomes.append(result)

        workers = [threading.Thread(target=one) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert outcomes.count("ok") == limit, outcomes
        assert outcomes.count("rate_limited") == threads - limit
        assert len(store.audit_entries(action="lookup")) == limit
        assert service.remaining(user) == 0
    finally:
        store.close()


# --- item 8: replay scope -------------------------------------------------------------------


def test_scoped_engineer_cannot_see_or_stop_another_provinces_replay(tmp_path, mqtt_broker):
    settings = load_settings(
        data_dir=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'ioc.db'}", mqtt_url=mqtt_broker.url
    )
    store = open_store(settings.db_url, migrate=True)
    add_user(store, "eng", "engineer")
    add_user(store, "eng68", "engineer", "68")
    write_feed(tmp_path / "feeds" / "hue-46.jsonl", seconds=600, provinces=("46",))
    from dashboards.app import create_app
    from dashboards.replay_runner import ReplayManager, list_feeds

    app = create_app(settings)
    manager = ReplayManager(
        app.server.extensions["ioc"].replay_dir,
        db_url=settings.db_url,
        mqtt_url=settings.mqtt_url,
        data_dir=tmp_path.resolve(),
    )
    feed = next(f for f in list_feeds(tmp_path) if f.name == "hue-46.jsonl")
    run = manager.start(feed, speed="1", start=None, until=None, loop=True, rebase=True, user="eng")
    try:
        client = app.server.test_client()
        csrf = login(client, "eng68")
        status = dash_call(client, csrf, "replay-status.children", {"replay-tick.n_intervals": 1})
        assert status.status_code == 200
        assert "hue-46" not in text(status) and run.id not in text(status)
        stop = dash_call(client, csrf, "replay-message.children", {"replay-stop.n_clicks": 1})
        assert stop.status_code == 200
        assert manager.is_running(manager.current()), "a scoped engineer stopped Huế's replay"
        assert store.audit_entries(actor="eng68", action="access_denied")
        national = app.server.test_client()
        ncsrf = login(national, "eng")
        status = dash_call(
            national, ncsrf, "replay-status.children", {"replay-tick.n_intervals": 1}
        )
        assert "hue-46" in text(status)
    finally:
        manager.stop("test")
        store.close()
        app.server.extensions["ioc"].close()


# --- item 9: router, Host header, alarm id oracle --------------------------------------------


def router_body(pathname: Any) -> dict[str, Any]:
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": None},
        ],
        "state": [],
        "changedPropIds": ["_pages_location.pathname"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("pathname", [None, 5, {"a": 1}, ["/live"]])
def test_router_never_answers_500(env, pathname):
    app, *_ = env
    anon = app.server.test_client()
    user = app.server.test_client()
    csrf = login(user, "op68")
    for client, headers in ((anon, {}), (user, {"X-CSRFToken": csrf})):
        r = client.post("/_dash-update-component", json=router_body(pathname), headers=headers)
        assert r.status_code in (200, 400), (pathname, r.status_code)
    for junk in ([1], {"output": 3}, {"output": "x", "inputs": "y"}):
        assert anon.post("/_dash-update-component", json=junk).status_code == 400


def test_forged_host_header_is_not_echoed_into_geojson_urls(env):
    app, *_ = env
    client = app.server.test_client()
    csrf = login(client, "admin")
    values = {
        "kpi-select.value": None,
        "kpi-window.value": "7d",
        "kpi-range.start_date": None,
        "kpi-range.end_date": None,
        "kpi-compare.value": None,
        "kpi-province.data": None,
        "kpi-ward.data": None,
    }
    forged = call_with_host(client, csrf, "kpi-map.figure", values, "evil.example")
    assert forged.status_code == 200, forged.data[:300]
    assert "evil.example" not in text(forged)
    assert "/geo/provinces.geojson" in text(forged)
    own = call_with_host(client, csrf, "kpi-map.figure", values, "localhost:8050")
    assert "http://localhost:8050/geo/provinces.geojson" in text(own)


class _HostClient:
    """A test client whose requests carry a chosen Host header."""

    def __init__(self, client: Any, host: str) -> None:
        self.client, self.host = client, host
        # The cookie jar matches by domain: the same browser cookies, sent to the forged host.
        domain = host.split(":")[0]
        for name in ("ioc_session", "_csrf_token"):
            cookie = client.get_cookie(name)
            client.set_cookie(name, cookie.value, domain=domain)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.client.get(*args, headers={"Host": self.host}, **kwargs)

    def post(self, *args: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.post(*args, headers={**(headers or {}), "Host": self.host}, **kwargs)


def call_with_host(client, csrf: str, output: str, values: dict[str, Any], host: str) -> Any:
    """Like dash_call(), with a forged Host header."""
    return dash_call(_HostClient(client, host), csrf, output, values)


def test_alarm_of_another_province_looks_like_a_missing_one(env):
    app, store, _, _ = env
    hue = store.alarms(province="46")[0]
    client = app.server.test_client()
    csrf = login(client, "op68")
    missing = 10**9
    for output, extra in (
        ("alarm-summary.children", {"tick.n_intervals": 1}),
        ("alarm-message.children", {"alarm-ack.n_clicks": 1}),
    ):
        other = dash_call(client, csrf, output, {"alarm-selected.data": {"id": hue.id}, **extra})
        absent = dash_call(client, csrf, output, {"alarm-selected.data": {"id": missing}, **extra})
        assert (other.status_code, other.data) == (absent.status_code, absent.data)
    assert store.get_alarm(hue.id).state == "open"
    denied = store.audit_entries(actor="op68", action="access_denied")
    assert any(e.details.get("alarm") == hue.id for e in denied)
    assert all(e.province == "68" for e in denied)
