"""Detections of fixed security cameras, by site type and time of day.

Offices and schools see intrusions at night, markets crowds at dawn, squares crowds and
fights in the evening, road cameras violations and plate reads at rush hours. A camera
that is offline, frozen or covered reports nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sample_feeds.generator.camera_health import HealthPlan
from sample_feeds.generator.rhythm import (
    BRAWL,
    DAYTIME,
    EVENING,
    MARKET,
    NIGHT,
    SCHOOL,
    TRAFFIC,
    times_from_curve,
)
from sample_feeds.generator.timeline import Pending, Timeline
from sample_feeds.generator.world import Camera, World

# (kind, expected per camera per day, hourly curve)
SITE_PROFILES: dict[str, tuple[tuple[str, float, Sequence[float]], ...]] = {
    "office": (
        ("security.intrusion", 0.5, NIGHT),
        ("security.loitering", 0.3, NIGHT),
        ("security.line_crossing", 0.3, NIGHT),
        ("security.crowd", 0.15, DAYTIME),
        ("security.fire", 0.004, DAYTIME),
    ),
    "market": (
        ("security.crowd", 2.5, MARKET),
        ("security.fighting", 0.04, BRAWL),
        ("security.intrusion", 0.3, NIGHT),
        ("security.loitering", 0.5, NIGHT),
        ("security.fire", 0.01, DAYTIME),
    ),
    "school": (
        ("security.crowd", 1.2, SCHOOL),
        ("security.intrusion", 0.6, NIGHT),
        ("security.fighting", 0.05, SCHOOL),
        ("security.line_crossing", 0.5, NIGHT),
    ),
    "square": (
        ("security.crowd", 2.5, EVENING),
        ("security.fighting", 0.06, BRAWL),
        ("security.loitering", 0.6, NIGHT),
    ),
    "junction": (
        ("security.traffic_violation", 18.0, TRAFFIC),
        ("security.crowd", 0.3, EVENING),
    ),
    "traffic": (
        ("security.traffic_violation", 30.0, TRAFFIC),
        ("security.plate_read", 40.0, TRAFFIC),
    ),
    "anpr": (
        ("security.plate_read", 350.0, TRAFFIC),
        ("security.traffic_violation", 6.0, TRAFFIC),
    ),
}
VENDOR_EVENTS = {
    "hikvision": {
        "security.intrusion": "fielddetection",
        "security.line_crossing": "linedetection",
        "security.loitering": "loitering",
        "security.crowd": "group",
        "security.fighting": "violentMotion",
        "security.fire": "smokeDetection",
        "security.traffic_violation": "TFS",
        "security.plate_read": "ANPR",
    },
    "dahua": {
        "security.intrusion": "CrossRegionDetection",
        "security.line_crossing": "CrossLineDetection",
        "security.loitering": "WanderDetection",
        "security.crowd": "RioterDetection",
        "security.fighting": "FightDetection",
        "security.fire": "SmokeDetection",
        "security.traffic_violation": "TrafficJunction",
        "security.plate_read": "TrafficJunction",
    },
}
VIOLATIONS = {
    "junction": (("red_light", 0.35), ("no_helmet", 0.25), ("lane", 0.2), ("wrong_way", 0.1),
                 ("illegal_parking", 0.1)),
    "traffic": (("speeding", 0.45), ("no_helmet", 0.25), ("lane", 0.15), ("wrong_way", 0.1),
                ("illegal_parking", 0.05)),
    "anpr": (("speeding", 1.0),),
}  # fmt: skip
SPEED_LIMIT = {"junction": 50, "traffic": 60, "anpr": 80}
NIGHT_HOURS = (22, 23, 0, 1, 2, 3, 4)


class Plates:
    """Draws plates from the province's pool; a few vehicles pass many times a day."""

    def __init__(self, rng: random.Random, pool: list[str]) -> None:
        self.rng = rng
        self.pool = pool

    def draw(self) -> str:
        """A plate, skewed towards frequent vehicles."""
        return self.pool[int(len(self.pool) * self.rng.random() ** 2)]

    def motorbike(self) -> str:
        """A motorbike plate."""
        while True:
            plate = self.draw()
            if vehicle_type(plate) == "motorbike":
                return plate

    def car(self) -> str:
        """A car plate."""
        while True:
            plate = self.draw()
            if vehicle_type(plate) != "motorbike":
                return plate


