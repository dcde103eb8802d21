"""Running a vendor translator against a live device: connect, translate, publish, reconnect.

`BridgeRun` holds what every transport shares: one lock around the translator
(messages arrive on the transport's thread, idle-closes on a ticker thread),
the device's retained status (online while connected, offline when the
connection is lost or the bridge stops), and counters.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse, urlunparse

from camera_adapters.multipart import MultipartReader, boundary_of
from camera_adapters.publisher import EventSink, device_status
from camera_adapters.vendors import Translator
from ioc.events import Event

logger = logging.getLogger(__name__)

TICK_S = 1.0


@dataclass(slots=True)
class BridgeStats:
    """What a bridge run did."""

    connects: int = 0
    disconnects: int = 0
    messages: int = 0
    events: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))  # the latest only


class BridgeRun:
    """Shared state of one bridge: translator under a lock, status, ticker, stop flag."""

    def __init__(
        self, translator: Translator, sink: EventSink, stop: threading.Event | None = None
    ) -> None:
        self.translator = translator
        self.sink = sink
        self.stop = stop or threading.Event()
        self.stats = BridgeStats()
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._online: bool | None = None

    @property
    def stopped(self) -> bool:
        """True once asked to stop."""
        return self.stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        return self.stop.wait(seconds)

    def __enter__(self) -> BridgeRun:
        self._ticker = threading.Thread(target=self._tick_loop, name="bridge-ticker", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        with self._lock:
            self._publish(self.translator.flush())
        if self._online is not False:
            self._status("offline")

    def _tick_loop(self) -> None:
        while not self.stop.wait(TICK_S):
            with self._lock:
                self._publish(self.translator.tick(datetime.now(UTC)))

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            self.sink.publish(event)
            self.stats.events += 1
        for status, province in self.translator.drain_statuses():
            self.sink.status(status, province)

    def _status(self, state: str) -> None:
        self._online = state == "online"
        site = self.translator.site
        self.sink.status(
            device_status(site.source, state, name=site.name, lat=site.lat, lon=site.lon),
            site.province,
        )

    def connected(self) -> None:
        """The transport is up: the device is reachable."""
        self.stats.connects += 1
        logger.info("%s bridge connected", self.translator.vendor)
        if self._online is not True:
            self._status("online")

    def disconnected(self, reason: str) -> None:
        """The transport failed: say so, keep trying."""
        self.stats.disconnects += 1
        self.stats.errors.append(reason)
        logger.warning("%s bridge: %s", self.translator.vendor, reason)
        with self._lock:
            self._publish(self.translator.flush())
        if self._online is not False:
            self._status("offline")

    def received(self, message: Any) -> None:
        """Translate one wire message and publish the result."""
        self.stats.messages += 1
        with self._lock:
            self._publish(self.translator.feed(message, datetime.now(UTC)))


def with_default_path(url: str, default_path: str) -> str:
    """A bare device URL (http://host) gets the vendor's event path."""
    parsed = urlparse(url)
    if parsed.path in ("", "/") and not parsed.query:
        path, _, query = default_path.partition("?")
        return urlunparse(parsed._replace(path=path, query=query))
    return url


def _opener(url: str, user: str | None, password: str | None) -> urllib.request.OpenerDirector:
    handlers: list[Any] = []
    if user:
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, url, user, password or "")
        # Cameras ask for Digest (Hikvision, Dahua) or Basic (older firmware); answer either.
        handlers += [
            urllib.request.HTTPDigestAuthHandler(mgr),
            urllib.request.HTTPBasicAuthHandler(mgr),
        ]
    return urllib.request.build_opener(*handlers)


def run_http_stream(
    url: str,
    translator: Translator,
    sink: EventSink,
    *,
    default_path: str = "",
    user: str | None = None,
    password: str | None = None,
    stop: threading.Event | None = None,
    read_timeout_s: float = 30.0,
    backoff_initial_s: float = 1.0,
    backoff_max_s: float = 60.0,
    chunk: int = 65536,
) -> BridgeStats:
    """Follow a multipart event stream until stopped, reconnecting with exponential backoff."""
    url = with_default_path(url, default_path) if default_path else url
    opener = _opener(url, user, password)
    run = BridgeRun(translator, sink, stop)
    delay = backoff_initial_s
    with run:
        while not run.stopped:
            reader: MultipartReader | None = None
            try:
                req = urllib.request.Request(
                    url, headers={"Accept": "multipart/x-mixed-replace, */*"}
                )
                # The socket timeout bounds silence: devices send heartbeats well within it.
                with opener.open(req, timeout=read_timeout_s) as resp:
                    reader = MultipartReader(boundary_of(resp.headers.get("Content-Type", "")))
                    run.connected()
                    delay = backoff_initial_s
                    while not run.stopped:
                        data = resp.read1(chunk)
                        if not data:
                            raise ConnectionError("stream ended")
                        for part in reader.feed(data):
                            run.received(part)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                if reader is not None:
                    for part in reader.close():
                        run.received(part)
                if not run.stopped:
                    run.disconnected(f"{type(exc).__name__}: {exc}")
            if run.wait(delay):
                break
            delay = min(delay * 2, backoff_max_s)
    return run.stats
