"""Issue 15, the rough edges operators hit, each checked in headless Chromium: map layers
told apart without relying on hue alone, one scroll region in the alarm column, event
details in words, camera names and silence on the wall, and the demo's own replay on the
Replay page."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from dash_support import (
    dash_store,
    ev,
    ioc_command,
    login,
    seed,
    snapshot_event,
    stop_process,
    write_feed,
)

from dashboards.attr_text import attr_rows, humanise
from dashboards.components.cameras import name_parts
from dashboards.figures import MAP_LAYER_STYLES, MAP_TRACES, OKABE_ITO, MapData, live_map_figure
from dashboards.i18n import TEXTS, t
from ioc.events import DeviceStatus

TZ = "Asia/Ho_Chi_Minh"
GD = "document.querySelector('#live-map .js-plotly-plot')"


def wait_for(fn, timeout: float = 15.0, interval: float = 0.3):
    """Poll fn until it returns something truthy; the last value otherwise (for the message)."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


@pytest.fixture
def env(tmp_path):
    settings, store = dash_store(tmp_path, ("op68", "operator", "68"), ("admin", "admin"))
    seed(store, tmp_path)
    yield settings, store
    store.close()


# --- 1. map layers ----------------------------------------------------------------------


def _layer_rows(n: int) -> MapData:
    point = {"lat": 11.94, "lon": 108.44}
    return MapData(
        province="68",
        incidents=[
            {**point, "id": f"e{i}", "severity": i % 5, "kind_text": "k", "place": "p", "time": "t"}
            for i in range(n)
        ],
        incident_areas=[
            {**point, "ward": "24754", "n": i + 1, "top": i % 5, "place": "p"} for i in range(n)
        ],
        buses=[
            {**point, "source": f"b{i}", "name": "b", "detail": "", "time": "t"} for i in range(n)
        ],
        cameras=[
            {**point, "source": f"c{i}", "name": "c", "status": s, "status_text": s, "place": "p"}
            for i, s in enumerate(["ok", "fault", "offline", "unknown"][:n])
        ],
        gaps=[{**point, "event_id": f"g{i}", "village": "v", "detail": None} for i in range(n)],
        outages=[{**point, "event_id": f"o{i}", "village": "v", "detail": None} for i in range(n)],
    )


def test_every_map_layer_has_its_own_cvd_safe_colour_and_size_band():
    fig = live_map_figure(_layer_rows(4), "vi")
    assert [tr.name for tr in fig.data] == [
        t(f"map.{n}", "vi")
        for n in ("incident_areas", "incidents", "gaps", "outages", "cameras", "buses")
    ]
    colours = [tr.marker.color for tr in fig.data]
    # One colour per layer (a string, not per point: severity and health never change the hue).
    assert all(isinstance(c, str) for c in colours), colours
    assert len(set(colours)) == len(MAP_TRACES), colours
    assert set(colours) <= set(OKABE_ITO.values())
    # Size bands do not overlap: a layer can be told apart by size alone.
    bands = []
    for tr in fig.data:
        sizes = tr.marker.size if isinstance(tr.marker.size, tuple) else (tr.marker.size,)
        bands.append((min(sizes), max(sizes)))
    ordered = sorted(bands)
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:], strict=False)), bands
    # Within incidents, severity grows the marker.
    data = _layer_rows(4)
    sizes = fig.data[MAP_TRACES.index("incidents")].marker.size
    by_severity = sorted(zip((r["severity"] for r in data.incidents), sizes, strict=True))
    assert all(a[1] < b[1] for a, b in zip(by_severity, by_severity[1:], strict=False))
    # The legend swatch is the layer colour, one swatch size for every layer.
    assert fig.layout.legend.itemsizing == "constant"
    assert set(MAP_LAYER_STYLES) == set(MAP_TRACES)


