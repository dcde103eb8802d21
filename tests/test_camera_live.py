"""Live sources: an HTTP MJPEG camera that goes away and comes back; a camera that never answers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from camera_support import FAST, MjpegCamera, http_server, site, wait_for

from camera_adapters.publisher import MemorySink
from camera_adapters.snapshots import SnapshotStore
from camera_adapters.source import LiveSource
from camera_adapters.watcher import CameraWatcher
from ioc.broker import free_port

# Real-time cameras: the event times are checked against the wall clock.
pytestmark = pytest.mark.slow


def _run(watcher: CameraWatcher, source: LiveSource, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=watcher.run, args=(source, stop), daemon=True)
    thread.start()
    return thread


def _live(url: str) -> LiveSource:
    return LiveSource(
        url, fps=5, open_timeout_s=2, read_timeout_s=1, backoff_initial_s=0.2, backoff_max_s=0.4
    )


def test_camera_that_drops_out_goes_offline_and_comes_back(tmp_path) -> None:
    cam = MjpegCamera()
    with http_server(cam.handler()) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
        sink = MemorySink()
        config = FAST.model_copy(
            update={"motion": FAST.motion.model_copy(update={"enabled": False})}
        )
        store = SnapshotStore(tmp_path)
        watcher = CameraWatcher(site("cam-live-01"), sink, config, snapshots=store)
        source = _live(url)
        stop = threading.Event()
        thread = _run(watcher, source, stop)
        try:
            assert wait_for(lambda: [s.state for _, s in sink.statuses] == ["online"], 10)
            # A second of stream at 5 fps before the camera goes away.
            assert wait_for(lambda: source.stats.frames_yielded >= 5, 10)
            went_down = datetime.now(UTC)
            cam.up.clear()  # the camera reboots: streams end, new connections get 503
            assert wait_for(lambda: any(e.attrs.get("state") == "opened" for e in sink.events), 10)
            # Stay down a while: the reader keeps retrying with backoff.
            assert wait_for(lambda: cam.refused >= 2, 10), "the reader retried"
            came_back = datetime.now(UTC)
            cam.up.set()
            assert wait_for(lambda: len(sink.events) >= 2, 10)
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()
    opened, closed = sink.events
    assert (opened.kind, opened.attrs["state"]) == ("camera.offline", "opened")
    assert (closed.kind, closed.attrs["state"]) == ("camera.offline", "closed")
    assert opened.attrs["condition"] == closed.attrs["condition"]
    # The alarm shows the last picture before the camera went dark; the close, the first after.
    last = store.resolve(opened.attrs["snapshot"]["path"])
    first = store.resolve(closed.attrs["snapshot"]["path"])
    assert last.is_file() and first.is_file() and last != first
    # Offline is dated from the last frame, not from when it was noticed.
    assert abs((opened.ts - went_down).total_seconds()) < 0.6
    assert 0 <= (closed.ts - came_back).total_seconds() < 3
    assert [s.state for _, s in sink.statuses] == ["online", "offline", "online", "offline"]
    assert cam.connections >= 2 and source.stats.connects >= 2
    assert cam.refused >= 2, "the reader retried while the camera was away"
    assert "open" in source.stats.failures and "read" in source.stats.failures


def test_camera_that_never_answers_is_offline() -> None:
    url = f"http://127.0.0.1:{free_port()}/video.mjpg"  # nothing listens there
    sink = MemorySink()
    watcher = CameraWatcher(site("cam-dead-01"), sink, FAST)
    source = _live(url)
    stop = threading.Event()
    started = datetime.now(UTC)
    thread = _run(watcher, source, stop)
    try:
        assert wait_for(lambda: len(sink.events) >= 1, 10)
        # A few more rounds of retrying, during which a second offline event would show.
        tried = source.stats.attempts
        assert wait_for(lambda: source.stats.attempts >= max(3, tried + 3), 10)
    finally:
        stop.set()
        thread.join(10)
    (event,) = sink.events
    assert (event.kind, event.attrs["state"]) == ("camera.offline", "opened")
    assert abs((event.ts - started).total_seconds()) < 0.5  # offline since watching began
    assert event.attrs["metric"] >= FAST.health.offline_after_s
    assert [s.state for _, s in sink.statuses] == ["offline"]
    assert source.stats.connects == 0 and source.stats.attempts >= 3
