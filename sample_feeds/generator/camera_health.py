"""Camera health: offline/online, frozen, covered, blurred, glare, moved; with realistic durations.

Some conditions have causes elsewhere in the feed: cameras go offline when a
commune-wide outage outlasts their UPS, Đà Lạt cameras blur in the morning fog.
A camera that is offline, frozen or covered detects nothing meanwhile.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from sample_feeds.generator.power import Outage
from sample_feeds.generator.rhythm import NIGHT, lognormal_s, pick_hour, poisson
from sample_feeds.generator.timeline import Device, Timeline
from sample_feeds.generator.world import Camera, World

# Conditions during which the camera's analytics see nothing.
BLINDING = ("camera.offline", "camera.frozen", "camera.covered")
SEVERITY = {
    "camera.offline": 2,
    "camera.frozen": 2,
    "camera.covered": 3,
    "camera.blurred": 1,
    "camera.too_bright": 1,
    "camera.scene_change": 2,
}
# (metric when opened, healthy baseline): frame difference, mean luma, Laplacian variance, similarity.
METRICS = {
    "camera.frozen": ((0.0, 0.0), (2.5, 6.0)),
    "camera.covered": ((4.0, 15.0), (90.0, 130.0)),
    "camera.blurred": ((20.0, 80.0), (300.0, 650.0)),
    "camera.too_bright": ((238.0, 252.0), (110.0, 140.0)),
    "camera.scene_change": ((0.2, 0.45), (0.88, 0.97)),
}
RAINY_LENSES = {"46": 6}
# A bridge reports each camera's health this often (the retained status, with a fresh ts),
# well inside the 15 minutes after which the camera wall calls a silent camera silent.
HEARTBEAT_S = 600  # every 5 min would take the Lâm Đồng feed over its 5 MB budget
VENDOR_EVENTS = {
    ("hikvision", "camera.offline"): "videoloss",
    ("dahua", "camera.offline"): "VideoLoss",
    ("hikvision", "camera.covered"): "shelteralarm",
    ("dahua", "camera.covered"): "VideoBlind",
}


@dataclass(frozen=True, slots=True)
class Condition:
    """One health condition of one camera, from opened to closed."""

    camera: Camera
    kind: str
    start: int
    end: int


class HealthPlan:
    """Conditions per camera, never two at once on the same camera."""

    def __init__(self) -> None:
        self.by_camera: dict[str, list[Condition]] = {}

    def add(self, cond: Condition) -> bool:
        """Add unless it overlaps another condition of the camera."""
        if cond.end <= cond.start:
            return False
        taken = self.by_camera.setdefault(cond.camera.source, [])
        if any(cond.start < c.end + 60 and c.start < cond.end + 60 for c in taken):
            return False
        taken.append(cond)
        return True

    def blind(self, source: str) -> list[tuple[int, int]]:
        """Intervals when the camera cannot detect anything."""
        return [(c.start, c.end) for c in self.by_camera.get(source, []) if c.kind in BLINDING]

    def all(self) -> list[Condition]:
        """Every condition, by start."""
        return sorted((c for cs in self.by_camera.values() for c in cs),
                      key=lambda c: (c.start, c.camera.source))  # fmt: skip


def _fog_zone(province: str, cam: Camera) -> bool:
    # The Đà Lạt plateau (~1,500 m) has morning fog in the dry-season months.
    return province == "68" and 11.78 <= cam.lat <= 12.1 and 108.25 <= cam.lon <= 108.65


def plan_health(
    rng: random.Random,
    world: World,
    outages: list[Outage],
    injected: list[Condition],
    duration_s: int,
) -> HealthPlan:
    """Every camera condition of the day."""
    plan = HealthPlan()
    end_limit = duration_s - 900
    for cond in injected:
        plan.add(cond)
    for o in outages:
        if not o.feeder:
            continue
        for cam in world.cameras_in(o.village.commune.code):
            # With a UPS a camera lasts a while; without, it drops with the grid.
            off = o.start + (rng.randint(15, 45) * 60 if cam.has_ups else rng.randint(5, 90))
            on = o.end + rng.randint(90, 240)
            if off < o.end:
                plan.add(Condition(cam, "camera.offline", off, min(on, end_limit)))
    cams = sorted(world.cameras, key=lambda c: c.source)
    for cam in cams:
        if rng.random() < 0.05:
            start = rng.randint(1800, max(1801, duration_s - 3600))
            length = lognormal_s(rng, 40 * 60, 1.0, 5 * 60, 8 * 3600)
            plan.add(Condition(cam, "camera.offline", start, min(start + length, end_limit)))
    for _ in range(1 + poisson(rng, 2.5)):
        cam = rng.choice(cams)
        start = rng.randint(1800, max(1801, duration_s - 3600))
        length = lognormal_s(rng, 20 * 60, 0.6, 6 * 60, 90 * 60)
        plan.add(Condition(cam, "camera.frozen", start, min(start + length, end_limit)))
    for _ in range(1 + poisson(rng, 1.5)):
        cam = rng.choice(cams)
        start = pick_hour(rng, NIGHT)
        length = lognormal_s(rng, 12 * 60, 0.7, 3 * 60, 45 * 60)
        plan.add(Condition(cam, "camera.covered", start, min(start + length, end_limit)))
    for cam in cams:
        if _fog_zone(world.province, cam) and rng.random() < 0.65:
            start = rng.randint(int(4.6 * 3600), int(6.2 * 3600))
            plan.add(
                Condition(
                    cam, "camera.blurred", start, rng.randint(int(7.3 * 3600), int(8.8 * 3600))
                )
            )
    # Afternoon rain on the lens; November is the height of the rainy season in Huế.
    for cam in rng.sample(cams, k=min(RAINY_LENSES.get(world.province, 2), len(cams))):
        start = rng.randint(13 * 3600, 15 * 3600)
        plan.add(Condition(cam, "camera.blurred", start, start + rng.randint(80, 180) * 60))
    dirty = rng.choice(cams)  # a dirty lens until the maintenance crew's round
    plan.add(
        Condition(
            dirty,
            "camera.blurred",
            rng.randint(6 * 3600, 7 * 3600),
            rng.randint(15 * 3600, 16 * 3600),
        )
    )
    road = [c for c in cams if c.site in ("traffic", "anpr")]
    for cam in rng.sample(road, k=min(4, len(road))):
        # Low sun straight into the lens, morning or evening by the camera's facing.
        start = (
            rng.randint(6 * 3600, 6 * 3600 + 600)
            if rng.random() < 0.5
            else rng.randint(16 * 3600 + 3000, 17 * 3600 + 300)
        )
        plan.add(Condition(cam, "camera.too_bright", start, start + rng.randint(15, 35) * 60))
    for _ in range(poisson(rng, 0.8)):
        cam = rng.choice(cams)
        start = rng.randint(8 * 3600, 18 * 3600)
        plan.add(Condition(cam, "camera.scene_change", start, start + rng.randint(30, 120) * 60))
    for conds in plan.by_camera.values():
        conds[:] = [c for c in conds if c.start < end_limit]
    return plan


def camera_device(cam: Camera) -> Device:
    """The camera as a device with a retained status."""
    return Device(cam.source, "camera", cam.name, cam.lat, cam.lon)


def emit_heartbeats(tl: Timeline, world: World, plan: HealthPlan) -> None:
    """Every HEARTBEAT_S the bridge's health report per camera: 'offline' during an offline
    condition, else 'online'. Each camera has its own phase (from its id, so the day's other
    messages are unchanged), as bridges polling their cameras in turn have."""
    for cam in world.cameras:
        device = camera_device(cam)
        down = [(c.start, c.end) for c in plan.by_camera.get(cam.source, [])
                if c.kind == "camera.offline"]  # fmt: skip
        t = zlib.crc32(cam.source.encode()) % HEARTBEAT_S
        while t < tl.duration_s:
            off = any(start <= t < end for start, end in down)
            tl.status(t, device, "offline" if off else "online")
            t += HEARTBEAT_S


def emit_health(
    rng: random.Random, tl: Timeline, world: World, plan: HealthPlan, day_tag: str
) -> None:
    """Opened/closed events per condition, the offline/online status changes and heartbeats."""
    for cam in world.cameras:
        tl.status(0, camera_device(cam), "online")
    emit_heartbeats(tl, world, plan)
    numbers: dict[str, int] = {}
    for cond in plan.all():
        cam = cond.camera
        short = cond.kind.split(".", 1)[1]
        numbers[cam.source] = numbers.get(cam.source, 0) + 1
        cond_id = f"{cam.source}-{short}-{day_tag}-{numbers[cam.source]}"
        base: dict = {"condition": cond_id}
        vendor_event = VENDOR_EVENTS.get((cam.vendor, cond.kind))
        if vendor_event:
            base |= {"vendor": cam.vendor, "vendor_event": vendor_event}
        opened = base | {"state": "opened"}
        closed = base | {"state": "closed"}
        if cond.kind in METRICS:
            (lo, hi), (blo, bhi) = METRICS[cond.kind]
            baseline = round(rng.uniform(blo, bhi), 2)
            opened |= {"metric": round(rng.uniform(lo, hi), 2), "baseline": baseline}
            closed |= {"metric": round(baseline * rng.uniform(0.92, 1.05), 2), "baseline": baseline}
        tl.event(cond.start, cond.kind, cam.source, SEVERITY[cond.kind], cam.lat, cam.lon, opened)
        tl.event(cond.end, cond.kind, cam.source, 0, cam.lat, cam.lon, closed)
        if cond.kind == "camera.offline":
            tl.status(cond.start, camera_device(cam), "offline")
            tl.status(cond.end, camera_device(cam), "online")
