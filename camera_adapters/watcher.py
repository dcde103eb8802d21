"""Watch one camera: frames in, canonical health/motion/snapshot events and status out."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from camera_adapters import canonical
from camera_adapters.analysis import Analyzer
from camera_adapters.config import WatchConfig
from camera_adapters.health import OFFLINE, Baseline, Change, HealthMonitor
from camera_adapters.motion import MOTION, MotionDetector
from camera_adapters.publisher import EventSink, device_status
from camera_adapters.site import Site
from camera_adapters.snapshots import SnapshotStore
from camera_adapters.source import FileSource, Frame, Gap, LiveSource
from ioc.events import Event, SnapshotRef

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WatchStats:
    """What one run did."""

    frames: int = 0
    gaps: int = 0
    events: dict[str, int] = field(default_factory=dict)


class CameraWatcher:
    """Runs the checks on a source's frames and publishes what changes."""

    def __init__(
        self,
        site: Site,
        sink: EventSink,
        config: WatchConfig | None = None,
        *,
        snapshots: SnapshotStore | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.site = site
        self.sink = sink
        self.config = config or WatchConfig()
        self.snapshots = snapshots if self.config.snapshots.enabled else None
        baseline = Baseline(Path(state_dir) / site.source / "baseline" if state_dir else None)
        self.analyzer = Analyzer(self.config.motion.pixel_threshold)
        self.health = HealthMonitor(self.config.health, baseline)
        self.motion = MotionDetector(self.config.motion)
        self.stats = WatchStats()
        self._t0: float | None = None
        self._ts0: datetime | None = None
        self._open: dict[str, str] = {}  # kind -> condition id
        self._next_snapshot: float | None = None
        self._online: bool | None = None
        self._last_t: float | None = None
        self._last_image: tuple[float, np.ndarray] | None = None  # for the offline alarm's picture

    # -- clock ---------------------------------------------------------------------------

    def start_clock(self, t: float, ts: datetime) -> None:
        """Date the source's clock: time t is the moment ts (done by `run` on the first frame)."""
        self._t0, self._ts0 = t, ts.astimezone(UTC)
        self.health.start(t)

    def _ts(self, t: float) -> datetime:
        assert self._t0 is not None and self._ts0 is not None
        return self._ts0 + timedelta(seconds=t - self._t0)

    # -- running -------------------------------------------------------------------------

    def run(
        self,
        source: FileSource | LiveSource,
        stop: threading.Event | None = None,
        *,
        start: datetime | None = None,
    ) -> WatchStats:
        """Watch until the source ends (a file) or `stop` is set; `start` dates a file's frames."""
        try:
            for item in source.frames(stop):
                if self._t0 is None:
                    self.start_clock(item.t, start or datetime.now(UTC))
                for event in self.process(item):
                    self.sink.publish(event)
        finally:
            self.health.baseline.save()
            if self._t0 is not None and self._online is not False:
                # The camera is no longer monitored: say so rather than leave "online".
                last = self._last_t if self._last_t is not None else self._t0
                self._status("offline", datetime.now(UTC) if start is None else self._ts(last))
        return self.stats

    def process(self, item: Frame | Gap) -> list[Event]:
        """Events for one frame or gap (the source's first item must come first)."""
        if self._t0 is None:
            self.start_clock(item.t, datetime.now(UTC))
        self._last_t = item.t
        if isinstance(item, Gap):
            self.stats.gaps += 1
            return self._events(self.health.no_frame(item.t), item.t, None)
        self.stats.frames += 1
        if item.reconnected:
            self.analyzer.reset()
        s = self.analyzer.stats(item.image)
        changes = self.health.frame(item.t, s)
        if self.config.motion.enabled:
            suppressed = self.health.picture_fault or self.health.is_open(OFFLINE)
            changes += self.motion.frame(item.t, s, suppressed=suppressed)
        events = self._events(changes, item.t, item.image)
        self._last_image = (item.t, item.image)
        if self._online is not True and not self.health.is_open(OFFLINE):
            self._status("online", self._ts(item.t))
        events += self._interval_snapshot(item)
        return events

    def _status(self, state: str, ts: datetime) -> None:
        self._online = state == "online"
        status = device_status(
            self.site.source,
            state,
            ts=ts,
            name=self.site.name,
            lat=self.site.lat,
            lon=self.site.lon,
        )
        self.sink.status(status, self.site.province)

    def _snapshot(self, image: np.ndarray | None, t: float, reason: str) -> SnapshotRef | None:
        if self.snapshots is None or image is None:
            return None
        try:
            return self.snapshots.save_frame(self.site.source, image, self._ts(t), reason)
        except (OSError, ValueError) as exc:
            logger.warning("snapshot failed: %s", exc)
            return None

    def _events(self, changes: list[Change], t: float, image: np.ndarray | None) -> list[Event]:
        out = []
        cfg = self.config.snapshots
        for ch in changes:
            if ch.state == "opened":
                cond = canonical.condition_id(self.site.source, ch.kind, self._ts(ch.t))
                self._open[ch.kind] = cond
            else:
                cond = self._open.pop(ch.kind, None) or canonical.condition_id(
                    self.site.source, ch.kind, self._ts(ch.t)
                )
            ts = self._ts(ch.t)
            if ch.kind == MOTION:
                snap = (
                    self._snapshot(image, t, "change")
                    if cfg.on_motion and ch.state == "opened"
                    else None
                )
                event = canonical.motion_event(
                    self.site, self.site.source, ch.state, cond, ts, ch.metric or 0.0, snapshot=snap
                )
            else:
                shot_t, shot = t, image
                if shot is None and self._last_image is not None:
                    # No frame now (offline): the last one before the camera went dark is the clue.
                    shot_t, shot = self._last_image
                snap = self._snapshot(shot, shot_t, "alarm") if cfg.on_alarm else None
                event = canonical.health_event(
                    self.site,
                    self.site.source,
                    ch.kind,
                    ch.state,
                    cond,
                    ts,
                    metric=ch.metric,
                    baseline=ch.baseline,
                    snapshot=snap,
                )
                if ch.kind == OFFLINE:
                    self._status("offline" if ch.state == "opened" else "online", ts)
            self.stats.events[event.kind] = self.stats.events.get(event.kind, 0) + 1
            out.append(event)
        return out

    def _interval_snapshot(self, item: Frame) -> list[Event]:
        interval = self.config.snapshots.interval_s
        if self.snapshots is None or interval <= 0:
            return []
        if self._next_snapshot is not None and item.t < self._next_snapshot:
            return []
        self._next_snapshot = item.t + interval
        ref = self._snapshot(item.image, item.t, "interval")
        if ref is None:
            return []
        self.stats.events["camera.snapshot"] = self.stats.events.get("camera.snapshot", 0) + 1
        return [
            canonical.snapshot_event(self.site, self.site.source, self._ts(item.t), "interval", ref)
        ]
