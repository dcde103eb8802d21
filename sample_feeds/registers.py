"""A plausible, SYNTHETIC village and camera register for every commune, with programme history.

What is real: the communes (codes, names, type, centre, area, population) of ioc.geo.
What is synthetic, all of it drawn from a seeded random generator:
- villages: about one thôn/bản per 550 residents in a xã (one tổ dân phố per 900 in a phường),
  their names ("Thôn 3", "Bản 2"), positions near the commune centre, households and residents
  (the commune's population shared out, 3.8 residents a household);
- signal and power at the baseline: a phường is covered; a xã in a gap or off the grid with a
  small chance, a remote xã (fewer than 120 residents per km², the stand-in for mountain and
  border communes, which the geography does not mark) with a much larger one;
- when villages are covered after the baseline, and the cameras each commune plans and when they
  were integrated (owner, vendor, bus route).
Same seed and arguments, same register.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from ioc.geo import Commune, geography
from ioc.registers.models import SIGNAL_LEVELS, CameraRow, VillageRow
from sample_feeds.generator.geometry import offset

REMOTE_DENSITY = 120.0  # residents per km² below which a xã is treated as remote
RESIDENTS_PER_VILLAGE = {"xã": 550, "đặc khu": 550, "phường": 900}
RESIDENTS_PER_HOUSEHOLD = 3.8
# Chance a village starts below 4G / without grid power.
SIGNAL_GAP = {"phường": 0.0, "near": 0.04, "remote": 0.3}
POWER_GAP = {"phường": 0.0, "near": 0.01, "remote": 0.12}
# Share of the programme done by the end of the history (the rest is still remaining).
SIGNAL_DONE, POWER_DONE, CAMERAS_DONE = 0.62, 0.7, 0.66
VENDORS = ("Hikvision", "Dahua", "KBVision", "Vantech", "Axis")
OWNERS = (("security", 0.4), ("traffic", 0.35), ("transport", 0.1), ("other", 0.15))


@dataclass(frozen=True, slots=True)
class GeneratedRegister:
    """Baseline declarations, later declarations of covered villages, and the camera plan."""

    baseline: list[VillageRow]
    updates: list[VillageRow]
    cameras: list[CameraRow]


def _remote(c: Commune) -> str:
    if c.type == "phường":
        return "phường"
    density = (c.population or 0) / c.area_km2 if c.area_km2 else REMOTE_DENSITY
    return "remote" if density < REMOTE_DENSITY else "near"


def _progress_day(rng: random.Random, start: date, until: date) -> date:
    # Work speeds up over a programme: a day drawn with density rising towards `until`.
    span = max((until - start).days, 1)
    return start + timedelta(days=int(span * math.sqrt(rng.random())))


def _operators(rng: random.Random, best: str) -> dict[str, str]:
    # Viettel reaches furthest (it has the best level); the others as well or worse, or absent.
    levels = SIGNAL_LEVELS[: SIGNAL_LEVELS.index(best) + 1]
    ops = {"Viettel": best}
    for op in ("VNPT", "MobiFone"):
        ops[op] = rng.choice(levels)
    return ops


def _position(rng: random.Random, c: Commune) -> tuple[float | None, float | None]:
    geo = geography()
    spread = max(0.4, min(6.0, math.sqrt(c.area_km2 or 20.0) * 0.3))
    for _ in range(4):
        lat, lon = offset(c.lat, c.lon, rng.uniform(0, 360), rng.uniform(0.1, spread))
        if geo.inside_vietnam(lat, lon):
            return round(lat, 5), round(lon, 5)
    return (c.lat, c.lon) if geo.inside_vietnam(c.lat, c.lon) else (None, None)


def generate_register(
    provinces: list[str], *, start: date, until: date, seed: int = 1
) -> GeneratedRegister:
    """The synthetic register of these provinces: baseline on `start`, progress until `until`."""
    if until < start:
        raise ValueError("until is before start")
    geo = geography()
    baseline: list[VillageRow] = []
    updates: list[VillageRow] = []
    cameras: list[CameraRow] = []
    for code in provinces:
        province = geo.province(code).code
        rng = random.Random(f"{seed}:{province}")
        routes = [f"BUS-{province}-{n:02d}" for n in range(1, 9)]
        for c in geo.communes_of(province):
            zone = _remote(c)
            population = c.population or 3000
            per = RESIDENTS_PER_VILLAGE.get(c.type, 550)
            n = max(2, min(60, round(population / per)))
            if c.type == "phường":
                kind, prefix = "tổ dân phố", "Tổ dân phố"
            elif zone == "remote" and rng.random() < 0.5:
                kind, prefix = "bản", "Bản"
            else:
                kind, prefix = "thôn", "Thôn"
            weights = [rng.uniform(0.6, 1.4) for _ in range(n)]
            total = sum(weights)
            for i, w in enumerate(weights, start=1):
                residents = max(40, round(population * w / total))
                households = max(10, round(residents / RESIDENTS_PER_HOUSEHOLD))
                lat, lon = _position(rng, c)
                signal = "4G" if c.type == "phường" or rng.random() >= SIGNAL_GAP[zone] else None
                if signal is None:
                    signal = rng.choice(("none", "none", "2G", "3G"))
                power = "connected" if rng.random() >= POWER_GAP[zone] else None
                if power is None:
                    power = rng.choice(("none", "off_grid"))
                row = VillageRow(
                    province=province,
                    ward=c.code,
                    name=f"{prefix} {i}",
                    kind=kind,
                    lat=lat,
                    lon=lon,
                    households=households,
                    residents=residents,
                    signal=signal,
                    operators=_operators(rng, signal),
                    power=power,
                    declared_on=start,
                )
                baseline.append(row)
                steps: list[tuple[date, str, str]] = []
                if signal not in ("4G", "5G") and rng.random() < SIGNAL_DONE:
                    steps.append((_progress_day(rng, start, until), "signal", "4G"))
                if power != "connected" and rng.random() < POWER_DONE:
                    steps.append((_progress_day(rng, start, until), "power", "connected"))
                state: dict[str, object] = {}
                for day, name, value in sorted(steps):
                    state[name] = value
                    if name == "signal":
                        state["operators"] = row.operators | {"Viettel": value}
                    updates.append(row.model_copy(update=state | {"declared_on": day}))
            planned = rng.randint(5, 14) if c.type == "phường" else rng.randint(1, 4)
            for k in range(1, planned + 1):
                r = rng.random()
                owner = "other"
                for name, share in OWNERS:
                    if r < share:
                        owner = name
                        break
                    r -= share
                planned_on = start + timedelta(days=rng.randint(0, 30))
                done = rng.random() < CAMERAS_DONE
                cameras.append(
                    CameraRow(
                        id=f"CAM-{c.code}-{k:02d}",
                        province=province,
                        ward=c.code,
                        owner=owner,
                        vendor=rng.choice(VENDORS),
                        route=rng.choice(routes) if owner == "transport" else None,
                        planned_on=planned_on,
                        integrated_on=_progress_day(rng, planned_on, until)
                        if done and planned_on <= until
                        else None,
                    )
                )
    updates.sort(key=lambda v: v.declared_on)
    return GeneratedRegister(baseline, updates, cameras)
