"""Assemble what pages show from store queries and the pure folds in dashboards.state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboards.routes import snapshot_ref
from dashboards.state import (
    SNAPSHOT_KINDS,
    Condition,
    camera_status,
    is_camera,
    open_conditions,
)
from ioc.events import CAMERA_HEALTH_KINDS, Event
from ioc.store import Device, Store

HEALTH_WINDOW = timedelta(days=7)
SNAPSHOT_WINDOW = timedelta(days=2)
STATUS_ORDER = {"offline": 0, "fault": 1, "unknown": 2, "ok": 3}


@dataclass(frozen=True, slots=True)
class CameraRow:
    """A camera with its derived health."""

    device: Device
    status: str
    conditions: tuple[Condition, ...]


def camera_rows(
    store: Store, *, province: str | None, ward: str | None, now: datetime
) -> list[CameraRow]:
    """Cameras in scope with status, worst first, then by name."""
    devices = [d for d in store.devices(province=province) if is_camera(d)]
    if ward is not None:
        devices = [d for d in devices if d.ward == ward]
    health = store.find_events(
        province=province, kinds=CAMERA_HEALTH_KINDS, since=now - HEALTH_WINDOW, limit=20000
    )
    conds = open_conditions(health)
    rows = [
        CameraRow(d, camera_status(d, conds.get(d.source, []), now), tuple(conds.get(d.source, [])))
        for d in devices
    ]
    return sorted(rows, key=lambda r: (STATUS_ORDER[r.status], r.device.name or r.device.source))


def latest_snapshots(store: Store, sources: list[str], now: datetime) -> dict[str, Event]:
    """Each camera's newest event that carries a snapshot (within two days)."""
    found = store.latest_per_source(
        sources, kinds=SNAPSHOT_KINDS, since=now - SNAPSHOT_WINDOW, per_source=3
    )
    out = {}
    for source, events in found.items():
        snap = next((e for e in events if snapshot_ref(e)), None)
        if snap is not None:
            out[source] = snap
    return out
