"""Derived state from stored events: open camera conditions, open gaps and outages, camera health.

Pure functions over Event and Device records; the pages fetch, these fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.events import CAMERA_HEALTH_KINDS, Event
from ioc.store import Device

CAMERA_DOMAINS = ("camera", "security")
# Kinds whose attrs may carry a SnapshotRef, newest first when looking for a camera's picture.
SNAPSHOT_KINDS = (
    "camera.snapshot",
    "camera.motion",
    *CAMERA_HEALTH_KINDS,
    "security.intrusion",
    "security.crowd",
    "security.fighting",
    "security.fire",
    "security.line_crossing",
    "security.loitering",
    "security.traffic_violation",
    "security.plate_read",
    "transport.onboard_camera",
)
# High-volume telemetry: on the map and in the database, not in the operator's incident feed.
TELEMETRY_KINDS = (
    "transport.position",
    "transport.stop_arrival",
    "transport.stop_departure",
    "network.signal_sample",
    "camera.snapshot",
    "camera.motion",
    "sensor.reading",
    "security.plate_read",
)
# A camera that has said nothing for this long is shown as unknown, not as healthy.
CAMERA_SILENT_AFTER = timedelta(minutes=15)
VEHICLE_SILENT_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Condition:
    """A health condition of a camera that opened and has not closed."""

    source: str
    kind: str
    since: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class OpenPlace:
    """An open signal gap or power outage at a village."""

    key: str
    kind: str
    province: str
    ward: str | None
    lat: float | None
    lon: float | None
    village: str
    since: datetime
    households: int | None
    event_id: str
    detail: str | None


def open_conditions(events: Iterable[Event]) -> dict[str, list[Condition]]:
    """Per camera, the health conditions whose latest event says 'opened' (events in any order)."""
    latest: dict[tuple[str, str], Event] = {}
    for e in events:
        if e.kind not in CAMERA_HEALTH_KINDS:
            continue
        key = (e.source, e.kind)
        cur = latest.get(key)
        if cur is None or e.ts >= cur.ts:
            latest[key] = e
    out: dict[str, list[Condition]] = {}
    for (source, kind), e in sorted(latest.items()):
        if e.attrs.get("state", "opened") == "opened":
            out.setdefault(source, []).append(Condition(source, kind, e.ts, e.id))
    return out


def open_places(events: Iterable[Event], *, opened: str, closed: str, key: str) -> list[OpenPlace]:
    """Gaps or outages opened and not yet closed, paired by the attribute `key` (gap, outage)."""
    latest: dict[tuple[str, str], Event] = {}
    for e in events:
        if e.kind not in (opened, closed):
            continue
        pair = (e.province, str(e.attrs.get(key)))
        cur = latest.get(pair)
        if cur is None or e.ts >= cur.ts:
            latest[pair] = e
    out = []
    for (_province, pair_key), e in latest.items():
        if e.kind != opened:
            continue
        detail = e.attrs.get("operator") or e.attrs.get("cause")
        out.append(
            OpenPlace(
                key=pair_key,
                kind=e.kind,
                province=e.province,
                ward=e.ward,
                lat=e.lat,
                lon=e.lon,
                village=str(e.attrs.get("village", "")),
                since=e.ts,
                households=e.attrs.get("households"),
                event_id=e.id,
                detail=str(detail) if detail else None,
            )
        )
    return sorted(out, key=lambda p: p.since, reverse=True)


def device_seen(device: Device) -> datetime | None:
    """When the device was last heard of, by event or status."""
    times = [t for t in (device.last_ts, device.status_ts) if t is not None]
    return max(times) if times else None


def camera_status(device: Device, conditions: list[Condition], now: datetime) -> str:
    """ok, fault, offline or unknown (silent too long) for one camera."""
    if any(c.kind == "camera.offline" for c in conditions):
        return "offline"
    if device.status == "offline" and (
        device.last_ts is None or (device.status_ts and device.status_ts >= device.last_ts)
    ):
        return "offline"
    # The badge and the card's "last seen" come from the same time: a retained "online" is
    # only as good as the link that set it (a replayed or bridged status has no last will),
    # so a camera silent for longer than CAMERA_SILENT_AFTER is never shown as healthy.
    seen = device_seen(device)
    if seen is None or now - seen > CAMERA_SILENT_AFTER:
        return "unknown"
    if conditions:
        return "fault"
    return "ok"


def is_camera(device: Device) -> bool:
    """True for devices that report as cameras (health, snapshots or video analytics)."""
    return device.domain in CAMERA_DOMAINS


def is_vehicle_live(device: Device, now: datetime) -> bool:
    """A vehicle with a recent position."""
    return (
        device.domain == "transport"
        and device.lat is not None
        and device.last_ts is not None
        and now - device.last_ts <= VEHICLE_SILENT_AFTER
    )
