"""Point-in-commune lookup: inside-Vietnam test, then the power-nearest commune site."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from scipy.spatial import cKDTree

# Longitude is scaled by cos(16°N), mid-Vietnam, so planar distance tracks ground distance.
# The polygon build uses the same plane and weights, so the power-nearest site (argmin
# |p - c|² - w) is the site whose power-diagram cell contains the point.
LON_SCALE = math.cos(math.radians(16.0))


class Locator:
    """Maps points to commune codes; the polygons are the power-diagram cells of the sites."""

    __slots__ = ("_codes", "_country", "_tree")

    def __init__(
        self,
        codes: Sequence[str],
        lats: Sequence[float],
        lons: Sequence[float],
        country: shapely.Geometry,
        weights: Sequence[float] | None = None,
    ) -> None:
        self._codes = list(codes)
        xy = np.column_stack([np.asarray(lons, float) * LON_SCALE, np.asarray(lats, float)])
        w = np.zeros(len(xy)) if weights is None else np.asarray(weights, float)
        # Lifting each site to height sqrt(W - w) makes the plain nearest neighbour in 3-D the
        # power-nearest site in the plane: |p - c|² + W - w.
        self._tree = cKDTree(np.column_stack([xy, np.sqrt(w.max(initial=0.0) - w)]))
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
        _, index = self._tree.query((lon * LON_SCALE, lat, 0.0))
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
            query = np.column_stack([lon[inside] * LON_SCALE, lat[inside], np.zeros(inside.sum())])
            _, index = self._tree.query(query)
            codes = self._codes
            for position, i in zip(np.flatnonzero(inside).tolist(), index.tolist(), strict=True):
                out[position] = codes[i]
        return out
