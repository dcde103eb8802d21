"""Village power outages and restorations, as the utility's outage system reports them."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sample_feeds.generator.rhythm import GRID, lognormal_s, pick_hour, poisson
from sample_feeds.generator.timeline import Device, Timeline
from sample_feeds.generator.world import Village, World

PLANNED_CAUSE = "Cắt điện theo kế hoạch để bảo dưỡng, sửa chữa lưới điện"
FAULT_CAUSES = (
    "Sự cố đường dây trung thế",
    "Cây đổ vào đường dây",
    "Sự cố máy biến áp",
    "Phương tiện va chạm cột điện",
)
EVENING_CAUSE = "Quá tải trạm biến áp giờ cao điểm"
STORM_CAUSE = "Giông sét gây sự cố lưới điện"


@dataclass(frozen=True, slots=True)
class Outage:
    """One outage; `feeder` outages take out the whole commune (cameras, cell sites)."""

    id: str
    village: Village
    start: int
    end: int
    households: int
    cause: str
    feeder: bool
    planned: bool = False


def utility_device(world: World) -> Device:
    """The utility's outage-management feed, the source of every power event."""
    from ioc.geo import geography

    province = geography().province(world.province)
    return Device(f"evn-{world.province}-oms", "power", f"Điện lực {province.short_name} (OMS)")


def plan_outages(
    rng: random.Random, world: World, day_tag: str, duration_s: int, injected: list[Outage]
) -> list[Outage]:
    """Planned maintenance, faults through the day, plus outages that incidents cause."""
    big = len(world.communes) > 80
    outages = list(injected)
    villages = sorted(world.villages, key=lambda v: v.name)
    number = len(outages)

    def add(
        village: Village, start: int, length: int, cause: str, feeder: bool, planned: bool
    ) -> None:
        nonlocal number
        end = min(start + length, duration_s - 600)
        if end - start < 600:
            return
        number += 1
        households = village.households * (rng.randint(3, 8) if feeder else 1)
        outages.append(Outage(f"out-{world.province}-{day_tag}-{number:02d}", village, start, end,
                              households, cause, feeder, planned))  # fmt: skip

    for _ in range(2 if big else 1):
        start = 7 * 3600 + rng.randint(0, 90) * 60
        add(
            rng.choice(villages),
            start,
            rng.randint(4, 8) * 3600,
            PLANNED_CAUSE,
            rng.random() < 0.7,
            True,
        )
    for _ in range(poisson(rng, 9 if big else 7)):
        start = pick_hour(rng, GRID)
        hour = start // 3600
        if 17 <= hour <= 20 and rng.random() < 0.4:
            cause = EVENING_CAUSE
        elif 13 <= hour <= 18 and rng.random() < (0.5 if not big else 0.25):
            cause = STORM_CAUSE
        else:
            cause = rng.choice(FAULT_CAUSES)
        length = lognormal_s(rng, 55 * 60, 0.7, 12 * 60, 5 * 3600)
        add(rng.choice(villages), start, length, cause, rng.random() < 0.3, False)
    return sorted(outages, key=lambda o: (o.start, o.id))


def emit_outages(tl: Timeline, world: World, outages: list[Outage]) -> None:
    """Started and restored events, at the village."""
    device = utility_device(world)
    tl.status(0, device, "online")
    for o in outages:
        v = o.village
        attrs = {"village": v.name, "outage": o.id, "households": o.households, "cause": o.cause}
        tl.event(
            o.start,
            "power.outage_started",
            device.source,
            1 if o.planned else 2,
            v.lat,
            v.lon,
            attrs,
        )
        tl.event(o.end, "power.outage_restored", device.source, 0, v.lat, v.lon, attrs)
