"""Mobile network: probe signal samples, coverage gaps that open and close, cell sites down/up.

Gaps are derived from the samples (two missing-service samples in a row open one,
the next good sample closes it), so the events agree with the measurements. A cell
site goes down on faults, maintenance, or when a commune-wide power outage outlasts
its battery; rural villages it serves then lose service.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sample_feeds.generator.geometry import distance_km
from sample_feeds.generator.power import Outage
from sample_feeds.generator.rhythm import LOAD, lognormal_s, pick_hour, poisson
from sample_feeds.generator.timeline import Device, Timeline
from sample_feeds.generator.world import CellSite, Probe, World

SAMPLE_EVERY_S = 300
FAULT_CAUSES = (
    "Mất truyền dẫn cáp quang",
    "Lỗi phần cứng thiết bị BTS",
    "Sét đánh hỏng thiết bị",
)
MAINTENANCE_CAUSE = "Bảo dưỡng định kỳ theo kế hoạch"
FALLBACK = {"5G": "4G", "4G": "3G", "3G": "2G", "2G": "2G"}


@dataclass(frozen=True, slots=True)
class CellOutage:
    cell: CellSite
    start: int
    end: int
    cause: str


def probe_device(p: Probe) -> Device:
    """The probe as a device with a retained status."""
    return Device(p.source, "network", f"Đầu đo sóng {p.operator} tại {p.village.name}",
                  p.village.lat, p.village.lon)  # fmt: skip


def cell_device(c: CellSite) -> Device:
    """The cell site as a device with a retained status."""
    return Device(c.source, "network", f"Trạm BTS {c.operator} {c.technology}, {c.commune.name}",
                  c.lat, c.lon)  # fmt: skip


def plan_cells(
    rng: random.Random, world: World, outages: list[Outage], duration_s: int
) -> list[CellOutage]:
    """When each cell site is down, and why."""
    down: list[CellOutage] = []

    def add(cell: CellSite, start: int, end: int, cause: str) -> None:
        end = min(end, duration_s - 600)
        if end - start < 300:
            return
        if any(c.cell is cell and start < c.end + 300 and c.start < end + 300 for c in down):
            return
        down.append(CellOutage(cell, start, end, cause))

    cells = world.cells
    for o in outages:
        for cell in cells:
            if cell.commune.code != o.village.commune.code:
                continue
            # A feeder outage darkens the commune; a village one only a site next to it.
            near = distance_km(cell.lat, cell.lon, o.village.lat, o.village.lon) < 2.0
            if o.feeder or near:
                off = o.start + cell.battery_min * 60
                if off < o.end:
                    cause = f"Mất điện lưới, hết ắc quy dự phòng ({o.id})"
                    add(cell, off, o.end + rng.randint(120, 420), cause)
    for _ in range(poisson(rng, 3.0 if len(world.communes) > 80 else 2.0)):
        cell = rng.choice(cells)
        start = rng.randint(3600, duration_s - 3 * 3600) if duration_s > 4 * 3600 else 0
        add(
            cell,
            start,
            start + lognormal_s(rng, 70 * 60, 0.6, 20 * 60, 4 * 3600),
            rng.choice(FAULT_CAUSES),
        )
    cell = rng.choice(cells)
    start = rng.randint(3600, 3 * 3600)
    add(cell, start, start + rng.randint(30, 90) * 60, MAINTENANCE_CAUSE)
    return sorted(down, key=lambda c: (c.start, c.cell.source))


def generate_network(
    rng: random.Random, world: World, tl: Timeline, outages: list[Outage], day_tag: str
) -> None:
    """Samples, gaps and cell events for the whole day."""
    duration = tl.duration_s
    cell_down = plan_cells(rng, world, outages, duration)
    for c in world.cells:
        tl.status(0, cell_device(c), "online")
    for c in cell_down:
        attrs = {"cell": c.cell.source, "operator": c.cell.operator,
                 "technology": c.cell.technology, "cause": c.cause}  # fmt: skip
        tl.event(c.start, "network.cell_down", c.cell.source, 3, c.cell.lat, c.cell.lon, attrs)
        tl.event(c.end, "network.cell_up", c.cell.source, 0, c.cell.lat, c.cell.lon,
                 {k: v for k, v in attrs.items() if k != "cause"})  # fmt: skip
        tl.status(c.start, cell_device(c.cell), "offline")
        tl.status(c.end, cell_device(c.cell), "online")
    for n, probe in enumerate(world.probes):
        tl.status(0, probe_device(probe), "online")
        no_service, degraded = _episodes(rng, probe, cell_down, duration)
        _samples(rng, tl, probe, phase=(n * 10) % SAMPLE_EVERY_S, no_service=no_service,
                 degraded=degraded, day_tag=day_tag)  # fmt: skip


def _episodes(
    rng: random.Random, probe: Probe, cell_down: list[CellOutage], duration: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(no-service intervals, degraded intervals) of one probe."""
    no_service: list[tuple[int, int]] = []
    degraded: list[tuple[int, int]] = []
    rural = probe.village.commune.type != "phường"
    for c in cell_down:
        if c.cell is probe.cell:
            # A rural village has no second site in reach; in town a neighbour cell takes over.
            (no_service if rural else degraded).append((c.start, c.end + 60))
    if probe.gap_prone:
        for _ in range(poisson(rng, 1.6)):
            start = pick_hour(rng, LOAD, 6, 23)
            # Gaps close before the day ends, so a looped replay starts from a clean state.
            end = min(duration - 900, start + lognormal_s(rng, 70 * 60, 0.6, 20 * 60, 5 * 3600))
            if end - start >= 600:
                no_service.append((start, end))
    return no_service, degraded


