"""The front door as a probe, curl or a new user meets it: /healthz and /."""

from __future__ import annotations

import json

import pytest
from dash_support import PASSWORD, add_user

from ioc.broker import free_port
from ioc.settings import load_settings
from ioc.store import open_store


@pytest.fixture
def app_client(store_url, tmp_path):
    settings = load_settings(data_dir=str(tmp_path), db_url=store_url)
    store = open_store(settings.db_url, migrate=True)
    add_user(store, "op68", "operator", "68")
    from dashboards.app import create_app

    app = create_app(settings)
    yield app.server.test_client(), app
    store.close()
    app.server.extensions["ioc"].close()


def test_healthz_answers_without_login_and_says_nothing_else(app_client):
    client, _app = app_client
    r = client.get("/healthz", headers={"Accept": "*/*"})
    assert r.status_code == 200
    assert json.loads(r.data) == {"status": "ok"}  # no version, no counts, no names
    assert r.headers["Cache-Control"] == "no-store"
    assert client.get_cookie("ioc_session") is None


@pytest.mark.slow
def test_healthz_is_503_when_the_store_is_unreachable(tmp_path):
    from dashboards.app import create_app

    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/ioc"  # nothing listens there
    app = create_app(load_settings(data_dir=str(tmp_path), db_url=nowhere))
    r = app.server.test_client().get("/healthz")
    assert r.status_code == 503 and json.loads(r.data) == {"status": "unavailable"}


def test_root_leads_a_signed_out_client_to_a_page_that_answers(app_client):
    client, _app = app_client
    r = client.get("/", headers={"Accept": "*/*"})  # curl's default
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert client.get(r.headers["Location"], headers={"Accept": "*/*"}).status_code == 200
    client.post("/auth/login", data={"username": "op68", "password": PASSWORD})
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/live")
