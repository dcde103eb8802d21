"""Build canonical camera events with stable ids, so a re-delivered event dedups in the store.

Ids are derived from what happened, never from when we noticed: a health or
motion condition is `{source}:{name}:{onset}` and its events add `:opened` or
`:closed`; a momentary detection is `{source}:{name}:{vendor key or time}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from camera_adapters.site import Site
from ioc.events import Event, SnapshotRef

State = Literal["opened", "closed"]

# Severity of an opened condition or a detection; a closed condition is info (0)
# because the alarm it may have opened is resolved by an operator, not by us.
SEVERITY: dict[str, int] = {
    "camera.offline": 3,
    "camera.covered": 3,
    "camera.scene_change": 3,
    "camera.frozen": 2,
    "camera.blurred": 2,
    "camera.too_bright": 1,
    "camera.motion": 0,
    "camera.snapshot": 0,
    "security.intrusion": 3,
    "security.line_crossing": 3,
    "security.loitering": 2,
    "security.plate_read": 1,
}
WATCHLIST_SEVERITY = 3
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:@-]+")


def stamp(ts: datetime) -> str:
    """Compact UTC time with milliseconds, safe in ids and file names: 20250701T083015.200Z."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y%m%dT%H%M%S") + f".{ts.microsecond // 1000:03d}Z"


def condition_id(source: str, kind: str, onset: datetime) -> str:
    """Stable id pairing the opened and closed events of one condition."""
    return f"{source}:{kind.split('.', 1)[1]}:{stamp(onset)}"


def _ref(snapshot: SnapshotRef | None) -> dict[str, Any] | None:
    return None if snapshot is None else snapshot.model_dump(exclude_none=True)


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None}


def health_event(
    site: Site,
    source: str,
    kind: str,
    state: State,
    condition: str,
    ts: datetime,
    *,
    metric: float | None = None,
    baseline: float | None = None,
    vendor: str | None = None,
    vendor_event: str | None = None,
    snapshot: SnapshotRef | None = None,
) -> Event:
    """camera.offline/frozen/covered/too_bright/blurred/scene_change, opened or closed."""
    attrs = {
        "state": state,
        "condition": condition,
        "metric": None if metric is None else round(float(metric), 3),
        "baseline": None if baseline is None else round(float(baseline), 3),
        "vendor": vendor,
        "vendor_event": vendor_event,
        "snapshot": _ref(snapshot),
    }
    return Event(
        id=f"{condition}:{state}",
        ts=ts,
        source=source,
        kind=kind,
        severity=SEVERITY[kind] if state == "opened" else 0,
        attrs=_clean(attrs),
        **site.place(),
    )


def motion_event(
    site: Site,
    source: str,
    state: State,
    condition: str,
    ts: datetime,
    area: float,
    *,
    vendor: str | None = None,
    vendor_event: str | None = None,
    snapshot: SnapshotRef | None = None,
) -> Event:
    """camera.motion opened/closed; `area` is the share of the frame that moved (peak when closed)."""
    attrs = {
        "area": round(min(max(float(area), 0.0), 1.0), 4),
        "state": state,
        "vendor": vendor,
        "vendor_event": vendor_event,
        "snapshot": _ref(snapshot),
    }
    return Event(
        id=f"{condition}:{state}",
        ts=ts,
        source=source,
        kind="camera.motion",
        severity=0,
        attrs=_clean(attrs),
        **site.place(),
    )


def snapshot_event(
    site: Site, source: str, ts: datetime, reason: str, snapshot: SnapshotRef
) -> Event:
    """camera.snapshot: a fresh picture for the camera wall."""
    return Event(
        id=f"{source}:snapshot:{stamp(ts)}",
        ts=ts,
        source=source,
        kind="camera.snapshot",
        severity=0,
        attrs={"reason": reason, "snapshot": _ref(snapshot)},
        **site.place(),
    )


def detection_event(
    site: Site,
    source: str,
    kind: str,
    ts: datetime,
    key: str | None,
    attrs: dict[str, Any],
    *,
    snapshot: SnapshotRef | None = None,
) -> Event:
    """A momentary security.* detection; `key` is the vendor's own event id when it has one."""
    name = kind.split(".", 1)[1]
    suffix = _ID_UNSAFE.sub("_", key) if key else stamp(ts)
    body = _clean({**attrs, "snapshot": _ref(snapshot)})
    severity = SEVERITY.get(kind, 2)
    if body.get("watchlist"):
        severity = WATCHLIST_SEVERITY
    return Event(
        id=f"{source}:{name}:{suffix}"[:128],
        ts=ts,
        source=source,
        kind=kind,
        severity=severity,
        attrs=body,
        **site.place(),
    )
