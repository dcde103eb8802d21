"""Small-distance geometry on the WGS84 sphere (good to a few metres within a province)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

EARTH_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def offset(lat: float, lon: float, bearing: float, km: float) -> tuple[float, float]:
    """The point km away along a bearing (flat approximation, fine below ~50 km)."""
    dlat = km * math.cos(math.radians(bearing)) / 111.195
    dlon = km * math.sin(math.radians(bearing)) / (111.195 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


class Polyline:
    """A path of points with cumulative lengths, for positions by distance travelled."""

    __slots__ = ("bearings", "cum", "length", "points")

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        self.points = list(points)
        self.cum = [0.0]
        self.bearings = []
        for (a_lat, a_lon), (b_lat, b_lon) in zip(self.points, self.points[1:], strict=False):
            self.cum.append(self.cum[-1] + distance_km(a_lat, a_lon, b_lat, b_lon))
            self.bearings.append(bearing_deg(a_lat, a_lon, b_lat, b_lon))
        self.length = self.cum[-1]

    def at(self, km: float) -> tuple[float, float, float]:
        """(lat, lon, heading) after km along the path (clamped to its ends)."""
        km = min(max(km, 0.0), self.length)
        i = min(bisect_right(self.cum, km) - 1, len(self.points) - 2)
        span = self.cum[i + 1] - self.cum[i]
        f = (km - self.cum[i]) / span if span > 0 else 0.0
        (a_lat, a_lon), (b_lat, b_lon) = self.points[i], self.points[i + 1]
        return a_lat + f * (b_lat - a_lat), a_lon + f * (b_lon - a_lon), self.bearings[i]
