"""Daily rhythms (relative rates per local hour) and the random draws built on them.

Only `random.Random` is used: its streams are stable across Python versions, so a
seed gives the same file everywhere (numpy's distributions may change between releases).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

# Relative activity per local hour 00..23; only the shape matters.
NIGHT = (3, 3, 3, 3, 2.5, 1.5, 0.6, 0.3, 0.2, 0.2, 0.2, 0.2,
         0.3, 0.3, 0.2, 0.2, 0.3, 0.4, 0.6, 0.9, 1.2, 1.8, 2.5, 3)  # fmt: skip
TRAFFIC = (0.15, 0.1, 0.08, 0.08, 0.15, 0.5, 1.4, 2.2, 1.6, 1.0, 0.9, 1.0,
           1.0, 0.9, 0.9, 1.1, 1.5, 2.2, 2.0, 1.3, 0.9, 0.6, 0.4, 0.25)  # fmt: skip
MARKET = (0.05, 0.05, 0.05, 0.1, 0.8, 2.2, 2.5, 2.0, 1.4, 1.0, 0.8, 0.6,
          0.4, 0.4, 0.5, 0.8, 1.2, 1.5, 1.2, 0.8, 0.4, 0.2, 0.1, 0.05)  # fmt: skip
EVENING = (0.3, 0.1, 0.05, 0.05, 0.05, 0.4, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3,
           0.3, 0.3, 0.3, 0.4, 0.6, 1.0, 1.8, 2.6, 2.8, 2.4, 1.5, 0.7)  # fmt: skip
SCHOOL = (0.02, 0.02, 0.02, 0.02, 0.02, 0.1, 2.5, 0.8, 0.2, 0.2, 0.5, 2.0,
          0.6, 0.4, 0.3, 0.3, 2.2, 1.0, 0.3, 0.1, 0.1, 0.05, 0.02, 0.02)  # fmt: skip
DAYTIME = (0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.2, 1.4, 1.5, 1.5, 1.4,
           1.3, 1.4, 1.5, 1.5, 1.4, 1.2, 1.0, 0.8, 0.5, 0.3, 0.2, 0.1)  # fmt: skip
BRAWL = (1.2, 1.0, 0.6, 0.3, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3,
         0.3, 0.2, 0.2, 0.3, 0.5, 0.7, 0.9, 1.2, 1.6, 2.0, 2.2, 1.8)  # fmt: skip
# Riders: students and workers at 06-08 and 16-18, a lunch bump, quiet after 20:00.
RIDERS = (0, 0, 0, 0, 0.1, 0.8, 2.4, 2.0, 1.0, 0.8, 0.8, 1.1,
          1.0, 0.8, 0.8, 1.0, 2.0, 2.2, 1.2, 0.7, 0.4, 0.2, 0, 0)  # fmt: skip
# Network load: busy hour in the evening (video on phones), trough before dawn.
LOAD = (0.35, 0.25, 0.2, 0.2, 0.25, 0.35, 0.5, 0.65, 0.7, 0.7, 0.7, 0.75,
        0.8, 0.75, 0.7, 0.7, 0.75, 0.8, 0.9, 1.0, 1.0, 0.95, 0.8, 0.55)  # fmt: skip
# Unplanned power faults: evening peak load, afternoon storms.
GRID = (0.3, 0.3, 0.3, 0.3, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
        1.1, 1.3, 1.6, 1.8, 1.8, 1.7, 1.9, 1.9, 1.5, 1.0, 0.6, 0.4)  # fmt: skip


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal beyond)."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def times_from_curve(
    rng: random.Random, per_day: float, curve: Sequence[float], duration_s: int
) -> list[int]:
    """Event times (seconds after local midnight) of a Poisson process shaped by an hourly curve."""
    total = sum(curve)
    out: list[int] = []
    for hour in range(min(24, math.ceil(duration_s / 3600))):
        lam = per_day * curve[hour] / total
        for _ in range(poisson(rng, lam)):
            t = hour * 3600 + int(rng.random() * 3600)
            if t < duration_s:
                out.append(t)
    out.sort()
    return out


def pick_hour(rng: random.Random, curve: Sequence[float], lo: int = 0, hi: int = 24) -> int:
    """A random second of the day whose hour follows the curve, within [lo, hi) hours."""
    hours = list(range(lo, hi))
    hour = rng.choices(hours, weights=[curve[h] for h in hours])[0]
    return hour * 3600 + int(rng.random() * 3600)


def lognormal_s(rng: random.Random, median_s: float, sigma: float, lo: float, hi: float) -> int:
    """A duration in seconds, log-normal around a median and clipped to [lo, hi]."""
    return int(min(hi, max(lo, median_s * math.exp(rng.gauss(0.0, sigma)))))
