"""Video sources read with OpenCV: a file, an RTSP/HTTP(MJPEG) URL or a device index.

A file is read as fast as it decodes (or paced with `realtime`) and its frames
are timed by their position in the file, so the same clip always gives the same
events. A live source is read by a thread that reconnects with exponential
backoff; the analysis loop takes the newest frame at the analysis rate and sees
a `Gap` when none arrived, which is how offline is detected.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ioc.settings import safe_url

logger = logging.getLogger(__name__)

# RTSP over TCP: UDP loses packets (grey smears) on the long, lossy links to district cameras.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")


@dataclass(slots=True)
class Frame:
    """A decoded frame at time `t` (seconds on the source's clock)."""

    image: np.ndarray
    t: float
    reconnected: bool = False  # first frame of a new connection: no continuity with the last one


@dataclass(slots=True)
class Gap:
    """No new frame by time `t`."""

    t: float


@dataclass(slots=True)
class SourceStats:
    """Counters a test or the status log can read."""

    attempts: int = 0
    connects: int = 0
    frames_read: int = 0
    frames_yielded: int = 0
    failures: deque[str] = field(default_factory=lambda: deque(maxlen=100))  # the latest only


def describe(spec: str) -> str:
    """'device', 'url' or 'file' for a SOURCE argument."""
    if spec.isdigit():
        return "device"
    if "://" in spec:
        return "url"
    return "file"


def open_source(
    spec: str, *, fps: float = 5.0, loop: bool = False, realtime: bool = False, **live: float
) -> FileSource | LiveSource:
    """The right source for a SOURCE argument (file path, URL or device index)."""
    if describe(spec) == "file":
        if not Path(spec).is_file():
            raise FileNotFoundError(f"no video file {spec}")
        return FileSource(Path(spec), fps=fps, loop=loop, realtime=realtime)
    return LiveSource(spec, fps=fps, **live)


class FileSource:
    """A video file; frame times come from the file, not the wall clock."""

    def __init__(self, path: Path, *, fps: float = 5.0, loop: bool = False, realtime: bool = False):
        self.path = Path(path)
        self.fps = fps
        self.loop = loop
        self.realtime = realtime
        self.stats = SourceStats()

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame | Gap]:
        """Frames decimated to the analysis rate, timed by their position in the file."""
        step = 1.0 / self.fps
        next_t = 0.0
        offset = 0.0
        wall0 = time.monotonic()
        while stop is None or not stop.is_set():
            self.stats.attempts += 1
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise OSError(f"cannot open video file {self.path}")
            self.stats.connects += 1
            file_fps = cap.get(cv2.CAP_PROP_FPS)
            file_fps = file_fps if 0 < file_fps < 1000 else 25.0
            index = 0
            first = True  # a loop restart is a jump, like a reconnect
            try:
                while stop is None or not stop.is_set():
                    if not cap.grab():
                        break
                    t = offset + index / file_fps
                    index += 1
                    self.stats.frames_read += 1
                    if t + 1e-6 < next_t:
                        continue  # decimate to the analysis rate without decoding to BGR
                    ok, image = cap.retrieve()
                    if not ok:
                        break
                    next_t += step
                    if self.realtime:
                        delay = wall0 + t - time.monotonic()
                        if delay > 0 and stop is not None and stop.wait(delay):
                            return
                        if delay > 0 and stop is None:
                            time.sleep(delay)
                    self.stats.frames_yielded += 1
                    yield Frame(image, t, reconnected=first)
                    first = False
            finally:
                cap.release()
            if not self.loop or index == 0:
                return
            offset += index / file_fps


class LiveSource:
    """An RTSP/HTTP URL or a capture device, read by a reconnecting thread."""

    def __init__(
        self,
        spec: str,
        *,
        fps: float = 5.0,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.fps = fps
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.stats = SourceStats()
        self._lock = threading.Lock()
        self._latest: tuple[int, float, np.ndarray] | None = None
        self._seq = 0
        # Set by each new connection, cleared when the analysis takes a frame: even if
        # it skips the connection's first frames, it learns the stream was broken.
        self._reconnected = False

    def _open(self) -> cv2.VideoCapture:
        if describe(self.spec) == "device":
            return cv2.VideoCapture(int(self.spec))
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG, params)

    def _read_loop(self, stop: threading.Event) -> None:
        delay = self.backoff_initial_s
        step = 1.0 / self.fps
        while not stop.is_set():
            self.stats.attempts += 1
            cap = self._open()
            got_frames = False
            try:
                if not cap.isOpened():
                    self.stats.failures.append("open")
                    logger.warning("cannot open %s; retrying in %.1fs", safe_url(self.spec), delay)
                else:
                    self.stats.connects += 1
                    logger.info("connected to %s", safe_url(self.spec))
                    last_kept = -1e9
                    with self._lock:
                        self._reconnected = True
                    while not stop.is_set():
                        if not cap.grab():
                            self.stats.failures.append("read")
                            logger.warning("lost %s; reconnecting", safe_url(self.spec))
                            break
                        now = self.clock()
                        self.stats.frames_read += 1
                        got_frames = True
                        if now - last_kept < step * 0.8:
                            continue  # decoded (grab) but not converted: the cheap way to skip
                        ok, image = cap.retrieve()
                        if not ok:
                            continue
                        last_kept = now
                        with self._lock:
                            self._seq += 1
                            self._latest = (self._seq, now, image)
            finally:
                cap.release()
            if got_frames:
                delay = self.backoff_initial_s
            if stop.wait(delay * random.uniform(0.8, 1.2)):
                return
            if not got_frames:
                delay = min(delay * 2, self.backoff_max_s)

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame | Gap]:
        """The newest frame at the analysis rate, or a Gap when none came; runs until stopped."""
        stop = stop or threading.Event()
        reader_stop = threading.Event()
        reader = threading.Thread(
            target=self._read_loop,
            args=(reader_stop,),
            name=f"camera-reader-{self.spec[:20]}",
            daemon=True,
        )
        reader.start()
        step = 1.0 / self.fps
        seen = 0
        try:
            next_tick = self.clock()
            while not stop.is_set():
                with self._lock:
                    latest = self._latest
                    fresh = self._reconnected and latest is not None and latest[0] != seen
                    if fresh:
                        self._reconnected = False
                if latest is not None and latest[0] != seen:
                    seen = latest[0]
                    self.stats.frames_yielded += 1
                    yield Frame(latest[2], latest[1], reconnected=fresh)
                else:
                    yield Gap(self.clock())
                next_tick += step
                wait = next_tick - self.clock()
                if wait < -step:
                    next_tick = self.clock()  # fell behind (slow sink): do not burst to catch up
                elif wait > 0 and stop.wait(wait):
                    break
        finally:
            reader_stop.set()
            reader.join(timeout=self.read_timeout_s + self.open_timeout_s + 1)
