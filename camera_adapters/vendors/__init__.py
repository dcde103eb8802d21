"""Vendor event translators, chosen by a vendor key; adding a vendor is adding a module.

Each module registers a `VendorSpec` with `register`: its translator (wire
message -> canonical events), how to read a recorded file of its wire format
(for `ioc camera translate` and tests), and how to bridge a live device or
broker (`ioc camera bridge`). Modules are imported on first lookup.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from camera_adapters import canonical
from camera_adapters.publisher import device_status
from camera_adapters.site import Site
from camera_adapters.snapshots import SnapshotStore
from ioc.events import DeviceStatus, Event, SnapshotRef

logger = logging.getLogger(__name__)

BUILTIN = ("hikvision", "dahua", "onvif", "frigate")
DEFAULT_DEVICE_TZ = "Asia/Ho_Chi_Minh"
DEFAULT_IDLE_CLOSE_S = 10.0


@dataclass(frozen=True, slots=True)
class VendorSpec:
    """A registered vendor: key, translator class, recorded-file reader, live bridge."""

    key: str
    title: str
    translator: type[Translator]
    read_file: Callable[[Path], Iterator[tuple[Any, datetime | None]]]
    bridge: Callable[..., Any]
    mapping: tuple[tuple[str, str], ...] = ()


_REGISTRY: dict[str, VendorSpec] = {}


def register(spec: VendorSpec) -> VendorSpec:
    """Add a vendor (called at import of its module)."""
    _REGISTRY[spec.key] = spec
    return spec


def vendor(key: str) -> VendorSpec:
    """The spec registered under `key`, importing built-in modules on demand."""
    key = key.lower()
    if key not in _REGISTRY and key in BUILTIN:
        importlib.import_module(f"camera_adapters.vendors.{key}")
    if key not in _REGISTRY:
        raise KeyError(f"unknown vendor {key!r}; known: {', '.join(vendor_keys())}")
    return _REGISTRY[key]


def vendor_keys() -> list[str]:
    """Every vendor key, built-in and registered."""
    return sorted(set(BUILTIN) | set(_REGISTRY))


# --- translator base ---------------------------------------------------------------------


@dataclass(slots=True)
class Episode:
    """An open vendor condition or an ongoing detection, with its stable id."""

    source: str
    kind: str
    condition: str
    opened: datetime
    last: datetime
    seen_at: datetime
    vendor_event: str
    closes: bool  # health/motion conditions publish a closed event; detections do not


@dataclass(slots=True)
class TranslateStats:
    """Counters for logs and tests."""

    messages: int = 0
    events: int = 0
    heartbeats: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    invalid: list[str] = field(default_factory=list)


class Translator(ABC):
    """Wire messages in, canonical events out; stateful so repeats and heartbeats pair up."""

    vendor: ClassVar[str]

    def __init__(
        self,
        site: Site,
        *,
        snapshots: SnapshotStore | None = None,
        idle_close_s: float = DEFAULT_IDLE_CLOSE_S,
        device_tz: str | tzinfo = DEFAULT_DEVICE_TZ,
    ) -> None:
        self.site = site
        self.snapshots = snapshots
        self.idle_close = timedelta(seconds=idle_close_s)
        self.device_tz = ZoneInfo(device_tz) if isinstance(device_tz, str) else device_tz
        self.stats = TranslateStats()
        self._episodes: dict[tuple[str, ...], Episode] = {}
        self._statuses: list[tuple[DeviceStatus, str]] = []
        self._last_seen: datetime | None = None

    @abstractmethod
    def feed(self, message: Any, received_at: datetime) -> list[Event]:
        """Translate one wire message received at `received_at` (UTC)."""

    def tick(self, now: datetime) -> list[Event]:
        """Close conditions whose vendor went quiet (some only ever say 'active')."""
        out = []
        for key, ep in list(self._episodes.items()):
            if now - ep.seen_at >= self.idle_close:
                del self._episodes[key]
                if ep.closes:
                    out += self._closed(ep, ep.last)
        return out

    def flush(self) -> list[Event]:
        """Emit anything held back waiting for more parts (the stream ended)."""
        return []

    def drain_statuses(self) -> list[tuple[DeviceStatus, str]]:
        """Device statuses the messages implied, since the last call."""
        out, self._statuses = self._statuses, []
        return out

    # -- helpers for vendor modules ----------------------------------------------------------

    def device_time(self, text: str | None, fallback: datetime) -> datetime:
        """Parse an ISO 8601 device time; without an offset it is in the device's zone."""
        if not text:
            return fallback
        try:
            ts = datetime.fromisoformat(text.strip())
        except ValueError:
            self.stats.invalid.append(f"bad time {text!r}")
            return fallback
        return (ts if ts.tzinfo else ts.replace(tzinfo=self.device_tz)).astimezone(UTC)

    def status(self, source: str, state: str, ts: datetime) -> None:
        """Queue a device status update for the bridge to publish (retained)."""
        self._statuses.append(
            (
                device_status(source, state, ts=ts, lat=self.site.lat, lon=self.site.lon),
                self.site.province,
            )
        )

    def _make(self, build: Callable[[], Event]) -> list[Event]:
        try:
            event = build()
        except ValidationError as exc:
            reason = "; ".join(e["msg"] for e in exc.errors(include_url=False)[:3])
            self.stats.invalid.append(reason)
            logger.warning("%s event dropped: %s", self.vendor, reason)
            return []
        self.stats.events += 1
        return [event]

    def condition(
        self,
        source: str,
        kind: str,
        active: bool,
        ts: datetime,
        received_at: datetime,
        vendor_event: str,
        *,
        key: str = "",
        snapshot: SnapshotRef | None = None,
    ) -> list[Event]:
        """A stateful vendor condition: first active opens, inactive (or silence) closes."""
        k = (source, kind, key)
        ep = self._episodes.get(k)
        if active:
            if ep is not None:
                ep.last, ep.seen_at = max(ep.last, ts), received_at
                return []
            cond = canonical.condition_id(source, kind, ts)
            ep = Episode(source, kind, cond, ts, ts, received_at, vendor_event, True)
            self._episodes[k] = ep
            return self._opened(ep, snapshot)
        if ep is None:
            return []  # inactive with nothing open: a repeat, or a heartbeat
        del self._episodes[k]
        return self._closed(ep, max(ts, ep.opened), snapshot)

    def detection(
        self,
        source: str,
        kind: str,
        ts: datetime,
        received_at: datetime,
        vendor_event: str,
        attrs: dict[str, Any],
        *,
        key: str = "",
        vendor_key: str | None = None,
        snapshot: SnapshotRef | None = None,
        episode: bool = True,
    ) -> list[Event]:
        """A momentary detection; with `episode`, repeats until it ends or goes quiet are merged."""
        if episode:
            k = (source, kind, key)
            ep = self._episodes.get(k)
            if ep is not None:
                ep.last, ep.seen_at = max(ep.last, ts), received_at
                return []
            cond = canonical.condition_id(source, kind, ts)
            self._episodes[k] = Episode(
                source, kind, cond, ts, ts, received_at, vendor_event, False
            )
        body = {"camera": source, "vendor": self.vendor, "vendor_event": vendor_event, **attrs}
        return self._make(
            lambda: canonical.detection_event(
                self.site, source, kind, ts, vendor_key, body, snapshot=snapshot
            )
        )

    def end_detection(self, source: str, kind: str, key: str = "") -> None:
        """The vendor says the detection is over: the next one is a new event."""
        self._episodes.pop((source, kind, key), None)

    def _opened(self, ep: Episode, snapshot: SnapshotRef | None = None) -> list[Event]:
        return self._state_event(ep, "opened", ep.opened, snapshot)

    def _closed(
        self, ep: Episode, ts: datetime, snapshot: SnapshotRef | None = None
    ) -> list[Event]:
        return self._state_event(ep, "closed", ts, snapshot)

    def _state_event(
        self, ep: Episode, state: canonical.State, ts: datetime, snapshot: SnapshotRef | None
    ) -> list[Event]:
        if ep.kind == "camera.motion":
            return self._make(
                lambda: canonical.motion_event(
                    self.site,
                    ep.source,
                    state,
                    ep.condition,
                    ts,
                    0.0,
                    vendor=self.vendor,
                    vendor_event=ep.vendor_event,
                    snapshot=snapshot,
                )
            )
        return self._make(
            lambda: canonical.health_event(
                self.site,
                ep.source,
                ep.kind,
                state,
                ep.condition,
                ts,
                vendor=self.vendor,
                vendor_event=ep.vendor_event,
                snapshot=snapshot,
            )
        )

    def save_picture(
        self, source: str, data: bytes, ts: datetime, reason: str = "alarm"
    ) -> SnapshotRef | None:
        """Store a vendor's JPEG as a snapshot (None when snapshots are off or it is not a JPEG)."""
        if self.snapshots is None or not data:
            return None
        try:
            return self.snapshots.save_jpeg(source, data, ts, reason)
        except (OSError, ValueError) as exc:
            logger.warning("%s picture not stored: %s", self.vendor, exc)
            return None


def translate_all(
    translator: Translator, messages: Iterable[tuple[Any, datetime | None]], *, flush: bool = True
) -> list[Event]:
    """Feed recorded messages in order (time = their receive time, else now) and flush."""
    out: list[Event] = []
    last = None
    for message, received_at in messages:
        at = received_at or datetime.now(UTC)
        last = at
        out += translator.tick(at)
        out += translator.feed(message, at)
    if flush:
        out += translator.flush()
        if last is not None:
            out += translator.tick(last + translator.idle_close)
    return out