@pytest.mark.browser
def test_live_map_layers_and_legend_match_in_the_browser(dash_duo, env):
    settings, _store = env
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    login(dash_duo, "op68", path="/live")
    dash_duo.wait_for_element("#live-map .maplibregl-canvas", timeout=20)

    def traces():
        got = dash_duo.driver.execute_script(
            f"const gd = {GD}; if (!gd || !gd.data) return null;"
            "return gd.data.map(t => [t.name, (t.lat || []).length, t.marker.color, t.marker.size,"
            " t.showlegend]);"
        )
        return got if got and sum(1 for tr in got if tr[1]) >= 5 else None

    shown = [tr for tr in wait_for(traces) or [] if tr[1]]
    assert len(shown) == 5, shown  # incidents, gaps, outages, cameras, buses (no bubbles)
    colours = [tr[2] for tr in shown]
    assert all(isinstance(c, str) for c in colours) and len(set(colours)) == len(shown), shown
    assert set(colours) <= set(OKABE_ITO.values()), shown
    # The legend lists exactly the shown layers, each with its layer's colour.
    legend = wait_for(
        lambda: dash_duo.driver.execute_script(
            "return [...document.querySelectorAll('#live-map .legend .traces')].map(e =>"
            " [e.querySelector('.legendtext').textContent,"
            "  getComputedStyle(e.querySelector('.legendpoints path')).fill])"
        )
    )
    by_name = {tr[0]: rgb(tr[2]) for tr in shown}
    assert dict(legend) == by_name, (legend, by_name)


# --- 2. alarm column ----------------------------------------------------------------------


@pytest.mark.browser
def test_alarm_column_scrolls_as_one_and_shows_the_note_message(dash_duo, env):
    settings, store = env
    now = datetime.now(UTC)
    # Enough open alarms that the column overflows.
    store.write_batch(
        [
            ev(
                "transport.panic",
                source=f"bus-x-{i:02d}",
                severity=4,
                ts=now - timedelta(seconds=30 + i),
                at=(11.94 + 0.002 * i, 108.44),
                attrs={"vehicle": f"bus-x-{i:02d}", "route": "Tuyến 9"},
            )
            for i in range(24)
        ]
    )
    last = min(
        (a for a in store.alarms(province="68") if a.rule == "panic"), key=lambda a: a.opened_at
    )
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    login(dash_duo, "op68", path="/live")
    dash_duo.wait_for_element(f'.alarm-card[data-alarm="{last.id}"]', timeout=15)
    dash_duo.driver.execute_script(
        'document.querySelector(`.alarm-card[data-alarm="${arguments[0]}"]`).click()', last.id
    )
    dash_duo.wait_for_text_to_equal("#alarm-state", t("alarms.state.open", "vi"), timeout=10)
    dash_duo.driver.execute_script("document.getElementById('alarm-resolve').click()")
    dash_duo.wait_for_text_to_equal("#alarm-message", t("alarms.need_note", "vi"), timeout=10)
    time.sleep(0.5)  # let the smooth scroll, if any, settle before measuring
    geometry = dash_duo.driver.execute_script(
        """
        const panel = document.querySelector('.alarm-panel');
        const scrolls = el => {
          const s = getComputedStyle(el);
          return /(auto|scroll)/.test(s.overflowY + s.overflowX) &&
            (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1);
        };
        const inColumn = [panel, ...panel.querySelectorAll('*')].filter(scrolls)
          .map(e => e.id || e.className);
        const ancestors = [];
        for (let el = document.getElementById('alarm-form').parentElement; el; el = el.parentElement)
          if (el !== document.documentElement && el !== document.body && scrolls(el))
            ancestors.push(el.id || el.className);
        const msg = document.getElementById('alarm-message').getBoundingClientRect();
        const box = panel.getBoundingClientRect();
        return {inColumn, ancestors, overflow: panel.scrollHeight - panel.clientHeight,
                msg: [msg.top, msg.bottom, msg.height], box: [box.top, box.bottom],
                viewport: window.innerHeight};
        """
    )
    # The column overflows (24 alarms) and exactly one element scrolls: the column itself.
    assert geometry["inColumn"] == ["panel alarm-panel"], geometry
    assert geometry["ancestors"] == ["panel alarm-panel"], geometry
    top, bottom, height = geometry["msg"]
    assert height > 0, geometry
    assert geometry["box"][0] <= top and bottom <= geometry["box"][1], geometry
    assert 0 <= top and bottom <= geometry["viewport"], geometry


