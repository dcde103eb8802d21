"""Render once, serve many (issue 15): shared answers follow the data and never cross scopes.

The real app over the real WSGI stack (Flask test client) on a real SQLite store.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from dash_support import add_user, dash_call, ev, seed
from test_dash_security import FEED_VALUES, login, text

from dashboards.render_cache import RenderCache
from ioc.settings import load_settings
from ioc.store import open_store

TICK = {**FEED_VALUES, "live-show-resolved.value": [], "alarm-version.data": 0}


@pytest.fixture
def env(tmp_path, sqlite_url):
    settings = load_settings(data_dir=str(tmp_path), db_url=sqlite_url)
    store = open_store(settings.db_url, migrate=True)
    for name, province in (("op68", "68"), ("op68b", "68"), ("op46", "46")):
        add_user(store, name, "operator", province)
    seed(store, tmp_path)
    from dashboards.app import create_app

    app = create_app(settings)
    yield app, store
    store.close()
    app.server.extensions["ioc"].close()


def feed(client, csrf: str, **values) -> tuple[int, dict]:
    r = dash_call(client, csrf, "live-feed.children", {**TICK, **values})
    return r.status_code, (r.get_json() or {}).get("response", {})


def sources(answer: dict) -> list[str]:
    """The device ids in the feed rows of an answer."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("className") == "feed-source":
                found.append(props.get("children"))
            for value in props.values() if isinstance(props, dict) else ():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(answer.get("live-feed", {}).get("children"))
    return found


def test_a_data_change_gives_a_new_answer(env):
    app, store = env
    client = app.server.test_client()
    csrf = login(client, "op68")
    status, first = feed(client, csrf)
    assert status == 200 and sources(first), first
    sig = first["live-feed-sig"]["data"]
    # Same signature: nothing to send for this part of the page.
    status, again = feed(client, csrf, **{"live-feed-sig.data": sig})
    assert "live-feed" not in again
    store.write_batch([ev("security.fire", source="cam-new-68", severity=4, ts=datetime.now(UTC))])
    deadline = time.monotonic() + 10
    seen: list[str] = []
    while time.monotonic() < deadline and "cam-new-68" not in seen:
        _status, answer = feed(client, csrf, **{"live-feed-sig.data": sig})
        seen = sources(answer) if "live-feed" in answer else seen
        time.sleep(0.1)
    assert "cam-new-68" in seen
    assert seen[0] == "cam-new-68", "newest first"


def _two_sessions(env, first: str, second: str):
    """The app's render cache and two logged-in browser sessions (client, CSRF token)."""
    app, _store = env
    sessions = []
    for username in (first, second):
        client = app.server.test_client()
        sessions.append((client, login(client, username)))
    return app.server.extensions["ioc"].render, *sessions


def test_sessions_of_one_scope_share_one_render(env):
    render, (a, csrf_a), (b, csrf_b) = _two_sessions(env, "op68", "op68b")
    _s, first = feed(a, csrf_a)
    misses = render.misses
    _s, second = feed(b, csrf_b)
    assert sources(first) == sources(second)
    assert render.misses == misses, "the second operator's identical view was rendered again"


def test_two_scopes_never_share_an_answer(env):
    render, (a, csrf_a), (b, csrf_b) = _two_sessions(env, "op68", "op46")
    _s, lam_dong = feed(a, csrf_a)
    assert sources(lam_dong) and not [s for s in sources(lam_dong) if "hue" in s]
    # op46 asks for "all" (as a national page would): scoped to 46, never 68's answer.
    status, hue = feed(b, csrf_b, **{"live-province.value": "all"})
    assert status == 200
    assert sources(hue) and not set(sources(hue)) & set(sources(lam_dong))
    assert "Huế" in text_of(hue) and "Đà Lạt" not in text_of(hue)
    # Asking for 68 outright is refused, never answered from 68's cached entry.
    hits = render.hits
    status, _ = feed(b, csrf_b)
    assert status == 403
    assert render.hits == hits
    # Even with 68's signature in hand, op46 gets nothing of 68.
    stolen = lam_dong["live-feed-sig"]["data"]
    status, answer = feed(b, csrf_b, **{"live-province.value": "46", "live-feed-sig.data": stolen})
    assert status == 200 and not set(sources(answer)) & set(sources(lam_dong))


def text_of(answer: dict) -> str:
    return json.dumps(answer, ensure_ascii=False)


def test_a_tick_with_nothing_new_is_a_204(env):
    app, _store = env
    client = app.server.test_client()
    csrf = login(client, "op68")
    r = dash_call(client, csrf, "live-feed.children", TICK)
    assert r.status_code == 200
    state = {f"{k}.data": v["data"] for k, v in r.get_json()["response"].items() if "-sig" in k}
    assert set(state) == {"live-feed-sig.data", "live-map-sig.data", "live-alarm-sig.data"}
    again = dash_call(client, csrf, "live-feed.children", {**TICK, **state})
    assert again.status_code == 204, text(again)


def test_single_flight_builds_once_for_concurrent_askers():
    cache = RenderCache(size=8, ttl=60)
    builds = []
    gate = threading.Event()

    def build() -> int:
        builds.append(1)
        gate.wait(5)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", build))) for _ in range(8)
    ]
    for th in threads:
        th.start()
    time.sleep(0.2)
    gate.set()
    for th in threads:
        th.join(5)
    assert results == [42] * 8 and len(builds) == 1


def test_expiry_size_and_failures_are_not_kept():
    cache = RenderCache(size=2, ttl=60)
    assert cache.get("a", lambda: 1) == 1
    assert cache.get("a", lambda: 2) == 1
    assert cache.get("a", lambda: 3, ttl=0) == 1  # still fresh under the old expiry
    cache.get("b", lambda: 1)
    cache.get("c", lambda: 1)
    assert len(cache) == 2 and cache.get("a", lambda: 9) == 9  # evicted, rebuilt
    with pytest.raises(RuntimeError):
        cache.get("x", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get("x", lambda: 5) == 5
    cache.get("gone", lambda: 1, ttl=0)
    assert cache.get("gone", lambda: 2) == 2


def test_while_a_new_version_builds_the_last_answer_of_the_view_is_served():
    cache = RenderCache(size=8, ttl=60)
    assert cache.get(("feed", "v1"), lambda: "v1 rows", view="feed") == "v1 rows"
    gate = threading.Event()
    started = threading.Event()

    def slow_build() -> str:
        started.set()
        gate.wait(5)
        return "v2 rows"

    owner: list[str] = []
    builder = threading.Thread(
        target=lambda: owner.append(cache.get(("feed", "v2"), slow_build, view="feed"))
    )
    builder.start()
    started.wait(5)
    # Another asker does not wait: it gets v1 (which carries its own version).
    assert cache.get(("feed", "v2"), lambda: "never", view="feed") == "v1 rows"
    # The owner finishes; from then on everyone gets v2.
    gate.set()
    builder.join(5)
    assert owner == ["v2 rows"]
    assert cache.get(("feed", "v2"), lambda: "never", view="feed") == "v2 rows"
    # Another view never gets this one's answer.
    assert cache.get(("feed-46", "v1"), lambda: "46 rows", view="feed-46") == "46 rows"
