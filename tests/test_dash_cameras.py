"""Camera wall and camera history in headless Chromium."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from dash_support import dash_store, ev, login, seed, snapshot_event
from waiting import wait_until

pytestmark = [pytest.mark.browser]


@pytest.fixture
def env(tmp_path):
    settings, store = dash_store(tmp_path, ("op68", "operator", "68"))
    seed(store, tmp_path)
    yield settings, store
    store.close()


def attr(dash_duo, selector: str, name: str) -> str | None:
    """An attribute read in one script: the wall re-renders under a held WebElement."""
    return dash_duo.driver.execute_script(
        "const el = document.querySelector(arguments[0]);"
        "return el ? el.getAttribute(arguments[1]) : null;",
        selector,
        name,
    )


def loaded_images(dash_duo, selector: str) -> list[int]:
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(i => i.complete ? i.naturalWidth : 0)",
        selector,
    )


def wait_images(dash_duo, selector: str, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    widths: list[int] = []
    while time.monotonic() < deadline:
        widths = loaded_images(dash_duo, selector)
        if len(widths) == n and all(w > 0 for w in widths):
            return
        time.sleep(0.2)
    raise AssertionError(f"{selector}: expected {n} loaded images, got widths {widths}")


def test_camera_wall_shows_snapshots_health_and_history(dash_duo, env, tmp_path):
    settings, store = env
    from dashboards.app import create_app

    dash_duo.start_server(create_app(settings))
    login(dash_duo, "op68", path="/cameras")
    dash_duo.wait_for_element("#cam-wall .cam-card", timeout=15)
    # Only this operator's province: the two Đà Lạt cameras, worst first, each with a snapshot.
    cards = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#cam-wall .cam-card')]"
        ".map(c => [c.dataset.camera, c.dataset.status])"
    )
    assert cards == [["cam-dl-02", "offline"], ["cam-dl-01", "ok"]], cards
    wait_images(dash_duo, "#cam-wall .cam-card img", 2)
    assert "Mất kết nối" in dash_duo.driver.execute_script(
        "return document.querySelector('[data-camera=\"cam-dl-02\"]').textContent"
    )
    dash_duo.wait_for_contains_text("#cam-count-offline", "1")

    # A fresh snapshot replaces the old one on the wall without a reload.
    old_src = attr(dash_duo, '[data-camera="cam-dl-01"] img', "src")
    new = snapshot_event(tmp_path, "cam-dl-01", at=(11.9404, 108.4583), colour=(200, 40, 40))
    store.write_batch([new])
    src = wait_until(
        lambda: (s := attr(dash_duo, '[data-camera="cam-dl-01"] img', "src")) != old_src and s,
        timeout=12,
        message="a new snapshot on cam-dl-01's tile",
    )
    assert src == f"/snapshots/event/{new.id}", src

    # The camera recovers: its badge turns healthy once the offline condition closes.
    store.write_batch(
        [
            ev(
                "camera.offline",
                source="cam-dl-02",
                severity=1,
                ts=datetime.now(UTC),
                at=(11.9350, 108.4300),
                attrs={"state": "closed", "condition": "c-1"},
            )
        ]
    )
    wait_until(
        lambda: attr(dash_duo, '[data-camera="cam-dl-02"]', "data-status") == "ok",
        timeout=12,
        message="cam-dl-02's badge turning ok",
    )

    # History: the health timeline, recent events and the snapshot strip.
    dash_duo.driver.execute_script("document.querySelector('[data-camera=\"cam-dl-02\"]').click()")
    dash_duo.wait_for_element('#cam-history-body[data-camera="cam-dl-02"]', timeout=10)
    dash_duo.wait_for_element("#cam-timeline .main-svg", timeout=10)
    recent = dash_duo.find_element("#cam-recent").text
    assert "Camera mất kết nối" in recent and "Ảnh chụp camera" in recent
    wait_images(dash_duo, "#cam-snapshots img", 1)

    # Filtering by status (from the URL, as a wall would be configured).
    dash_duo.driver.get(f"{dash_duo.server_url}/cameras?status=offline")
    dash_duo.wait_for_element("#cam-wall .empty", timeout=10)
