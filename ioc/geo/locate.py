"""Point-in-commune lookup: inside-Vietnam test, then nearest commune centroid."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from scipy.spatial import cKDTree

# Longitude is scaled by cos(16°N), mid-Vietnam, so planar distance tracks ground distance.
# The polygon build uses the same plane, so nearest centroid == containing Voronoi cell.
LON_SCALE = math.cos(math.radians(16.0))


class Locator:
    """Maps points to commune codes; the commune polygons are the Voronoi cells of the centroids."""

    __slots__ = ("_codes", "_country", "_tree")

    def __init__(
        self,
        codes: Sequence[str],
        lats: Sequence[float],
        lons: Sequence[float],
        country: shapely.Geometry,
    ) -> None:
        self._codes = list(codes)
        xy = np.column_stack([np.asarray(lons, float) * LON_SCALE, np.asarray(lats, float)])
        self._tree = cKDTree(xy)
        shapely.prepare(country)
        self._country = country

    def inside(self, lat: float, lon: float) -> bool:
        """True if the point is on Vietnamese land or within the coastal margin."""
        return bool(shapely.contains_xy(self._country, lon, lat))

    def locate(self, lat: float, lon: float) -> str | None:
        """Commune code for one point, or None outside Vietnam."""
        # contains_xy is False for NaN and infinities, so no separate finiteness check.
        if not shapely.contains_xy(self._country, lon, lat):
            return None
        _, index = self._tree.query((lon * LON_SCALE, lat))
        return self._codes[int(index)]

    def locate_many(
        self, lats: Sequence[float] | np.ndarray, lons: Sequence[float] | np.ndarray
    ) -> list[str | None]:
        """Commune codes for many points at once (None where outside Vietnam)."""
        lat = np.asarray(lats, dtype=float)
        lon = np.asarray(lons, dtype=float)
        if lat.shape != lon.shape:
            raise ValueError(f"lats and lons differ in shape: {lat.shape} vs {lon.shape}")
        lat, lon = lat.ravel(), lon.ravel()
        inside = shapely.contains_xy(self._country, lon, lat)
        out: list[str | None] = [None] * lat.size
        if inside.any():
            _, index = self._tree.query(np.column_stack([lon[inside] * LON_SCALE, lat[inside]]))
            codes = self._codes
            for position, i in zip(np.flatnonzero(inside).tolist(), index.tolist(), strict=True):
                out[position] = codes[i]
        return out
