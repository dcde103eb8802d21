"""National programmes with targets: a plan line, progress against it, and a projection.

The programmes a provincial IOC reports on (Notice 315/TB-VPCP; Plan 02-KH/BCĐTW):
- signal: mobile broadband (4G or better) in every village in a coverage gap, by November 2025;
- power: grid power in every village without it, by October 2025;
- cameras: security/order and public-transport cameras integrated into the provincial IOC
  (plan due July 2025; the notices set no completion date, so 2026-06-30 here is an
  assumption to be set by the province).
The target is the register's baseline (villages that entered the programme uncovered, cameras
planned); progress is counted from the register's covered/integrated days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

# Days of history the current rate is measured over, for the projection.
RATE_WINDOW_DAYS = 30


@dataclass(frozen=True, slots=True)
class Programme:
    """A programme: what it covers, when it started, its deadline and its milestones."""

    key: str
    start: date
    deadline: date
    # (day, share of the target planned done by then), increasing; the plan line joins them.
    milestones: tuple[tuple[date, float], ...] = ()

    def planned_share(self, day: date) -> float:
        """Share of the target the plan expects done by the end of `day` (0 to 1)."""
        points = [(self.start, 0.0), *self.milestones, (self.deadline, 1.0)]
        if day <= points[0][0]:
            return 0.0
        for (d0, s0), (d1, s1) in zip(points, points[1:], strict=False):
            if day <= d1:
                span = (d1 - d0).days
                return s1 if span <= 0 else s0 + (s1 - s0) * (day - d0).days / span
        return 1.0


PROGRAMMES: dict[str, Programme] = {
    "signal": Programme(
        "signal",
        start=date(2025, 6, 1),
        deadline=date(2025, 11, 30),
        milestones=((date(2025, 8, 31), 0.5),),
    ),
    "power": Programme(
        "power",
        start=date(2025, 6, 1),
        deadline=date(2025, 10, 31),
        milestones=((date(2025, 8, 31), 0.6),),
    ),
    "cameras": Programme(
        "cameras",
        start=date(2025, 7, 31),
        deadline=date(2026, 6, 30),
        milestones=((date(2025, 12, 31), 0.5),),
    ),
}


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a programme stands on a day."""

    target: int
    done: int
    remaining: int
    share: float
    planned_share: float
    # Done minus planned, in items (negative: behind the plan).
    ahead_of_plan: int
    days_to_deadline: int
    # Items done per day over the last RATE_WINDOW_DAYS days.
    rate_per_day: float
    # When the remaining items are done at that rate; None if nothing moves (or nothing left:
    # then it is `finished`).
    projected_completion: date | None
    finished: date | None


def cumulative(done_per_day: Sequence[tuple[date, int]], until: date) -> list[tuple[date, int]]:
    """Running totals of items done per day, up to and including `until`."""
    total = 0
    out = []
    for day, n in sorted(done_per_day):
        if day > until:
            break
        total += n
        out.append((day, total))
    return out


def progress(
    programme: Programme, target: int, done_per_day: Sequence[tuple[date, int]], today: date
) -> Progress:
    """Progress by the end of `today` from items done per day (only days up to today count)."""
    running = cumulative(done_per_day, today)
    done = running[-1][1] if running else 0
    remaining = max(target - done, 0)
    window_start = today - timedelta(days=RATE_WINDOW_DAYS)
    recent = sum(n for day, n in done_per_day if window_start < day <= today)
    rate = recent / RATE_WINDOW_DAYS
    finished = None
    if target and remaining == 0:
        finished = next(day for day, total in running if total >= target)
    projected = None
    if remaining and rate > 0:
        projected = today + timedelta(days=math.ceil(remaining / rate))
    planned = programme.planned_share(today)
    return Progress(
        target=target,
        done=done,
        remaining=remaining,
        share=done / target if target else 1.0,
        planned_share=planned,
        ahead_of_plan=done - round(planned * target),
        days_to_deadline=(programme.deadline - today).days,
        rate_per_day=rate,
        projected_completion=projected,
        finished=finished,
    )
