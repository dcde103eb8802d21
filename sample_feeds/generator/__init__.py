"""The one synthetic world. A province's day, device by device:
`generate_feed("68", "out.jsonl.gz", seed=1)`; weeks of every province in bulk, for the
benchmarks: `BulkWorld` (sample_feeds.generator.bulk).

One seed, one province and one day always give the same bytes. Each domain draws
from its own random stream, so changing one domain leaves the others' output alone.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ioc.geo import geography
from sample_feeds.feedfile import DEFAULT_TZ, FeedHeader, FeedLine, FeedWriter, feed_zone
from sample_feeds.generator.bulk import BulkWorld
from sample_feeds.generator.camera_health import emit_health, plan_health
from sample_feeds.generator.incidents import emit_incidents, plan_incidents
from sample_feeds.generator.network import generate_network
from sample_feeds.generator.power import emit_outages, plan_outages
from sample_feeds.generator.security import Plates, generate_security
from sample_feeds.generator.timeline import Timeline
from sample_feeds.generator.transport import buses_for, generate_transport
from sample_feeds.generator.world import World, build_world

GENERATOR_VERSION = 2  # 2: camera health heartbeats every 10 minutes
DEFAULT_DAY = date(2026, 11, 20)
SYNTHETIC_NOTE = (
    "Synthetic: every device, event, plate and measurement is generated; only commune "
    "names, codes, centroids and populations are real. Plates use the unissued series "
    "letter W. Roads are curved lines between commune centres, not real road geometry."
)


@dataclass
class GeneratedDay:
    """A generated feed in memory."""

    header: FeedHeader
    lines: list[FeedLine]
    counts: Counter[str]
    world: World
    incidents: list[str] = field(default_factory=list)


@dataclass
class GenerateStats:
    """What `generate_feed` wrote."""

    path: Path
    messages: int
    counts: Counter[str]
    file_bytes: int
    seconds: float
    devices: dict[str, int]
    incidents: list[str]

    def report(self) -> str:
        """Human-readable statistics."""
        lines = [
            f"wrote {self.messages:,} messages ({self.file_bytes / 1e6:.2f} MB) to {self.path} "
            f"in {self.seconds:.1f} s",
            "devices: " + ", ".join(f"{n} {k}" for k, n in self.devices.items()),
            f"incidents: {', '.join(self.incidents) or 'none'}",
        ]
        width = max(len(k) for k in self.counts) if self.counts else 0
        lines += [f"  {kind:<{width}} {n:>9,}" for kind, n in sorted(self.counts.items())]
        return "\n".join(lines)


def day_start(day: date, tz: str = DEFAULT_TZ) -> datetime:
    """Local midnight of the day, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=feed_zone(tz))


def generate_day(
    province: str, *, hours: float = 24.0, seed: int = 1, day: date = DEFAULT_DAY
) -> GeneratedDay:
    """Generate and validate one province's day (or its first `hours`) in memory."""
    geo = geography()
    code = geo.province(province).code
    keep = int(round(hours * 3600))
    if not 0 < keep <= 86400:
        raise ValueError(f"hours must be in (0, 24], got {hours}")
    # The whole day is always simulated and then cut, so a 3-hour feed is exactly the first
    # three hours of the 24-hour one (same events, same ids).
    duration = 86400
    start = day_start(day)
    day_tag = f"{day:%Y%m%d}s{seed}"

    def stream(name: str) -> random.Random:
        return random.Random(f"{code}:{seed}:{day.isoformat()}:{name}")

    world = build_world(stream("world"), code)
    tl = Timeline(code, start, duration, id_prefix=f"{code}-{day_tag}")
    plan = plan_incidents(stream("incidents"), world, day_tag, duration)
    outages = plan_outages(stream("power"), world, day_tag, duration, plan.outages)
    emit_outages(tl, world, outages)
    health = plan_health(stream("camera"), world, outages, plan.conditions, duration)
    emit_health(stream("camera-events"), tl, world, health, day_tag)
    generate_network(stream("network"), world, tl, outages, day_tag)
    plates = Plates(stream("plates"), world.plates)
    generate_security(stream("security"), tl, world, health, plates)
    bus_plates = [p for p in world.plates if "-" in p and not p.split("-")[0][-1].isdigit()]
    tracks = generate_transport(stream("transport"), world, tl, bus_plates)
    incidents = emit_incidents(stream("incident-events"), tl, world, plan, tracks, plates)
    lines, counts = tl.lines(keep)
    incidents = [i for i in incidents if any(_mentions(line, i) for line in lines)]
    header = FeedHeader(
        start=start,
        tz=DEFAULT_TZ,
        duration_s=float(keep),
        extra=_header_extra(code, day, seed, hours, world, counts, len(lines), incidents),
    )
    return GeneratedDay(header, lines, counts, world, incidents)


def _mentions(line: FeedLine, incident: str) -> bool:
    attrs = line.obj.get("attrs") if isinstance(line.obj, dict) else None
    return isinstance(attrs, dict) and attrs.get("incident") == incident


def _header_extra(
    code: str,
    day: date,
    seed: int,
    hours: float,
    world: World,
    counts: Counter[str],
    messages: int,
    incidents: list[str],
) -> dict[str, Any]:
    province = geography().province(code)
    return {
        "province": code,
        "province_name": province.name,
        "date": day.isoformat(),
        "hours": hours,
        "seed": seed,
        "generator": f"sample_feeds.generator/{GENERATOR_VERSION}",
        "synthetic": True,
        "note": SYNTHETIC_NOTE,
        "messages": messages,
        "devices": device_counts(world),
        "incidents": incidents,
        "counts": dict(sorted(counts.items())),
    }


def device_counts(world: World) -> dict[str, int]:
    """Devices per type in a world."""
    return {
        "cameras": len(world.cameras),
        "buses": sum(buses_for(r) for r in world.routes),
        "routes": len(world.routes),
        "probes": len(world.probes),
        "cell_sites": len(world.cells),
    }


def generate_feed(
    province: str,
    out: str | Path,
    *,
    hours: float = 24.0,
    seed: int = 1,
    day: date = DEFAULT_DAY,
) -> GenerateStats:
    """Generate a day and write it as a feed file (.gz compresses)."""
    began = time.monotonic()
    gen = generate_day(province, hours=hours, seed=seed, day=day)
    with FeedWriter(out, gen.header) as writer:
        for line in gen.lines:
            writer.write(line)
    return GenerateStats(
        path=Path(out),
        messages=len(gen.lines),
        counts=gen.counts,
        file_bytes=Path(out).stat().st_size,
        seconds=time.monotonic() - began,
        devices=device_counts(gen.world),
        incidents=gen.incidents,
    )


__all__ = [
    "DEFAULT_DAY",
    "BulkWorld",
    "GenerateStats",
    "GeneratedDay",
    "generate_day",
    "generate_feed",
]