def _inside(t: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= t < b for a, b in spans)


def _samples(
    rng: random.Random,
    tl: Timeline,
    probe: Probe,
    phase: int,
    no_service: list[tuple[int, int]],
    degraded: list[tuple[int, int]],
    day_tag: str,
) -> None:
    v = probe.village
    urban = v.commune.type == "phường"
    gap_open: str | None = None
    missing = 0
    gaps = 0
    wander = rng.uniform(0, 2 * math.pi)
    base = {"probe": probe.source, "village": v.name, "operator": probe.operator}
    for t in range(phase, tl.duration_s, SAMPLE_EVERY_S):
        if _inside(t, no_service):
            attrs = base | {"technology": "none"}
            missing += 1
        else:
            load = LOAD[(t // 3600) % 24]
            tech = probe.technology
            rsrp = probe.rsrp_base + 3.0 * math.sin(t / 5400 + wander) + rng.gauss(0, 2.2)
            if _inside(t, degraded):
                tech, rsrp = FALLBACK[tech], rsrp - 12.0
            # Evening load lowers quality (RSRQ) and SINR more than received power.
            rsrq = -7.0 - 7.0 * load + rng.gauss(0, 1.2)
            sinr = (
                (22.0 if urban else 14.0)
                - 11.0 * load
                + (rsrp - probe.rsrp_base) / 2
                + rng.gauss(0, 2.0)
            )
            attrs = base | {
                "technology": tech,
                "rsrp_dbm": round(min(-44.0, max(-140.0, rsrp)), 1),
                "rsrq_db": round(min(-3.0, max(-20.0, rsrq)), 1),
                "sinr_db": round(min(30.0, max(-10.0, sinr)), 1),
            }
            missing = 0
            if gap_open is not None:
                gap_attrs = {"village": v.name, "operator": probe.operator, "gap": gap_open,
                             "technology": probe.technology, "households": v.households}  # fmt: skip
                tl.event(t, "network.gap_closed", probe.source, 0, v.lat, v.lon, gap_attrs)
                gap_open = None
        tl.event(t, "network.signal_sample", probe.source, 0, v.lat, v.lon, attrs)
        if missing == 2 and gap_open is None:
            # Two missing samples in a row (5-10 min without service) confirm a gap.
            gaps += 1
            gap_open = f"gap-{probe.source}-{day_tag}-{gaps}"
            gap_attrs = {"village": v.name, "operator": probe.operator, "gap": gap_open,
                         "technology": probe.technology, "households": v.households}  # fmt: skip
            severity = 3 if v.households >= 250 else 2
            tl.event(t, "network.gap_opened", probe.source, severity, v.lat, v.lon, gap_attrs)
