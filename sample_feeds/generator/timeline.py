"""Collects generated messages, then orders, numbers and validates them into feed lines."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc.events import DeviceStatus, Event
from ioc.geo import geography
from sample_feeds.feedfile import FeedLine

EVENT_QOS = 1  # QoS 1 throughout: the pipeline's at-least-once guarantee starts at the device


@dataclass(frozen=True, slots=True)
class Device:
    """Anything with a retained status topic: camera, bus, probe, cell site, utility feed."""

    source: str
    domain: str
    name: str
    lat: float | None = None
    lon: float | None = None


@dataclass(slots=True)
class Pending:
    """A message before ordering and numbering; attrs stay mutable so incidents can tag them."""

    t: int
    order: int
    kind: str | None  # None: a retained device status
    source: str
    severity: int = 0
    lat: float | None = None
    lon: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    device: Device | None = None
    state: str = ""


class Timeline:
    """Everything one generated feed will contain, in any order until `lines()`."""

    def __init__(self, province: str, start: datetime, duration_s: int, id_prefix: str) -> None:
        self.province = province
        self.start = start.astimezone(UTC)  # attrs timestamps (e.g. scheduled) come out in UTC
        self.duration_s = duration_s
        self.id_prefix = id_prefix
        self.items: list[Pending] = []

    def event(
        self,
        t: float,
        kind: str,
        source: str,
        severity: int,
        lat: float | None,
        lon: float | None,
        attrs: dict[str, Any],
    ) -> Pending:
        """Add an event at t seconds after the start."""
        item = Pending(int(t), len(self.items), kind, source, severity,
                       None if lat is None else round(lat, 5),
                       None if lon is None else round(lon, 5), attrs)  # fmt: skip
        self.items.append(item)
        return item

    def status(self, t: float, device: Device, state: str) -> Pending:
        """Add a retained status change of a device."""
        item = Pending(int(t), len(self.items), None, device.source, device=device, state=state)
        self.items.append(item)
        return item

    def at(self, t: float) -> datetime:
        """The UTC instant t seconds after the start."""
        return self.start + timedelta(seconds=int(t))

    def lines(self, keep_s: int | None = None) -> tuple[list[FeedLine], Counter[str]]:
        """Validated feed lines in time order (the first keep_s seconds), with counts per kind."""
        keep = self.duration_s if keep_s is None else keep_s
        inside = [p for p in self.items if 0 <= p.t < keep]
        inside.sort(key=lambda p: (p.t, p.order))
        wards = self._wards(inside)
        out: list[FeedLine] = []
        counts: Counter[str] = Counter()
        seq = 0
        for p, ward in zip(inside, wards, strict=True):
            ts = self.at(p.t)
            if p.kind is None:
                assert p.device is not None
                d = p.device
                status = DeviceStatus(source=d.source, state=p.state, ts=ts, domain=d.domain,
                                      name=d.name, lat=d.lat, lon=d.lon)  # fmt: skip
                payload = status.model_dump(mode="json", exclude_none=True)
                out.append(FeedLine(p.t, status.topic(self.province), EVENT_QOS, True, obj=payload))
                counts["status"] += 1
                continue
            seq += 1
            event = Event(
                id=f"{self.id_prefix}-{seq:06d}",
                ts=ts,
                source=p.source,
                kind=p.kind,
                severity=p.severity,
                province=self.province,
                ward=ward,
                lat=p.lat,
                lon=p.lon,
                attrs=p.attrs,
            )
            payload = event.model_dump(mode="json", exclude_none=True)
            out.append(FeedLine(p.t, event.topic(), EVENT_QOS, False, obj=payload))
            counts[p.kind] += 1
        return out, counts

    def _wards(self, items: list[Pending]) -> list[str | None]:
        """Commune of each located event, in one vectorised lookup (what Event would derive)."""
        located = [i for i, p in enumerate(items) if p.kind is not None and p.lat is not None]
        codes = geography().locate_many(
            [items[i].lat for i in located], [items[i].lon for i in located]
        )
        out: list[str | None] = [None] * len(items)
        for i, code in zip(located, codes, strict=True):
            # A point in the neighbour's cell keeps the device's province and no ward.
            if code is not None and geography().commune(code).province_code == self.province:
                out[i] = code
        return out
