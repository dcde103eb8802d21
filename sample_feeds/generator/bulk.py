"""The synthetic world at bulk speed: every province, weeks of history, millions of events.

`generate_day` simulates one province's day device by device; this is the same kind of
world (cameras, buses, probes, grid and sensors per province, placed by population, with
the day's rhythm, alarms and episodes that open and close) drawn statistically, fast
enough to seed a store with millions of events (`ioc bench seed`) or to feed the ingest
benchmark (`ioc bench ingest`). Deterministic from a seed; events are built with
`Event.model_construct` (each still passes validation, see the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ioc.events import Event
from ioc.geo import geography
from sample_feeds.feedfile import DEFAULT_TZ
from sample_feeds.generator.bulk_episodes import EPISODE_MAKERS
from sample_feeds.generator.bulk_fleet import (
    CONDITION_SEVERITY,
    DEAD_SHARE,
    DETECTIONS,
    EPISODES,
    FAKE_SHA,
    HOUR_PROFILE,
    OPERATORS,
    SINGLE_MIX,
    VILLAGES_PER_COMMUNE,
    VIOLATIONS,
    WITH_SNAPSHOT,
    Fleet,
)


class BulkWorld:
    """Events of a time range, province-day by province-day, deterministically from a seed.

    The fleets are always those of every province, so a world narrowed to a few
    provinces (the ingest benchmark's) has the same devices there as the whole one.
    """

    def __init__(
        self,
        events: int,
        start: datetime,
        end: datetime,
        seed: int,
        *,
        provinces: Sequence[str] | None = None,
        mix: dict[str, float] | None = None,
        snapshots: bool = False,
        id_prefix: str | None = None,
        cameras: dict[str, list[tuple[str, str]]] | None = None,
    ) -> None:
        if end <= start:
            raise ValueError("end must be after start")
        self.total = events
        self.start = start
        self.end = end
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.geo = geography()
        self.all_provinces = sorted(self.geo.provinces)
        self.provinces = sorted(provinces) if provinces else self.all_provinces
        mix = mix or SINGLE_MIX
        self.kinds = list(mix)
        weights = np.array([mix[k] for k in self.kinds])
        self.mix = weights / weights.sum()
        # Detections carrying a snapshot reference, as a live camera sends them.
        self.snapshots = snapshots
        self.id_prefix = id_prefix or f"seed{seed}"
        self.fleets = {p: self._fleet(p) for p in self.all_provinces}
        # A province's own cameras, (source, ward), e.g. those of the feed a demo replays: its
        # history then comes from the cameras the replay keeps alive. Other fleets are unchanged.
        for p, cams in (cameras or {}).items():
            f = self.fleets[p]
            f.camera_reliability = np.resize(f.camera_reliability, len(cams))
            f.cameras = list(cams)
        self.dead = self._dead_devices()
        self.camera_free: dict[str, float] = {}
        self.serial = 0
        self._centres = {c.code: (c.lat, c.lon) for c in self.geo.communes.values()}
        # Drawn once and cycled: a per-event numpy call would cost more than the event.
        self._jitter = [tuple(map(float, j)) for j in self.rng.uniform(-0.002, 0.002, (4093, 2))]

    # --- fleets -----------------------------------------------------------------------

    def _fleet(self, p: str) -> Fleet:
        rng = self.rng
        prov = self.geo.province(p)
        communes = self.geo.communes_of(p)
        pops = np.array([c.population or 2000 for c in communes], dtype=float)
        urban = np.array([c.type == "phường" for c in communes])
        weights = pops * np.where(urban, 2.0, 1.0)
        weights /= weights.sum()
        rural = [c.code for c in communes if c.type != "phường"] or [c.code for c in communes]
        pop = prov.population or 1_000_000

        def pick(n: int, w: np.ndarray | None = None) -> list[str]:
            idx = rng.choice(len(communes), size=n, p=w if w is not None else weights)
            return [communes[i].code for i in idx]

        n_cam = 20 + pop // 40_000
        n_veh = 10 + pop // 100_000
        n_probe = 10 + len(rural) // 4
        cameras = [(f"cam-{p}-{i:04d}", w) for i, w in enumerate(pick(n_cam))]
        vehicles = []
        for i, home in enumerate(pick(n_veh)):
            route = tuple(sorted({home, *pick(2)}))
            vehicles.append((f"bus-{p}-{i:03d}", home, route))
        probe_wards = rng.choice(rural, size=n_probe)
        probes = [(f"probe-{p}-{i:03d}", str(w)) for i, w in enumerate(probe_wards)]
        density = pop / max(prov.area_km2, 1.0)
        return Fleet(
            province=p,
            cameras=cameras,
            vehicles=vehicles,
            probes=probes,
            grid=[f"grid-{p}-{i}" for i in range(3)],
            sensors=[(f"aq-{p}-{i:02d}", w) for i, w in enumerate(pick(10))],
            incident_factor=float(rng.lognormal(0.0, 0.35)) * (density / 300) ** 0.15,
            # Sparse, mountainous provinces have more coverage gaps and outages.
            gap_factor=float(rng.lognormal(0.0, 0.4)) * (300 / max(density, 20)) ** 0.5,
            outage_factor=float(rng.lognormal(0.0, 0.4)),
            on_time=float(rng.uniform(0.62, 0.95)),
            handling=float(rng.lognormal(0.0, 0.45)),
            camera_reliability=rng.lognormal(0.0, 0.8, size=n_cam),
        )

    def _dead_devices(self) -> dict[str, float]:
        dead: dict[str, float] = {}
        last_week = self.end.timestamp() - 7 * 86400
        for f in self.fleets.values():
            ids = [c for c, _ in f.cameras] + [v[0] for v in f.vehicles] + [p for p, _ in f.probes]
            for source in ids:
                if self.rng.random() < DEAD_SHARE:
                    dead[source] = last_week + float(self.rng.uniform(0, 6.5 * 86400))
        return dead

    # --- events -----------------------------------------------------------------------

    def event(
        self,
        ts: float,
        source: str,
        kind: str,
        severity: int,
        province: str,
        ward: str,
        attrs: dict[str, Any],
    ) -> Event:
        lat, lon = self._centres[ward]
        self.serial += 1
        if self.snapshots and kind.startswith(WITH_SNAPSHOT):
            attrs["snapshot"] = self._snapshot(source, province, ward)
        j = self._jitter[self.serial % len(self._jitter)]
        return Event.model_construct(
            id=f"{self.id_prefix}-{self.serial:09d}",
            ts=datetime.fromtimestamp(ts, UTC),
            source=source,
            kind=kind,
            severity=severity,
            province=province,
            ward=ward,
            lat=round(lat + j[0], 5),
            lon=round(lon + j[1], 5),
            attrs=attrs,
        )

    def _snapshot(self, source: str, province: str, ward: str) -> dict[str, Any]:
        """A reference to the picture the camera took, as its adapter stores it."""
        rng = self.rng
        host = f"10.{int(province)}.{int(ward) % 250}.{self.serial % 250 + 1}"
        return {
            "path": f"snapshots/{province}/{source}/{self.serial:010d}.jpg",
            "url": f"http://{host}/ISAPI/Streaming/channels/101/picture?snapShotImageType=JPEG",
            "sha256": rng.bytes(32).hex(),
            "size": int(rng.integers(30_000, 250_000)),
            "width": 1920,
            "height": 1080,
        }

    def times(self, n: int, lo: float, hi: float) -> np.ndarray:
        """n instants in [lo, hi) following the local hour profile."""
        hours = np.arange(np.floor(lo / 3600), np.ceil(hi / 3600))
        # The part of each hour inside [lo, hi): whole hours but at the ends of a short range.
        begin = np.maximum(hours * 3600, lo)
        length = np.minimum(hours * 3600 + 3600, hi) - begin
        local = ((hours + 7) % 24).astype(int)
        w = HOUR_PROFILE[local] * (length / 3600)
        idx = self.rng.choice(len(hours), size=n, p=w / w.sum())
        ts = begin[idx] + self.rng.uniform(0, 1, size=n) * length[idx]
        return np.clip(ts, lo, hi - 1e-3)

    def alive(self, source: str, ts: float) -> bool:
        return ts < self.dead.get(source, np.inf)

    def _pick_alive(self, items: list[Any], ts: float, key: Callable[[Any], str]) -> Any:
        for _ in range(8):
            item = items[int(self.rng.integers(len(items)))]
            if self.alive(key(item), ts):
                return item
        return items[0]

    def province_day(self, f: Fleet, lo: float, hi: float, n: int, progress: float) -> list[Event]:
        """About n events of one province in [lo, hi) (exactly n unless n is tiny)."""
        out: list[Event] = []
        rng = self.rng
        # Coverage gaps decline over the month: the "trend toward zero" leaders want to see.
        trend = 1.5 - progress
        rates = {
            "camera": EPISODES["camera"],
            "coverage": EPISODES["coverage"] * f.gap_factor * trend,
            "cell": EPISODES["cell"],
            "power": EPISODES["power"] * f.outage_factor,
        }
        for name, rate in rates.items():
            episodes = int(rng.poisson(n * rate / 2))
            if episodes and len(out) + 2 * episodes <= n:
                EPISODE_MAKERS[name](self, f, lo, hi, episodes, out)
        singles = n - len(out)
        if singles <= 0:
            return out[:n]
        kinds = rng.choice(len(self.kinds), size=singles, p=self.mix)
        times = self.times(singles, lo, hi)
        for kind_i, ts in zip(kinds, times, strict=True):
            out.append(self._single(f, self.kinds[kind_i], float(ts)))
        return out

    def _single(self, f: Fleet, kind: str, ts: float) -> Event:
        rng = self.rng
        p = f.province
        domain = kind.split(".", 1)[0]
        if domain == "transport":
            vehicle, home, route = self._pick_alive(f.vehicles, ts, lambda v: v[0])
            ward = route[int(rng.integers(len(route)))]
            local_hour = int(((ts / 3600) + 7) % 24)
            attrs: dict[str, Any] = {
                "vehicle": vehicle,
                "route": f"R{p}-{home[-3:]}",
                "trip": f"{vehicle}-T{local_hour // 2:02d}",
            }
            severity = 0
            if kind == "transport.position":
                attrs |= {
                    "speed_kmh": round(float(rng.uniform(0, 55)), 1),
                    "heading": round(float(rng.uniform(0, 359.9)), 1),
                    "occupancy": int(rng.integers(0, 60)),
                    "capacity": 60,
                }
            elif kind in ("transport.stop_arrival", "transport.stop_departure"):
                if rng.random() < f.on_time:
                    delay = int(rng.uniform(-55, 290))
                elif rng.random() < 0.85:
                    delay = 300 + int(rng.exponential(420)) + 1
                else:
                    delay = -60 - int(rng.exponential(90)) - 1
                stop = int(rng.integers(1, 40))
                attrs |= {
                    "stop": f"S{p}-{stop:03d}",
                    "stop_name": f"Điểm dừng {stop}",
                    "scheduled": datetime.fromtimestamp(ts - delay, UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "delay_s": delay,
                }
            elif kind == "transport.panic":
                severity = 4
            elif kind == "transport.overcrowding":
                severity = 2
                attrs |= {"occupancy": int(rng.integers(66, 90)), "capacity": 60}
            elif kind == "transport.onboard_camera":
                severity = int(rng.integers(1, 4))
                attrs = {
                    "vehicle": vehicle,
                    "route": attrs["route"],
                    "trip": attrs["trip"],
                    "camera": f"{vehicle}-c1",
                    "detection": DETECTIONS[int(rng.integers(len(DETECTIONS)))],
                    "confidence": round(float(rng.uniform(0.5, 0.99)), 2),
                }
            return self.event(ts, vehicle, kind, severity, p, ward, attrs)
        if domain in ("camera", "security"):
            cam, ward = self._pick_alive(f.cameras, ts, lambda c: c[0])
            if kind == "camera.snapshot":
                attrs = {
                    "reason": "interval",
                    "snapshot": {
                        "path": f"snapshots/{cam}/latest.jpg",
                        "sha256": FAKE_SHA,
                        "size": 48_213,
                    },
                }
                return self.event(ts, cam, kind, 0, p, ward, attrs)
            if kind == "camera.motion":
                attrs = {"area": round(float(rng.uniform(0.01, 0.4)), 3)}
                return self.event(ts, cam, kind, 0, p, ward, attrs)
            if kind in CONDITION_SEVERITY:
                # A condition drawn on its own opens and stays open (episodes close theirs).
                attrs = {"state": "opened", "condition": f"{cam}:{kind}:{int(ts)}"}
                return self.event(ts, cam, kind, CONDITION_SEVERITY[kind], p, ward, attrs)
            # Incidents are rarer in some provinces: resample by the incident factor.
            attrs = {"camera": cam, "confidence": round(float(rng.uniform(0.55, 0.99)), 2)}
            if kind == "security.plate_read":
                attrs |= {
                    "plate": f"{int(p):02d}A-{int(rng.integers(10000, 99999))}",
                    "vehicle_type": "car" if rng.random() < 0.4 else "motorbike",
                    "direction": "in" if rng.random() < 0.5 else "out",
                    "watchlist": bool(rng.random() < 0.004),
                }
                return self.event(ts, cam, kind, 1 if attrs["watchlist"] else 0, p, ward, attrs)
            if kind == "security.traffic_violation":
                attrs |= {"violation": VIOLATIONS[int(rng.integers(len(VIOLATIONS)))]}
            severity = self._incident_severity(kind)
            if rng.random() > min(1.0, f.incident_factor):
                # Below-average provinces turn some incidents into plain plate reads.
                attrs = {
                    "camera": cam,
                    "plate": f"{int(p):02d}B-{int(rng.integers(10000, 99999))}",
                    "watchlist": False,
                }
                return self.event(ts, cam, "security.plate_read", 0, p, ward, attrs)
            return self.event(ts, cam, kind, severity, p, ward, attrs)
        if domain == "network":
            probe, ward = self._pick_alive(f.probes, ts, lambda pr: pr[0])
            attrs = {
                "probe": probe,
                "village": f"Thôn {int(rng.integers(1, VILLAGES_PER_COMMUNE + 1))}",
                "operator": OPERATORS[int(rng.integers(len(OPERATORS)))],
                "technology": "4G" if rng.random() < 0.85 else "3G",
                "rsrp_dbm": round(float(rng.normal(-98, 9)), 1),
            }
            attrs["rsrp_dbm"] = min(max(attrs["rsrp_dbm"], -140.0), -44.0)
            return self.event(ts, probe, kind, 0, p, ward, attrs)
        sensor, ward = f.sensors[int(rng.integers(len(f.sensors)))]
        value = round(float(rng.lognormal(3.3, 0.5)), 1)
        attrs = {"metric": "pm25", "value": value, "unit": "µg/m³"}
        if kind == "sensor.alert":
            attrs |= {"value": max(value, 80.0), "threshold": 75.0, "state": "opened"}
            return self.event(ts, sensor, kind, 2, p, ward, attrs)
        return self.event(ts, sensor, kind, 0, p, ward, attrs)

    def _incident_severity(self, kind: str) -> int:
        r = self.rng.random()
        if kind == "security.fire":
            return 4 if r < 0.4 else 3
        if kind == "security.fighting":
            return 3 if r < 0.5 else 2
        if kind == "security.intrusion":
            return 3 if r < 0.12 else 2
        if kind == "security.crowd":
            return 3 if r < 0.04 else (2 if r < 0.5 else 1)
        return 1 if kind != "security.traffic_violation" else (2 if r < 0.2 else 1)

    def heartbeats(self, f: Fleet, n: int) -> list[Event]:
        """One recent event from up to n live devices, so 'silent now' means really silent."""
        end = self.end.timestamp()
        out: list[Event] = []
        devices: list[tuple[str, str, str]] = (
            [(c, w, "camera.snapshot") for c, w in f.cameras]
            + [(v, route[0], "transport.position") for v, _, route in f.vehicles]
            + [(pr, w, "network.signal_sample") for pr, w in f.probes]
            + [(s, w, "sensor.reading") for s, w in f.sensors]
        )
        for source, ward, kind in devices[:n]:
            if source in self.dead:
                continue
            ts = end - float(self.rng.uniform(60, 1800))
            if kind == "camera.snapshot":
                attrs: dict[str, Any] = {
                    "reason": "interval",
                    "snapshot": {
                        "path": f"snapshots/{source}/latest.jpg",
                        "sha256": FAKE_SHA,
                        "size": 48_213,
                    },
                }
            elif kind == "transport.position":
                attrs = {"vehicle": source, "speed_kmh": 0.0, "heading": 0.0}
            elif kind == "network.signal_sample":
                attrs = {
                    "probe": source,
                    "operator": "Viettel",
                    "technology": "4G",
                    "rsrp_dbm": -95.0,
                }
            else:
                attrs = {"metric": "pm25", "value": 30.0, "unit": "µg/m³"}
            out.append(self.event(ts, source, kind, 0, f.province, ward, attrs))
        return out

    def plan(self) -> list[tuple[float, float, str, int]]:
        """(start, end, province, events) per province-day, in time order."""
        end = self.end.timestamp()
        days = []
        d = local_day(self.start)
        while local_midnight(d) < self.end:
            lo = max(local_midnight(d), self.start).timestamp()
            hi = min(local_midnight(d + timedelta(days=1)).timestamp(), end)
            days.append((lo, hi))
            d += timedelta(days=1)
        weights = []
        for lo, hi in days:
            weekday = datetime.fromtimestamp(lo, UTC).weekday()
            day_w = (hi - lo) / 86400 * (0.85 if weekday >= 5 else 1.0)
            for p in self.provinces:
                pop = self.geo.province(p).population or 1_000_000
                weights.append(day_w * pop**0.8)
        w = np.array(weights)
        counts = self.rng.multinomial(self.total, w / w.sum())
        out = []
        i = 0
        for lo, hi in days:
            for p in self.provinces:
                out.append((lo, hi, p, int(counts[i])))
                i += 1
        return out

    def stream(self, batch: int, *, heartbeats: bool = True) -> Iterator[list[Event]]:
        """All the events, in lists of at least `batch` (whole province-days), in time order.

        With heartbeats, the last day gives a third of its share to one recent event per
        live device, so a device silent at the end is one that really died.
        """
        plan = self.plan()
        last_day = max(lo for lo, _, _, _ in plan) if plan else 0.0
        start = self.start.timestamp()
        span = max(self.end.timestamp() - start, 1.0)
        chunk: list[Event] = []
        for lo, hi, p, n in plan:
            f = self.fleets[p]
            if heartbeats and lo == last_day and n:
                beats = self.heartbeats(f, n // 3)
                chunk.extend(beats)
                n -= len(beats)
            chunk.extend(self.province_day(f, lo, hi, n, (lo - start) / span))
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        yield chunk

    def events(self) -> list[Event]:
        """All the events (no heartbeats), sorted by time, as a live stream delivers them."""
        out = [e for chunk in self.stream(max(self.total, 1), heartbeats=False) for e in chunk]
        out.sort(key=lambda e: e.ts)
        return out


def floor_hour(ts: datetime) -> datetime:
    """Start of the UTC hour holding ts."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_day(ts: datetime) -> date:
    """The calendar date of an instant in Việt Nam."""
    return ts.astimezone(ZoneInfo(DEFAULT_TZ)).date()


def local_midnight(day: date) -> datetime:
    """The instant a local calendar day starts, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(DEFAULT_TZ)).astimezone(UTC)
