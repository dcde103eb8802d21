"""The live page in headless Chromium: feed during a real replay, alarm workflow across two
browser sessions, and the offline map."""

from __future__ import annotations

import subprocess
import time

import pytest
from dash.testing.browser import Browser
from dash_support import (
    PASSWORD,
    dash_calls,
    dash_store,
    drawn_at,
    ioc_command,
    login,
    seed,
    start_ingest,
    stop_process,
    watch_dash_callbacks,
    write_feed,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from waiting import wait_until

pytestmark = [pytest.mark.browser]


def texts(dash_duo, selector: str) -> list[str]:
    """Texts of matching elements, read in one script (rows re-render under us)."""
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", selector
    )


def feed_sources(dash_duo) -> list[str]:
    return texts(dash_duo, "#live-feed .feed-source")


@pytest.mark.mqtt
@pytest.mark.slow
def test_feed_updates_while_a_feed_is_replayed(dash_duo, tmp_path, mqtt_broker):
    """Real pipeline: `ioc replay` -> Mosquitto -> `ioc ingest` -> store -> this page."""
    settings, store = dash_store(tmp_path, ("op68", "operator", "68"), mqtt_url=mqtt_broker.url)
    ingest = start_ingest(settings, store, tmp_path / "ingest.log")
    replay = None
    try:
        from dashboards.app import create_app

        dash_duo.start_server(create_app(settings))
        login(dash_duo, "op68")
        dash_duo.wait_for_element("#live-page", timeout=15)
        dash_duo.wait_for_contains_text("#live-feed", "Chưa có sự kiện", timeout=10)

        feed = write_feed(tmp_path / "feeds" / "test.jsonl", seconds=24)
        with open(tmp_path / "replay.log", "wb") as out:
            replay = subprocess.Popen(
                ioc_command(
                    settings, "replay", "--speed", "2", "--rebase-time", "--quiet", str(feed)
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # Rows arrive while the replay is still publishing, not all at the end.
        seen = []
        deadline = time.monotonic() + 30
        while replay.poll() is None and time.monotonic() < deadline:
            seen.append(len(feed_sources(dash_duo)))
            time.sleep(0.5)
        during = sorted(set(seen))
        assert len([n for n in during if 0 < n < 12]) >= 3, f"feed did not grow live: {seen}"
        assert replay.wait(timeout=30) == 0, (tmp_path / "replay.log").read_text()

        # In the end: all 12 Lâm Đồng events, newest first, and nothing from Huế.
        dash_duo.wait_for_text_to_equal("#live-feed-count", "12", timeout=10)
        sources = feed_sources(dash_duo)
        assert all(s.startswith("cam-rp-68") for s in sources), sources
        assert "Huế" not in dash_duo.find_element("#live-feed").text
        assert store.count_events(province="46") == 12, "Huế events were stored, just not shown"
        times = texts(dash_duo, "#live-feed .feed-time")
        assert times == sorted(times, reverse=True)
        # Rebased at speed 2 the stamps run ahead of the clock: fresh, flagged amber, never red.
        badge = dash_duo.find_element("#freshness")
        assert badge.get_attribute("class") in ("freshness live", "freshness late")
        assert "Dữ liệu mới nhất" in badge.text
    finally:
        if replay is not None:
            stop_process(replay)
        stop_process(ingest)
        store.close()


@pytest.fixture
def seeded(tmp_path):
    settings, store = dash_store(
        tmp_path, ("op68", "operator", "68"), ("op68b", "operator", "68"), ("admin", "admin")
    )
    seed(store, tmp_path)
    yield settings, store
    store.close()


def card(browser, alarm_id: int):
    found = browser.driver.find_elements(By.CSS_SELECTOR, f'.alarm-card[data-alarm="{alarm_id}"]')
    return found[0] if found else None


def click_card(browser, alarm_id: int) -> None:
    """Click in one script: the queue re-renders every second under a held WebElement."""
    browser.driver.execute_script(
        'document.querySelector(`.alarm-card[data-alarm="${arguments[0]}"]`).click()', alarm_id
    )


def wait_card(browser, alarm_id: int, text: str | None, timeout: float = 8.0) -> None:
    """Until the card shows text (or, with None, is gone from the queue)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        el = card(browser, alarm_id)
        try:
            if (text is None and el is None) or (text is not None and el and text in el.text):
                return
        except Exception:  # re-rendered under us; look again
            pass
        time.sleep(0.2)
    raise AssertionError(f"alarm {alarm_id}: expected {text!r}, got {el.text if el else None!r}")


def test_alarm_workflow_persists_and_is_shared(dash_duo, seeded, request):
    settings, store = seeded
    panic = next(a for a in store.alarms(province="68") if a.rule == "panic")
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    login(dash_duo, "op68")
    dash_duo.wait_for_element(f'.alarm-card[data-alarm="{panic.id}"]', timeout=15)
    # Only Lâm Đồng alarms reach this operator.
    assert "Huế" not in dash_duo.find_element("#live-alarms").text

    with Browser(
        browser="Chrome", headless=True, options=request.config.hook.pytest_setup_options()
    ) as other:
        other.server_url = dash_duo.server_url
        other.driver.get(f"{dash_duo.server_url}/login?next=/live")
        other.wait_for_element("#login-username", timeout=10)
        other.find_element("#login-username").send_keys("op68b")
        other.find_element("#login-password").send_keys(PASSWORD)
        other.find_element("#login-submit").click()
        other.wait_for_element(f'.alarm-card[data-alarm="{panic.id}"]', timeout=15)
        wait_card(other, panic.id, "Mới")

        click_card(dash_duo, panic.id)
        dash_duo.wait_for_text_to_equal("#alarm-state", "Mới", timeout=10)
        # SLA timers: time open and an ack countdown (critical: 60 s, already overdue here).
        summary = dash_duo.find_element("#alarm-summary").text
        assert "Đã mở" in summary and "Hạn xác nhận" in summary

        dash_duo.find_element("#alarm-ack").click()
        dash_duo.wait_for_text_to_equal("#alarm-state", "Đã xác nhận", timeout=10)
        wait_card(other, panic.id, "Đã xác nhận")
        assert "Xác nhận sau" in dash_duo.find_element("#alarm-summary").text

        dash_duo.find_element("#alarm-assignee-input").send_keys("Cảnh sát PCCC và CNCH")
        dash_duo.find_element("#alarm-assign").click()
        dash_duo.wait_for_contains_text("#alarm-assignee", "Cảnh sát PCCC và CNCH", timeout=10)
        wait_card(other, panic.id, "Giao cho: Cảnh sát PCCC và CNCH")

        dash_duo.find_element("#alarm-comment-input").send_keys("Đã gọi lái xe <b>xác nhận</b>")
        dash_duo.find_element("#alarm-comment").click()
        dash_duo.wait_for_contains_text("#alarm-log", "Đã gọi lái xe <b>xác nhận</b>", timeout=10)

        # Resolving needs a note; an empty one is refused with a message.
        dash_duo.find_element("#alarm-resolve").click()
        dash_duo.wait_for_text_to_equal("#alarm-message", "Cần nhập kết quả xử lý.", timeout=10)
        dash_duo.find_element("#alarm-resolve-input").send_keys("Xe đã về bến an toàn")
        dash_duo.find_element("#alarm-resolve").click()
        dash_duo.wait_for_text_to_equal("#alarm-state", "Đã xử lý", timeout=10)
        wait_card(dash_duo, panic.id, None)
        wait_card(other, panic.id, None)

    # Persisted: after a reload the resolved alarm, its note and its log are still there.
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#live-show-resolved input", timeout=15)
    dash_duo.find_element("#live-show-resolved input").click()
    dash_duo.wait_for_element(f'.alarm-card[data-alarm="{panic.id}"]', timeout=10)
    click_card(dash_duo, panic.id)
    dash_duo.wait_for_text_to_equal("#alarm-resolution", "Xe đã về bến an toàn", timeout=10)
    log = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#alarm-log li')]"
        ".map(li => [...li.children].map(c => c.textContent).join(' ')).join('\\n')"
    )
    for words in (
        "op68 xác nhận",
        "op68 giao cho Cảnh sát PCCC và CNCH",
        "op68 ghi chú",
        "op68 đóng",
    ):
        assert words in log, log
    actions = [(a.actor, a.action) for a in store.alarm_actions(panic.id)]
    assert actions == [
        ("system", "opened"),
        ("op68", "acknowledge"),
        ("op68", "assign"),
        ("op68", "comment"),
        ("op68", "resolve"),
    ]
    assert store.get_alarm(panic.id).resolved_by == "op68"
    audited = {e.action for e in store.audit_entries(actor="op68")}
    assert {"alarm_acknowledge", "alarm_assign", "alarm_comment", "alarm_resolve"} <= audited


def wait_slow_refresh_drawn(dash_duo, since: float) -> None:
    """Until the map got a refresh of every layer answered after `since` and drew it."""
    from dashboards.pages.live import SLOW_LAYERS_EVERY  # a page module: import after the app

    # The slow layers are refreshed once per wall-clock bucket of SLOW_LAYERS_EVERY seconds
    # (patched only where their data moved): an answer that came a whole bucket after
    # `since` was built after at least one such refresh was due.
    def drawn() -> bool:
        slow = [
            c["t"]
            for c in dash_calls(dash_duo, "live-map.figure", since)
            if c["status"] == 200 and c["t"] >= since + SLOW_LAYERS_EVERY * 1000
        ]
        return bool(slow) and drawn_at(dash_duo, "live-map") > min(slow)

    wait_until(
        drawn,
        timeout=3 * SLOW_LAYERS_EVERY,
        interval=0.2,
        message=lambda: f"a drawn slow refresh: {dash_calls(dash_duo, 'live-map.figure', since)}",
    )


def test_map_renders_offline_and_opens_details(dash_duo, seeded):
    settings, _store = seeded
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    # Chromium keeps only 250 resource timings by default; a live page makes more requests.
    dash_duo.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "performance.setResourceTimingBufferSize(100000)"},
    )
    login(dash_duo, "admin", path="/live?province=68")
    dash_duo.wait_for_element("#live-map .maplibregl-canvas", timeout=20)
    gd = "document.querySelector('#live-map .js-plotly-plot')"
    # Wait for the layers: outlines from our own GeoJSON, and the point traces.
    deadline = time.monotonic() + 15
    counts = {}
    while time.monotonic() < deadline:
        counts = dash_duo.driver.execute_script(
            f"const gd = {gd}; if (!gd || !gd.data) return {{}};"
            "const out = {}; gd.data.forEach(t => out[t.name] = (t.lat || []).length); return out;"
        )
        if counts.get("Camera") and counts.get("Xe buýt") and counts.get("Sự cố (60 phút)"):
            break
        time.sleep(0.3)
    assert counts.get("Camera") == 2 and counts.get("Xe buýt") == 4, counts
    assert counts.get("Sự cố (60 phút)") >= 4 and counts.get("Mất điện") == 1, counts
    assert counts.get("Thôn mất sóng") == 1, counts
    # MapLibre reports style and source problems as map errors, not always on the console.
    dash_duo.driver.execute_script(
        f"window.__mapErrors = []; {gd}._fullLayout.map._subplot.map.on('error',"
        " e => window.__mapErrors.push(String(e.error && (e.error.message || e.error))));"
    )
    watched_from = watch_dash_callbacks(dash_duo)
    # The outline layers come from this app's GeoJSON (MapLibre fetches it in its worker,
    # under the page's CSP: connect-src 'self') and are drawn (features loaded).
    layers_js = (
        f"const gd = {gd}; const m = gd._fullLayout.map._subplot.map; const st = m.getStyle();"
        "const ours = st.layers.filter(l => l.source && l.id.startsWith('plotly-layout-layer'));"
        "return [gd.layout.map.layers.map(l => l.source),"
        " ours.map(l => m.querySourceFeatures(l.source).length), st.glyphs || null];"
    )
    layers = wait_until(
        lambda: (
            (ls := dash_duo.driver.execute_script(layers_js))[1]
            and all(n > 0 for n in ls[1])
            and ls
        ),
        timeout=20,
        message=lambda: f"outline features loaded: {dash_duo.driver.execute_script(layers_js)}",
    )
    resources = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    sources, features, glyphs = layers
    assert sorted(set(sources)) == ["/geo/communes/68.geojson", "/geo/provinces.geojson"], layers
    assert features and all(n > 0 for n in features), layers
    assert glyphs is None, "no glyph server: the map must not need one"
    outside = [r for r in resources if not r.startswith(dash_duo.server_url)]
    assert not outside, f"the page fetched from outside the server: {outside}"
    severe = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert not severe, severe

    # Zoom in on the first camera as a user would (a move with an originalEvent is what
    # plotly records as a GUI edit); the view must survive the page's updates (uirevision).
    dash_duo.driver.execute_script(
        f"const gd = {gd}; const t = gd.data.find(t => t.name === 'Camera');"
        "gd._fullLayout.map._subplot.map.jumpTo({center: [t.lon[0], t.lat[0]], zoom: 16},"
        " {originalEvent: new MouseEvent('mouseup')});"
    )
    zoomed_at = float(dash_duo.driver.execute_script("return performance.now()"))
    # Until a refresh of every layer (slow layers: every 10 ticks) has been drawn since.
    wait_slow_refresh_drawn(dash_duo, since=zoomed_at)
    zoom = dash_duo.driver.execute_script(f"return {gd}._fullLayout.map._subplot.map.getZoom()")
    assert abs(zoom - 16) < 0.01, f"the operator's zoom was reset to {zoom} by an update"
    xy = dash_duo.driver.execute_script(
        f"const gd = {gd}; const t = gd.data.find(t => t.name === 'Camera');"
        "const m = gd._fullLayout.map._subplot.map; const p = m.project([t.lon[0], t.lat[0]]);"
        "const r = m.getCanvas().getBoundingClientRect();"
        "return [p.x - r.width / 2, p.y - r.height / 2, t.customdata[0][1]];"
    )
    canvas = dash_duo.find_element("#live-map .maplibregl-canvas")
    ActionChains(dash_duo.driver).move_to_element_with_offset(
        canvas, xy[0], xy[1]
    ).click().perform()
    dash_duo.wait_for_element(f'#details-body[data-device="{xy[2]}"]', timeout=10)
    # Cameras open with their latest snapshot, served by this app.
    img = dash_duo.wait_for_element("#details-body .snapshot img", timeout=10)
    assert img.get_attribute("src").startswith(f"{dash_duo.server_url}/snapshots/event/")
    deadline = time.monotonic() + 5
    while not dash_duo.driver.execute_script("return arguments[0].naturalWidth", img):
        assert time.monotonic() < deadline, "snapshot did not load"
        time.sleep(0.2)

    # Clicking a feed row opens that event.
    event_id = dash_duo.driver.execute_script(
        "const row = document.querySelector('#live-feed .feed-item'); row.click();"
        "return row.dataset.event;"
    )
    dash_duo.wait_for_element(f'#details-body[data-event="{event_id}"]', timeout=10)
    dash_duo.find_element("#details-close").click()
    dash_duo.wait_for_no_elements("#details-body", timeout=5)

    # Through at least one refresh of every layer (slow layers: every 10 ticks), no map error.
    wait_slow_refresh_drawn(dash_duo, since=watched_from)
    assert dash_duo.driver.execute_script("return window.__mapErrors") == []
    severe = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert not severe, severe
