"""Incidents that chain across devices, so an operator has something to follow.

- panic on a bus, the on-board camera sees a fight, the bus pulls into the next stop,
  the fixed camera there sees the fight and a crowd (one `incident` id throughout; the
  bus's positions carry it too);
- a night break-in: intrusion, loitering, a fence crossing, then the suspect's
  motorbike on the watchlist at two road cameras, speeding;
- a stolen car read by ANPR cameras along a route;
- a market fire: smoke, fire, crowd; the camera burns offline; power is cut for the
  firefighters and the commune's other cameras go dark when their UPS runs out;
- an evening storm outage that outlasts a cell site's battery, opening a coverage gap
  in a mountain village (chained through place, time and the outage id in the cause);
- a panic button pressed by mistake, with nothing after it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sample_feeds.generator.camera_health import Condition
from sample_feeds.generator.geometry import distance_km
from sample_feeds.generator.power import Outage
from sample_feeds.generator.security import Plates, detection
from sample_feeds.generator.timeline import Timeline
from sample_feeds.generator.transport import BusTrack
from sample_feeds.generator.world import Camera, Stop, Village, World


@dataclass
class IncidentPlan:
    """Choices made before the domains run, so they can react (outages, dead cameras)."""

    day_tag: str
    outages: list[Outage] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    fire: tuple[Camera, int] | None = None
    number: int = 0

    def next_id(self, province: str) -> str:
        """A new incident id."""
        self.number += 1
        return f"inc-{province}-{self.day_tag}-{self.number:02d}"


def plan_incidents(rng: random.Random, world: World, day_tag: str, duration_s: int) -> IncidentPlan:
    """Pick the market fire and the storm outage (both change what other domains do)."""
    plan = IncidentPlan(day_tag)
    markets = [c for c in world.cameras if c.site == "market"]
    fire_t = rng.randint(int(13.5 * 3600), int(14.5 * 3600))
    if markets and fire_t + 4 * 3600 < duration_s:
        cam = rng.choice(markets[:8])
        plan.fire = (cam, fire_t)
        plan.conditions.append(Condition(cam, "camera.offline", fire_t + rng.randint(540, 840),
                                         fire_t + rng.randint(150, 210) * 60))  # fmt: skip
        village = Village(f"Khu vực chợ, {cam.commune.name[0].lower()}{cam.commune.name[1:]}",
                          cam.commune, cam.lat, cam.lon, 150)  # fmt: skip
        cut = fire_t + rng.randint(12, 20) * 60
        plan.outages.append(Outage(
            f"out-{world.province}-{day_tag}-{len(plan.outages) + 1:02d}", village, cut, cut + rng.randint(120, 170) * 60,
            450, "Cắt điện phục vụ công tác chữa cháy", feeder=True,
        ))  # fmt: skip
    gap_probes = [p for p in world.probes if p.gap_prone and p.cell is not None]
    storm_t = rng.randint(int(18.3 * 3600), int(18.9 * 3600))
    if gap_probes and storm_t + 6 * 3600 < duration_s + 2 * 3600:
        probe = rng.choice(gap_probes)
        assert probe.cell is not None
        length = probe.cell.battery_min * 60 + rng.randint(60, 100) * 60
        end = min(storm_t + length, duration_s - 1200)
        plan.outages.append(Outage(
            f"out-{world.province}-{day_tag}-{len(plan.outages) + 1:02d}", probe.village, storm_t, end,
            probe.village.households * 4, "Sự cố đường dây trung thế do giông sét", feeder=True,
        ))  # fmt: skip
    return plan


def emit_incidents(
    rng: random.Random,
    tl: Timeline,
    world: World,
    plan: IncidentPlan,
    tracks: list[BusTrack],
    plates: Plates,
) -> list[str]:
    """Emit the chained security and transport events; returns the incident ids."""
    ids: list[str] = []
    duration = tl.duration_s
    if plan.fire is not None:
        ids.append(_fire(rng, tl, world, plan, *plan.fire))
    for lo, hi in ((16.2, 17.4), (19.2, 20.6)):
        t = rng.randint(int(lo * 3600), int(hi * 3600))
        if t < duration - 1800 and (found := _panic(rng, tl, world, plan, tracks, t)):
            ids.append(found)
    t = rng.randint(int(1.5 * 3600), int(3.5 * 3600))
    if t < duration - 3600 and (found := _break_in(rng, tl, world, plan, plates, t)):
        ids.append(found)
    t = rng.randint(10 * 3600, int(11.5 * 3600))
    if t < duration - 3600 and (found := _stolen_car(rng, tl, world, plan, plates, t)):
        ids.append(found)
    t = rng.randint(9 * 3600, 12 * 3600)
    if t < duration:
        _false_panic(rng, tl, tracks, t)
    return ids


def _fire(
    rng: random.Random, tl: Timeline, world: World, plan: IncidentPlan, cam: Camera, t: int
) -> str:
    inc = plan.next_id(world.province)
    zone = "Dãy hàng khô"
    detection(rng, tl, cam, t, "security.fire", incident=inc, zone=zone, confidence=0.78)
    t2 = t + rng.randint(70, 120)
    detection(rng, tl, cam, t2, "security.fire", incident=inc, zone=zone, confidence=0.93,
              severity=4, vendor_event="fireDetection" if cam.vendor == "hikvision" else "FireDetection")  # fmt: skip
    detection(rng, tl, cam, t + rng.randint(180, 300), "security.crowd", incident=inc,
              object_count=rng.randint(80, 160), severity=2)  # fmt: skip
    others = [c for c in world.cameras_in(cam.commune.code) if c is not cam]
    if others:
        near = min(others, key=lambda c: distance_km(cam.lat, cam.lon, c.lat, c.lon))
        detection(rng, tl, near, t + rng.randint(240, 420), "security.fire", incident=inc,
                  confidence=0.71)  # fmt: skip
    return inc


def _panic(
    rng: random.Random,
    tl: Timeline,
    world: World,
    plan: IncidentPlan,
    tracks: list[BusTrack],
    t: int,
) -> str | None:
    candidates = [tr for tr in tracks if tr.trip_at(t) and tr.next_arrival(t + 60)]
    # The story needs a fixed camera at the stop the bus pulls into: prefer such buses, so
    # the chain does not depend on where the random draw puts the bus.
    covered = [
        tr for tr in candidates if (nxt := tr.next_arrival(t + 60)) and _camera_near(world, nxt[1])
    ]
    candidates = covered or candidates
    if not candidates:
        return None
    track = rng.choice(candidates)
    trip = track.trip_at(t)
    arrival = track.next_arrival(t + 60)
    pos = track.position_at(t)
    assert trip is not None and arrival is not None and pos is not None
    inc = plan.next_id(world.province)
    src = track.device.source
    base = {"vehicle": track.plate, "route": track.route.id, "trip": trip, "incident": inc}
    tl.event(t, "transport.panic", src, 4, pos.lat, pos.lon, dict(base))
    what = rng.choices(("fighting", "harassment", "weapon"), weights=(6, 3, 1))[0]
    t_cam = t + rng.randint(10, 40)
    seen = track.position_at(t_cam) or pos
    tl.event(t_cam, "transport.onboard_camera", src, 4 if what == "weapon" else 3, seen.lat, seen.lon,
             base | {"camera": "cam-1", "detection": what, "confidence": round(rng.uniform(0.82, 0.95), 2)})  # fmt: skip
    t_stop, stop, _trip, arrival_event = arrival
    # The bus is followed on the map until well after it reached the stop.
    for p in track.positions:
        if t <= p.t <= t_stop + 600:
            p.attrs["incident"] = inc
    arrival_event.attrs["incident"] = inc
    cams = world.nearest_cameras(stop.lat, stop.lon)
    if cams and distance_km(stop.lat, stop.lon, cams[0].lat, cams[0].lon) <= 3.0:
        cam = cams[0]
        detection(rng, tl, cam, t_stop + rng.randint(30, 90), "security.fighting", incident=inc,
                  object_count=rng.randint(2, 4))  # fmt: skip
        detection(rng, tl, cam, t_stop + rng.randint(120, 240), "security.crowd", incident=inc,
                  object_count=rng.randint(20, 45), severity=2)  # fmt: skip
    return inc


def _camera_near(world: World, stop: Stop) -> bool:
    cams = world.nearest_cameras(stop.lat, stop.lon)
    return bool(cams) and distance_km(stop.lat, stop.lon, cams[0].lat, cams[0].lon) <= 3.0


def _false_panic(rng: random.Random, tl: Timeline, tracks: list[BusTrack], t: int) -> None:
    candidates = [tr for tr in tracks if tr.trip_at(t)]
    if not candidates:
        return
    track = rng.choice(candidates)
    pos = track.position_at(t)
    attrs = {"vehicle": track.plate, "route": track.route.id, "trip": track.trip_at(t)}
    tl.event(t, "transport.panic", track.device.source, 4, pos.lat if pos else None,
             pos.lon if pos else None, attrs)  # fmt: skip


def _road_cameras(world: World) -> list[Camera]:
    return [c for c in world.cameras if c.site in ("anpr", "traffic")]


def _break_in(
    rng: random.Random, tl: Timeline, world: World, plan: IncidentPlan, plates: Plates, t: int
) -> str | None:
    road = _road_cameras(world)
    sites = [
        c for c in world.cameras if c.site in ("office", "school") and c.commune.type != "phường"
    ]
    sites = [
        c for c in sites if road and min(distance_km(c.lat, c.lon, r.lat, r.lon) for r in road) < 15
    ]
    if not sites or len(road) < 2:
        return None
    cam = rng.choice(sites)
    inc = plan.next_id(world.province)
    detection(rng, tl, cam, t, "security.intrusion", incident=inc, zone=cam.zones[-1], object_count=2,
              severity=3)  # fmt: skip
    detection(rng, tl, cam, t + rng.randint(40, 90), "security.loitering", incident=inc, object_count=2,
              severity=2)  # fmt: skip
    others = [c for c in world.cameras_in(cam.commune.code) if c is not cam]
    second = others[0] if others else cam
    detection(rng, tl, second, t + rng.randint(180, 360), "security.line_crossing", incident=inc,
              severity=2)  # fmt: skip
    plate = plates.motorbike()
    first, nxt = sorted(road, key=lambda r: distance_km(cam.lat, cam.lon, r.lat, r.lon))[:2]
    t1 = t + rng.randint(600, 1500)
    detection(rng, tl, first, t1, "security.plate_read", incident=inc, plate=plate,
              vehicle_type="motorbike", direction="out", watchlist=True, severity=3)  # fmt: skip
    hop = distance_km(first.lat, first.lon, nxt.lat, nxt.lon)
    t2 = t1 + int(hop / rng.uniform(55, 75) * 3600) + 30
    detection(rng, tl, nxt, t2, "security.plate_read", incident=inc, plate=plate,
              vehicle_type="motorbike", direction="out", watchlist=True, severity=3)  # fmt: skip
    detection(rng, tl, nxt, t2 + 2, "security.traffic_violation", incident=inc, plate=plate,
              violation="speeding", speed_kmh=round(rng.uniform(84, 96), 1), severity=2)  # fmt: skip
    return inc


def _stolen_car(
    rng: random.Random, tl: Timeline, world: World, plan: IncidentPlan, plates: Plates, t: int
) -> str | None:
    road = _road_cameras(world)
    best: list[tuple[float, Camera]] = []
    for route in sorted(world.routes, key=lambda r: r.id):
        along = []
        for cam in road:
            steps = int(route.length_km / 0.5)
            km = min(
                range(steps + 1),
                key=lambda i: distance_km(cam.lat, cam.lon, *route.path.at(i * 0.5)[:2]),
            )
            lat, lon, _ = route.path.at(km * 0.5)
            if distance_km(cam.lat, cam.lon, lat, lon) < 0.3:
                along.append((km * 0.5, cam))
        if len(along) > len(best):
            best = sorted(along, key=lambda x: x[0])
    if len(best) < 2:
        return None
    if rng.random() < 0.5:
        best = [(best[-1][0] - km, cam) for km, cam in reversed(best)]
    inc = plan.next_id(world.province)
    plate = plates.car()
    speed = rng.uniform(55, 70)
    km0 = best[0][0]
    last = t
    for km, cam in best[:4]:
        last = t + int((km - km0) / speed * 3600)
        detection(rng, tl, cam, last, "security.plate_read", incident=inc, plate=plate,
                  vehicle_type="car", direction="out", watchlist=True, severity=3)  # fmt: skip
    detection(rng, tl, best[min(3, len(best) - 1)][1], last + 3, "security.traffic_violation",
              incident=inc, plate=plate, violation="wrong_way", severity=2)  # fmt: skip
    return inc