# --- 3. event details ---------------------------------------------------------------------


def test_attribute_codes_become_words():
    rows = {
        r.key: r for r in attr_rows({"violation": "no_helmet", "vendor_event": "TFS"}, "vi", TZ)
    }
    assert rows["violation"].label == TEXTS["attr.violation"][0]
    assert rows["violation"].value == TEXTS["attr.violation.no_helmet"][0]
    assert rows["vendor_event"].value == TEXTS["vendor_event.tfs"][0]
    assert rows["vendor_event"].code == "TFS"
    odd = {
        r.key: r for r in attr_rows({"vendor_event": "AudioException", "mystery_key": 1}, "en", TZ)
    }
    assert (odd["vendor_event"].value, odd["vendor_event"].code) == (
        "Audio exception",
        "AudioException",
    )
    assert odd["mystery_key"].label == "Mystery key"
    assert humanise("CrossLineDetection") == "Cross line detection"


@pytest.mark.browser
def test_event_details_show_words_not_codes_in_both_languages(dash_duo, env):
    settings, store = env
    now = datetime.now(UTC)
    violation = ev(
        "security.traffic_violation",
        source="cam-dl-09",
        severity=2,
        ts=now - timedelta(seconds=20),
        attrs={
            "camera": "cam-dl-09",
            "vendor": "hikvision",
            "vendor_event": "TFS",
            "violation": "no_helmet",
            "plate": "49B1-123.45",
            "speed_kmh": 42.0,
            "confidence": 0.87,
        },
    )
    unknown = ev(
        "security.intrusion",
        source="cam-dl-10",
        severity=2,
        ts=now - timedelta(seconds=10),
        attrs={"camera": "cam-dl-10", "vendor": "dahua", "vendor_event": "AudioException"},
    )
    store.write_batch([violation, unknown])
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    login(dash_duo, "op68", path="/live")

    def details(event_id: str) -> list[list[str]]:
        dash_duo.wait_for_element(f'#live-feed .feed-item[data-event="{event_id}"]', timeout=15)
        dash_duo.driver.execute_script(
            'document.querySelector(`#live-feed .feed-item[data-event="${arguments[0]}"]`).click()',
            event_id,
        )
        dash_duo.wait_for_element(f'#details-body[data-event="{event_id}"]', timeout=10)
        return dash_duo.driver.execute_script(
            "return [...document.querySelectorAll('#details-body table.attrs tr')].map(r =>"
            " [r.querySelector('th').textContent, r.querySelector('.attr-value').textContent,"
            "  (r.querySelector('.attr-code') || {}).textContent || ''])"
        )

    for lang in ("vi", "en"):
        if lang == "en":
            dash_duo.find_element("#lang-en").click()
            dash_duo.wait_for_element("#lang-en.active", timeout=10)
        rows = details(violation.id)
        labels = [r[0] for r in rows]
        for key in violation.attrs:
            assert key not in labels, f"raw key {key!r} shown as a label ({lang}): {rows}"
            assert t(f"attr.{key}", lang) in labels, (key, lang, rows)
        values = {r[0]: (r[1], r[2]) for r in rows}
        assert values[t("attr.violation", lang)] == (t("attr.violation.no_helmet", lang), "")
        assert values[t("attr.vendor_event", lang)] == (t("vendor_event.tfs", lang), "TFS")
        assert values[t("attr.vendor", lang)][0] == "Hikvision"
        assert "no_helmet" not in " ".join(r[1] for r in rows)
        # A code the catalog does not know: in plain words, the raw code beside it.
        rows = {r[0]: (r[1], r[2]) for r in details(unknown.id)}
        assert rows[t("attr.vendor_event", lang)] == ("Audio exception", "AudioException")


