"""Replay page in headless Chromium, through the real pipeline (Mosquitto + `ioc ingest`)."""

from __future__ import annotations

import time

import pytest
from dash_support import add_user, login, start_ingest, stop_process, write_feed
from selenium.webdriver.common.by import By

from ioc.settings import load_settings
from ioc.store import open_store

pytestmark = [pytest.mark.browser, pytest.mark.mqtt, pytest.mark.slow]


def choose(dash_duo, dropdown_id: str, label: str) -> None:
    """Pick an option of a dcc.Dropdown by (the start of) its visible label."""
    dash_duo.find_element(f"#{dropdown_id}").click()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for option in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
            if option.text.strip().startswith(label):
                option.click()
                return
        time.sleep(0.1)
    raise AssertionError(f"no option {label!r} in #{dropdown_id}")


def test_replay_start_watch_stop_and_live_effect(dash_duo, tmp_path, mqtt_broker):
    settings = load_settings(
        data_dir=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'ioc.db'}", mqtt_url=mqtt_broker.url
    )
    store = open_store(settings.db_url, migrate=True)
    add_user(store, "kysu", "engineer")
    write_feed(tmp_path / "feeds" / "thu-nghiem-68.jsonl", seconds=30)
    ingest = start_ingest(settings, store, tmp_path / "ingest.log")
    manager = None
    try:
        from dashboards.app import create_app
        from dashboards.replay_runner import ReplayManager

        manager = ReplayManager(
            tmp_path / "replays",
            db_url=settings.db_url,
            mqtt_url=settings.mqtt_url,
            data_dir=tmp_path,
        )
        dash_duo.start_server(create_app(settings))
        login(dash_duo, "kysu", path="/replay")
        dash_duo.wait_for_element("#replay-page", timeout=15)
        dash_duo.wait_for_element("#replay-feed", timeout=10)
        choose(dash_duo, "replay-feed", "thu-nghiem-68.jsonl")
        dash_duo.wait_for_contains_text("#replay-feed", "thu-nghiem-68.jsonl · Lâm Đồng", timeout=5)
        choose(dash_duo, "replay-speed", "2×")
        dash_duo.find_element('#replay-flags input[value="loop"]').click()
        dash_duo.find_element("#replay-start").click()

        dash_duo.wait_for_text_to_equal("#replay-state", "Đang phát", timeout=15)
        dash_duo.wait_for_contains_text("#replay-log", "--speed 2", timeout=10)
        assert "--loop" in dash_duo.find_element("#replay-log").text
        # A second start is refused while one runs.
        dash_duo.find_element("#replay-start").click()
        dash_duo.wait_for_contains_text("#replay-message", "already running", timeout=10)

        # The live page shows the effect: replayed events arrive in its feed.
        dash_duo.find_element("#nav-live").click()
        dash_duo.wait_for_element("#live-page", timeout=10)
        dash_duo.wait_for_contains_text("#live-feed", "cam-rp-68", timeout=20)

        dash_duo.find_element("#nav-replay").click()
        dash_duo.wait_for_text_to_equal("#replay-state", "Đang phát", timeout=10)
        assert int(store.count_events()) > 0
        dash_duo.find_element("#replay-stop").click()
        dash_duo.wait_for_text_to_equal("#replay-state", "Đã dừng", timeout=20)
        run = manager.current()
        assert run is not None and run.stopped_by == "kysu" and not manager.is_running(run)
        actions = [e.action for e in store.audit_entries(actor="kysu")]
        assert "replay_start" in actions and "replay_stop" in actions
    finally:
        if manager is not None:
            manager.stop("test")
        stop_process(ingest)
        store.close()
