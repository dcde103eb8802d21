"""Helpers for the camera adapter tests: fixture paths, a fast config, local servers."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from camera_adapters.config import HealthConfig, MotionConfig, SnapshotConfig, WatchConfig
from camera_adapters.site import Site, resolve_site
from camera_adapters.synthetic import add_noise, encode_jpeg, textured_scene

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cameras"
CLIPS = FIXTURES / "clips"
START = datetime(2025, 7, 1, 1, 0, 0, tzinfo=UTC)

# The clips are seconds long, so holds and learning are scaled down from the
# production defaults; the order between checks is kept.
FAST = WatchConfig(
    health=HealthConfig(
        offline_after_s=1.0,
        offline_close_s=0.5,
        frozen_after_s=1.5,
        covered_after_s=1.0,
        covered_close_s=0.6,
        bright_after_s=1.0,
        bright_close_s=0.6,
        learn_s=1.5,
        blur_after_s=1.0,
        blur_close_s=0.6,
        scene_after_s=1.0,
        scene_close_s=0.6,
        scene_accept_s=3.0,
    ),
    motion=MotionConfig(close_after_s=1.0),
    snapshots=SnapshotConfig(interval_s=0),
)


def site(source: str = "cam-test-01", province: str = "01", **kw: object) -> Site:
    """A camera in Hà Nội unless told otherwise."""
    return resolve_site(source, province=province, **kw)  # type: ignore[arg-type]


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll until cond() or timeout; returns cond()."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A stdlib HTTP server on 127.0.0.1 and a free port, in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class MjpegCamera:
    """An HTTP MJPEG camera (multipart/x-mixed-replace) that can be switched off and on."""

    def __init__(self, fps: float = 10.0) -> None:
        self.fps = fps
        self.up = threading.Event()
        self.up.set()
        self.connections = 0
        self.refused = 0
        rng = np.random.default_rng(5)
        bg = textured_scene(320, 180)
        self.frames = [encode_jpeg(add_noise(bg, rng), 70) for _ in range(20)]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not cam.up.is_set():
                    cam.refused += 1
                    self.send_error(503, "camera rebooting")
                    return
                cam.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while cam.up.is_set():
                        jpg = cam.frames[i % len(cam.frames)]
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                            % len(jpg)
                            + jpg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        i += 1
                        time.sleep(1 / cam.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def streaming_device(body: bytes, content_type: str, path: str, auth: str | None = None):
    """A camera that streams `body` in uneven chunks, then keeps the connection open."""

    class Device(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        requests: list[str] = []
        unauthorised = 0

        def do_GET(self) -> None:
            Device.requests.append(self.path)
            if auth and self.headers.get("Authorization") != "Basic " + auth:
                Device.unauthorised += 1
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="IP Camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path != path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Connection", "close")
            self.end_headers()
            rng = random.Random(7)
            i = 0
            try:
                while i < len(body):
                    n = rng.randint(1, 700)
                    self.wfile.write(body[i : i + n])
                    self.wfile.flush()
                    i += n
                    time.sleep(0.002)
                time.sleep(1.5)  # an idle stream, as between events
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    return Device


# What the recorded ONVIF PullMessages answers (fixtures/cameras/onvif/pull-*.xml) must give:
# (kind, state, time).
ONVIF_EXPECTED = [
    ("camera.motion", "opened", "01:30:05"),
    ("camera.motion", "closed", "01:30:09"),
    ("camera.blurred", "opened", "01:30:10"),
    ("camera.covered", "opened", "01:30:11"),  # ImageTooDark
    ("camera.scene_change", "opened", "01:30:12"),
    ("camera.covered", "opened", "01:30:13"),  # TamperDetector: its own condition
    ("camera.blurred", "closed", "01:30:20"),
    ("camera.covered", "closed", "01:30:21"),
    ("camera.scene_change", "closed", "01:30:22"),
    ("camera.covered", "closed", "01:30:23"),
    ("camera.too_bright", "opened", "01:30:24"),
    ("camera.too_bright", "closed", "01:30:27"),
    ("camera.offline", "opened", "01:30:30"),
    ("security.line_crossing", None, "01:30:31"),
    ("security.intrusion", None, "01:30:32"),  # the repeat at :33 is the same intrusion
    ("camera.motion", "opened", "01:30:34"),
    ("camera.offline", "closed", "01:30:40"),
    ("camera.motion", "closed", "01:30:41"),
]