# --- 4. camera wall -----------------------------------------------------------------------

ROUTE = "Camera giám sát giao thông tuyến Phan Thiết – La Gi"


def test_name_parts_keep_the_distinguishing_part():
    names = [f"{ROUTE}, Xã Tân Hải", f"{ROUTE}, Xã Tân Thành", "Chợ Đà Lạt"]
    parts = name_parts(names)
    assert parts[names[0]] == (ROUTE, "Xã Tân Hải")
    assert parts[names[1]] == (ROUTE, "Xã Tân Thành")
    assert parts["Chợ Đà Lạt"] == ("", "Chợ Đà Lạt")
    short = ["Chợ Phường La Gi", "Chợ Phường Lâm Viên - Đà Lạt"]
    assert [name_parts(short)[n] for n in short] == [("", n) for n in short]
    # No part boundary in the shared start: cut at its last word.
    other = ["Camera nhận dạng biển số tuyến Di Linh, Xã A", "Camera nhận dạng biển số tuyến La Gi"]
    assert [name_parts(other)[n][0] for n in other] == ["Camera nhận dạng biển số tuyến"] * 2


@pytest.mark.browser
def test_camera_wall_names_and_silence(dash_duo, env, tmp_path):
    settings, store = env
    now = datetime.now(UTC)
    cams = {"cam-dl-21": f"{ROUTE}, Xã Tân Hải", "cam-dl-22": f"{ROUTE}, Xã Tân Thành"}
    statuses = [
        (
            "68",
            DeviceStatus(
                source=s,
                state="online",
                ts=now - timedelta(minutes=3),
                domain="camera",
                name=n,
                lat=11.95,
                lon=108.45,
            ),
        )
        for s, n in cams.items()
    ]
    # Said "online" seven hours ago and nothing since: not healthy, whatever the status says.
    statuses.append(
        (
            "68",
            DeviceStatus(
                source="cam-dl-23",
                state="online",
                ts=now - timedelta(hours=7, minutes=1),
                domain="camera",
                name="Cổng trường Tiểu học Đa Quý",
                lat=11.93,
                lon=108.44,
            ),
        )
    )
    events = [
        snapshot_event(tmp_path, s, at=(11.95, 108.45), ts=now - timedelta(minutes=1)) for s in cams
    ]
    store.write_batch(events, statuses=statuses)
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    login(dash_duo, "op68", path="/cameras")
    dash_duo.wait_for_element('#cam-wall [data-camera="cam-dl-23"]', timeout=15)
    cards = dash_duo.driver.execute_script(
        """
        return Object.fromEntries([...document.querySelectorAll('#cam-wall .cam-card')].map(c => {
          const tail = c.querySelector('.cam-name-tail');
          return [c.dataset.camera, {
            status: c.dataset.status, badge: c.querySelector('.badge').textContent,
            seen: c.querySelector('.cam-seen').textContent,
            title: c.querySelector('.cam-name').title, tail: tail.textContent,
            clipped: tail.scrollHeight > tail.clientHeight + 1 || tail.scrollWidth > tail.clientWidth + 1,
          }];
        }));
        """
    )
    for source, name in cams.items():
        card = cards[source]
        assert card["title"] == name, card
        assert card["tail"] == name.rsplit(", ", 1)[1] and not card["clipped"], card
        assert card["status"] == "ok" and card["badge"] == t("cam.status.ok", "vi"), card
    silent = cards["cam-dl-23"]
    assert silent["status"] != "ok" and silent["badge"] != t("cam.status.ok", "vi"), silent
    assert silent["badge"] == t("cam.status.unknown", "vi") and "7h01m" in silent["seen"], silent


# --- 5. the demo's replay on the Replay page ----------------------------------------------


