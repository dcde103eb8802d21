"""Episodes of the bulk world: camera conditions, coverage gaps, power outages and cell
outages that open and (unless still open at the end) close."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ioc.events import Event
from sample_feeds.generator.bulk_fleet import (
    CAMERA_CONDITIONS,
    OPERATORS,
    VILLAGES_PER_COMMUNE,
    Fleet,
)

if TYPE_CHECKING:
    from sample_feeds.generator.bulk import BulkWorld


def camera_episodes(w: BulkWorld, f: Fleet, lo: float, hi: float, n: int, out: list[Event]) -> None:
    """Up to n camera conditions, one at a time per camera, opened in [lo, hi)."""
    rng = w.rng
    rel = f.camera_reliability / f.camera_reliability.sum()
    names = [c[0] for c in CAMERA_CONDITIONS]
    probs = np.array([c[1] for c in CAMERA_CONDITIONS])
    for t in w.times(n, lo, hi):
        i = int(rng.choice(len(f.cameras), p=rel))
        cam, ward = f.cameras[i]
        start = float(t)
        # One condition at a time per camera, so a later batch never opens inside an
        # episode an earlier batch already closed.
        if start < w.camera_free.get(cam, 0.0) or not w.alive(cam, start):
            continue
        j = int(rng.choice(len(names), p=probs))
        kind, severity = names[j], CAMERA_CONDITIONS[j][2]
        duration = float(rng.lognormal(np.log(40 * 60), 1.2))
        cond = f"{cam}:{kind}:{int(start)}"
        out.append(
            w.event(
                start,
                cam,
                kind,
                severity,
                f.province,
                ward,
                {"state": "opened", "condition": cond},
            )
        )
        end = start + duration
        w.camera_free[cam] = end
        if end < w.end.timestamp():
            out.append(
                w.event(end, cam, kind, 0, f.province, ward, {"state": "closed", "condition": cond})
            )


def _village_episodes(
    w: BulkWorld, f: Fleet, lo: float, hi: float, n: int, out: list[Event], *, coverage: bool
) -> None:
    rng = w.rng
    for t in w.times(n, lo, hi):
        probe, ward = f.probes[int(rng.integers(len(f.probes)))]
        village = f"Thôn {int(rng.integers(1, VILLAGES_PER_COMMUNE + 1))}"
        households = int(rng.integers(20, 320))
        start = float(t)
        ref = f"{'gap' if coverage else 'out'}-{f.province}-{int(start)}-{int(rng.integers(1e6))}"
        if coverage:
            # Most gaps close within hours; one in ten lingers for days.
            median = 4 * 3600 if rng.random() < 0.9 else 4 * 86400
            duration = float(rng.lognormal(np.log(median), 0.8))
            op = OPERATORS[int(rng.integers(len(OPERATORS)))]
            attrs = {"village": village, "operator": op, "gap": ref, "households": households}
            kinds = ("network.gap_opened", "network.gap_closed")
            source = probe
        else:
            duration = float(rng.lognormal(np.log(2 * 3600), 1.0))
            attrs = {
                "village": village,
                "outage": ref,
                "households": households,
                "cause": "sự cố lưới điện",
            }
            kinds = ("power.outage_started", "power.outage_restored")
            source = f.grid[int(rng.integers(len(f.grid)))]
        out.append(w.event(start, source, kinds[0], 2, f.province, ward, attrs))
        end = start + duration
        if end < w.end.timestamp():
            out.append(w.event(end, source, kinds[1], 0, f.province, ward, attrs))


def coverage_episodes(
    w: BulkWorld, f: Fleet, lo: float, hi: float, n: int, out: list[Event]
) -> None:
    """n village coverage gaps opened in [lo, hi)."""
    _village_episodes(w, f, lo, hi, n, out, coverage=True)


def power_episodes(w: BulkWorld, f: Fleet, lo: float, hi: float, n: int, out: list[Event]) -> None:
    """n village power outages started in [lo, hi)."""
    _village_episodes(w, f, lo, hi, n, out, coverage=False)


def cell_episodes(w: BulkWorld, f: Fleet, lo: float, hi: float, n: int, out: list[Event]) -> None:
    """n cell-site outages started in [lo, hi)."""
    rng = w.rng
    for t in w.times(n, lo, hi):
        probe, ward = f.probes[int(rng.integers(len(f.probes)))]
        op = OPERATORS[int(rng.integers(len(OPERATORS)))]
        attrs = {
            "cell": f"{op[:2].upper()}-{ward}-{int(rng.integers(1, 9))}",
            "operator": op,
            "technology": "4G",
        }
        out.append(w.event(float(t), probe, "network.cell_down", 3, f.province, ward, attrs))
        end = float(t) + float(rng.lognormal(np.log(45 * 60), 0.9))
        if end < w.end.timestamp():
            out.append(w.event(end, probe, "network.cell_up", 0, f.province, ward, attrs))


EPISODE_MAKERS: dict[str, Callable[[BulkWorld, Fleet, float, float, int, list[Event]], None]] = {
    "camera": camera_episodes,
    "coverage": coverage_episodes,
    "cell": cell_episodes,
    "power": power_episodes,
}
