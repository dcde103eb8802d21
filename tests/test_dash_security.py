"""Server-side enforcement, tested the way an attacker would: crafted HTTP requests.

An operator scoped to province 68 must never receive province 46 data, whatever
callback body they send; requests without a session or CSRF token are refused.
"""

from __future__ import annotations

import json

import pytest
from dash_support import PASSWORD, dash_call, dash_store, form_login, seed


@pytest.fixture
def env(tmp_path):
    settings, store = dash_store(
        tmp_path, ("op68", "operator", "68"), ("leader", "leader"), ("admin", "admin")
    )
    seeded = seed(store, tmp_path)
    from dashboards.app import create_app

    app = create_app(settings)
    yield app, store, seeded
    store.close()
    app.server.extensions["ioc"].close()


def login(client, username: str) -> str:
    csrf = form_login(client, username)
    session = client.get_cookie("ioc_session")
    assert session is not None and session.http_only and session.same_site == "Lax"
    return csrf


def text(response) -> str:
    """The response body with non-ASCII kept, so place names can be searched."""
    body = response.get_json(silent=True)
    return (
        json.dumps(body, ensure_ascii=False)
        if body is not None
        else response.get_data(as_text=True)
    )


FEED_VALUES = {
    "tick.n_intervals": 1,
    "live-province.value": "68",
    "live-commune.value": "all",
    "live-domain.value": "all",
    "live-severity.value": 0,
}


def test_unauthenticated_requests_are_refused(env):
    app, _store, _ = env
    client = app.server.test_client()
    page = client.get("/live", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert dash_call(client, None, "live-feed.children", FEED_VALUES).status_code == 401
    assert client.get("/geo/provinces.geojson").status_code == 401
    assert client.get("/snapshots/event/whatever").status_code == 401
    assert client.get("/login").status_code == 200


def test_callbacks_need_the_csrf_token(env):
    app, _store, _ = env
    client = app.server.test_client()
    login(client, "op68")
    assert dash_call(client, None, "live-feed.children", FEED_VALUES).status_code == 403
    assert dash_call(client, "wrong", "live-feed.children", FEED_VALUES).status_code == 403


def test_scoped_operator_never_gets_another_province(env):
    app, store, seeded = env
    client = app.server.test_client()
    csrf = login(client, "op68")

    ok = dash_call(client, csrf, "live-feed.children", FEED_VALUES)
    assert ok.status_code == 200
    body = text(ok)
    assert "cam-dl-01" in body and "Lâm Đồng" in body
    assert "cam-hue-01" not in body and "Huế" not in body

    # Asking for Huế, or for everything, is refused, not silently widened.
    for province in ("46", "all", None):
        r = dash_call(
            client, csrf, "live-feed.children", {**FEED_VALUES, "live-province.value": province}
        )
        if province in ("all", None):
            # "all" means "my scope" for a scoped user: still only Lâm Đồng.
            assert r.status_code in (200, 204)
            assert "cam-hue-01" not in text(r)
        else:
            assert r.status_code == 403
    hue_alarm = next(a for a in store.alarms(province="46"))
    hue_event = next(
        e for e in seeded["events"] if e.province == "46" and e.kind == "security.fire"
    )

    r = dash_call(
        client,
        csrf,
        "live-details.children",
        {
            "live-map.clickData": {"points": [{"customdata": ["event", hue_event.id, ""]}]},
            "live-selected.data": None,
        },
    )
    assert r.status_code == 403
    r = dash_call(
        client,
        csrf,
        "live-details.children",
        {
            "live-map.clickData": {"points": [{"customdata": ["device", "cam-hue-01", ""]}]},
            "live-selected.data": None,
        },
    )
    assert r.status_code == 403
    r = dash_call(
        client,
        csrf,
        "alarm-summary.children",
        {"alarm-selected.data": {"id": hue_alarm.id}, "tick.n_intervals": 1},
    )
    # Another province's alarm answers like a missing one (no 403 that proves it exists).
    assert r.status_code == 204
    r = dash_call(
        client,
        csrf,
        "alarm-message.children",
        {"alarm-ack.n_clicks": 1, "alarm-selected.data": {"id": hue_alarm.id}},
    )
    assert r.status_code == 204
    assert store.get_alarm(hue_alarm.id).state == "open"
    r = dash_call(
        client,
        csrf,
        "live-alarms.children",
        {
            "tick.n_intervals": 1,
            "live-province.value": "68",
            "live-commune.value": "all",
            "live-domain.value": "all",
        },
    )
    assert r.status_code == 200 and "Huế" not in text(r)

    hue_snap = next(
        e for e in seeded["events"] if e.province == "46" and e.kind == "camera.snapshot"
    )
    assert client.get(f"/snapshots/event/{hue_snap.id}").status_code == 403
    own_snap = next(
        e for e in seeded["events"] if e.province == "68" and e.kind == "camera.snapshot"
    )
    r = client.get(f"/snapshots/event/{own_snap.id}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.data[:2] == b"\xff\xd8"
    r.close()

    r = dash_call(
        client,
        csrf,
        "cam-wall.children",
        {
            "cam-tick.n_intervals": 1,
            "cam-province.value": "46",
            "cam-commune.value": "all",
            "cam-status.value": "all",
        },
    )
    assert r.status_code == 403
    # Every refusal is in the audit log.
    denied = store.audit_entries(actor="op68", action="access_denied")
    assert len(denied) >= 6


def test_roles_are_checked_per_callback(env):
    app, store, _ = env
    client = app.server.test_client()
    csrf = login(client, "leader")
    alarm = store.alarms(province="68")[0]
    r = dash_call(
        client,
        csrf,
        "alarm-message.children",
        {"alarm-ack.n_clicks": 1, "alarm-selected.data": {"id": alarm.id}},
    )
    assert r.status_code == 403, "leaders may view alarms but not act on them"
    assert store.get_alarm(alarm.id).state == "open"
    r = dash_call(
        client,
        csrf,
        "replay-message.children",
        {"replay-start.n_clicks": 1, "replay-feed.value": "x", "replay-speed.value": "1"},
    )
    assert r.status_code == 403


def test_snapshot_paths_cannot_escape_the_data_dir(env, tmp_path):
    # Refused when the event is validated; serving checks again (tests/test_snapshot_trust.py).
    from dash_support import ev
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="snapshot path"):
        ev(
            "camera.snapshot",
            source="cam-evil",
            severity=0,
            attrs={
                "reason": "manual",
                "snapshot": {"path": "../../outside.jpg", "sha256": "0" * 64, "size": 8},
            },
        )


def test_session_cookie_flags_and_security_headers(env):
    app, _store, _ = env
    client = app.server.test_client()
    r = client.post("/auth/login", data={"username": "op68", "password": PASSWORD})
    cookie = r.headers.getlist("Set-Cookie")
    session = next(c for c in cookie if c.startswith("ioc_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session
    page = client.get("/live", headers={"Accept": "text/html"})
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "default-src 'self'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    # Failed logins are audited, and an open redirect after login is not possible.
    r = client.post("/auth/login", data={"username": "op68", "password": "nope-nope-nope"})
    assert r.status_code == 303 and "error=1" in r.headers["Location"]
    r = client.post(
        "/auth/login",
        data={"username": "op68", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert r.headers["Location"] == "/live"