@pytest.mark.browser
@pytest.mark.mqtt
@pytest.mark.slow
def test_replay_started_outside_the_page_shows_as_running(dash_duo, tmp_path, mqtt_broker):
    settings, store = dash_store(tmp_path, ("kysu", "engineer"), mqtt_url=mqtt_broker.url)
    feed = write_feed(tmp_path / "feeds" / "demo-68.jsonl", seconds=40)
    replay = None
    try:
        from dashboards.app import create_app

        dash_duo.start_server(create_app(settings))
        login(dash_duo, "kysu", path="/replay")
        dash_duo.wait_for_element("#replay-page", timeout=15)
        dash_duo.wait_for_contains_text("#replay-status", t("replay.none", "vi"), timeout=10)
        # What ioc demo runs, as it runs it: a looping, rebased `ioc replay` subprocess.
        with open(tmp_path / "replay.log", "wb") as out:
            replay = subprocess.Popen(
                ioc_command(
                    settings,
                    "replay",
                    "--loop",
                    "--rebase-time",
                    "--speed",
                    "1",
                    "--quiet",
                    str(feed),
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        el = f'.replay-external[data-pid="{replay.pid}"]'
        dash_duo.wait_for_element(el, timeout=20)
        dash_duo.wait_for_text_to_equal(
            f"{el} .replay-state", t("replay.running", "vi"), timeout=10
        )
        text = dash_duo.find_element(el).text
        assert feed.name in text and t("replay.external", "vi") in text, text

        # Progress comes from the process's own heartbeat.
        def sent() -> int:
            return int(
                dash_duo.driver.execute_script(
                    "const r = [...document.querySelectorAll(arguments[0] + ' tr')]"
                    ".find(r => r.querySelector('th').textContent === arguments[1]);"
                    "return r ? r.querySelector('td').textContent.replace(/\\./g, '') : '0';",
                    el,
                    t("replay.messages", "vi"),
                )
            )

        assert wait_for(lambda: sent() >= 2, timeout=15), sent()
        # Stop on the page does not kill the demo's replay; it says where to stop it.
        dash_duo.find_element("#replay-stop").click()
        dash_duo.wait_for_text_to_equal(
            "#replay-message", t("replay.external_stop", "vi"), timeout=10
        )
        assert replay.poll() is None
        stop_process(replay)
        dash_duo.wait_for_contains_text("#replay-status", t("replay.none", "vi"), timeout=15)
        assert not list((tmp_path / "replays" / "live").glob("*.json"))
    finally:
        if replay is not None:
            stop_process(replay)
        store.close()


def test_replay_records_count_only_for_their_own_live_replay_process(tmp_path):
    """A leftover record (dead pid, reused pid, other program, bad JSON) is not a running replay."""
    import json
    import os
    import sys
    from dataclasses import asdict

    from ioc.replays import ReplayStatus, live_dir, process_start, running_replays

    folder = live_dir(tmp_path)
    folder.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "replay"])
    try:
        base = {
            "feed": "f.jsonl",
            "province": "68",
            "speed": "1",
            "loop": True,
            "rebase": True,
            "start": None,
            "until": None,
            "started_at": datetime.now(UTC).isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        me = os.getpid()
        records = {
            # this pytest process: alive, but not a replay
            me: ReplayStatus(pid=me, proc_start=process_start(me) or "", **base),
            # a live "replay" with the wrong start time: its pid was reused
            sleeper.pid: ReplayStatus(pid=sleeper.pid, proc_start="1", **base),
        }
        for pid, status in records.items():
            (folder / f"{pid}.json").write_text(json.dumps(asdict(status)))
        (folder / "12.json").write_text("{not json")
        assert running_replays(tmp_path) == []
        assert not (folder / f"{me}.json").exists(), "a dead or foreign record is cleared"
        # The same sleeper with its real start time counts (it has `replay` on its command line).
        wait_for(lambda: process_start(sleeper.pid), timeout=5)
        good = ReplayStatus(pid=sleeper.pid, proc_start=process_start(sleeper.pid) or "", **base)
        (folder / f"{sleeper.pid}.json").write_text(json.dumps(asdict(good)))
        assert [s.pid for s in running_replays(tmp_path)] == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert running_replays(tmp_path) == []