def vehicle_type(plate: str) -> str:
    """Motorbike plates carry a digit after the series letter (49W1-...)."""
    return "motorbike" if plate.split("-")[0][-1].isdigit() else "car"


def detection(
    rng: random.Random,
    tl: Timeline,
    cam: Camera,
    t: int,
    kind: str,
    *,
    plates: Plates | None = None,
    incident: str | None = None,
    severity: int | None = None,
    **extra: Any,
) -> Pending:
    """One detection of a camera with attrs shaped like the vendor's; extra attrs override."""
    hour = (t // 3600) % 24
    night = hour in NIGHT_HOURS
    attrs: dict[str, Any] = {
        "confidence": round(rng.uniform(0.62, 0.97), 2),
        "zone": rng.choice(cam.zones),
        "vendor": cam.vendor,
        "vendor_event": VENDOR_EVENTS[cam.vendor][kind],
    }
    level = 1
    if kind == "security.intrusion":
        attrs["object_count"] = rng.choice((1, 1, 1, 2, 2, 3))
        level = 3 if night else 2
    elif kind == "security.loitering":
        attrs["object_count"] = rng.choice((1, 1, 2))
        level = 2 if night else 1
    elif kind == "security.line_crossing":
        attrs["object_count"] = 1
        level = 2 if night else 1
    elif kind == "security.crowd":
        count = int(15 + rng.paretovariate(2.2) * 12)
        attrs["object_count"] = min(count, 400)
        level = 2 if count >= 50 else 1
    elif kind == "security.fighting":
        attrs["object_count"] = rng.randint(2, 6)
        level = 3
    elif kind == "security.fire":
        level = 3
    elif kind == "security.traffic_violation":
        choices = VIOLATIONS[cam.site if cam.site in VIOLATIONS else "traffic"]
        violation = rng.choices([v for v, _ in choices], weights=[w for _, w in choices])[0]
        if violation == "no_helmet" and night:
            violation = "lane"  # too dark for helmet detection
        attrs["violation"] = violation
        plate = extra.get("plate") or _draw(plates, violation == "no_helmet")
        if rng.random() < 0.92:
            attrs["plate"] = plate
        if violation == "speeding":
            limit = SPEED_LIMIT[cam.site] if cam.site in SPEED_LIMIT else 60
            over = min(90.0, 5 + rng.expovariate(1 / 12))
            attrs["speed_kmh"] = round(limit + over, 1)
            level = 2 if over >= 30 else 1
    elif kind == "security.plate_read":
        plate = extra.get("plate") or _draw(plates, False)
        vtype = vehicle_type(plate)
        if vtype == "car":
            vtype = rng.choices(("car", "truck", "bus", "other"), weights=(70, 20, 6, 4))[0]
        attrs |= {"plate": plate, "vehicle_type": vtype, "direction": rng.choice(("in", "out"))}
        attrs["watchlist"] = rng.random() < 1 / 3000
        level = 3 if attrs["watchlist"] else 0
    if incident:
        attrs["incident"] = incident
    attrs |= extra
    level = level if severity is None else severity
    return tl.event(t, kind, cam.source, level, cam.lat, cam.lon, attrs)


def _draw(plates: Plates | None, motorbike: bool) -> str:
    if plates is None:
        raise ValueError("a plate or a plate pool is needed")
    return plates.motorbike() if motorbike else plates.draw()


def generate_security(
    rng: random.Random, tl: Timeline, world: World, health: HealthPlan, plates: Plates
) -> None:
    """Background detections of every camera, skipping times it is blind."""
    for cam in world.cameras:
        blind = health.blind(cam.source)
        for kind, per_day, curve in SITE_PROFILES[cam.site]:
            for t in times_from_curve(rng, per_day, curve, tl.duration_s):
                if any(a <= t < b for a, b in blind):
                    continue
                detection(rng, tl, cam, t, kind, plates=plates)
