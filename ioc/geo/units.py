"""Provinces and communes after the 2025 merger, loaded from the committed data files."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely.geometry import shape

from ioc.geo.locate import Locator
from ioc.geo.names import fold_key, name_key, vi_sort_key

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Province:
    """A province or centrally-run city (2-digit code)."""

    code: str
    name: str
    short_name: str
    type: str
    lat: float
    lon: float
    area_km2: float
    population: int | None
    commune_count: int


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune, ward or special zone (5-digit code)."""

    code: str
    province_code: str
    name: str
    short_name: str
    type: str
    lat: float
    lon: float
    area_km2: float | None
    population: int | None
    # How the figure was made: "published", "scaled" (to the province total) or "estimated".
    population_method: str = "published"
    population_source: str = ""
    population_published: int | None = None
    population_note: str = ""


def _int_or_none(text: str) -> int | None:
    return int(text) if text else None


def _float_or_none(text: str) -> float | None:
    return float(text) if text else None


U = TypeVar("U")


def _normalise_code(code: object, width: int) -> str:
    # Codes are zero-padded digit strings; "1" or 1 means "01" but "001" is not a province.
    text = str(code).strip()
    if text.isascii() and text.isdigit() and len(text) <= width:
        return text.zfill(width)
    return text


def _unit(units: dict[str, U], level: str, code: object, width: int, example: str) -> U:
    """The unit with this code, or a KeyError that names the codes expected."""
    try:
        return units[_normalise_code(code, width)]
    except KeyError:
        digits = {2: "two", 5: "five"}[width]
        raise KeyError(
            f"unknown {level} code {code!r}: expected one of the {len(units)} "
            f"{digits}-digit codes of Decision 19/2025/QD-TTg, e.g. {example}"
        ) from None


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


class Geography:
    """Lookups over the 34 provinces and 3,321 communes; polygons and locator load on first use."""

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        self._dir = Path(data_dir)
        self.provinces: dict[str, Province] = {
            r["code"]: Province(
                code=r["code"],
                name=r["name"],
                short_name=r["short_name"],
                type=r["type"],
                lat=float(r["lat"]),
                lon=float(r["lon"]),
                area_km2=float(r["area_km2"]),
                population=_int_or_none(r["population"]),
                commune_count=int(r["commune_count"]),
            )
            for r in _read_csv(self._dir / "provinces.csv")
        }
        self.communes: dict[str, Commune] = {
            r["code"]: Commune(
                code=r["code"],
                province_code=r["province_code"],
                name=r["name"],
                short_name=r["short_name"],
                type=r["type"],
                lat=float(r["lat"]),
                lon=float(r["lon"]),
                area_km2=_float_or_none(r["area_km2"]),
                population=_int_or_none(r["population"]),
                population_method=r["population_method"],
                population_source=r["population_source"],
                population_published=_int_or_none(r["population_published"]),
                population_note=r["population_note"],
            )
            for r in _read_csv(self._dir / "communes.csv")
        }
        by_province: dict[str, list[Commune]] = {code: [] for code in self.provinces}
        for commune in self.communes.values():
            by_province[commune.province_code].append(commune)
        self._by_province = {
            code: tuple(sorted(items, key=lambda c: (vi_sort_key(c.short_name), c.code)))
            for code, items in by_province.items()
        }
        self._geojson_by_province: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"Geography({len(self.provinces)} provinces, {len(self.communes)} communes, {self._dir})"

    # -- identity ---------------------------------------------------------------

    def province(self, code: str) -> Province:
        """The province with this 2-digit code ("1" is read as "01")."""
        return _unit(self.provinces, "province", code, 2, "'01' (Hà Nội) or '68' (Lâm Đồng)")

    def commune(self, code: str) -> Commune:
        """The commune with this 5-digit code ("4" is read as "00004")."""
        return _unit(self.communes, "commune", code, 5, "'00004' (Phường Ba Đình)")

    def is_province(self, code: object) -> bool:
        """True if code names a province."""
        return _normalise_code(code, 2) in self.provinces

    def is_commune(self, code: object) -> bool:
        """True if code names a commune."""
        return _normalise_code(code, 5) in self.communes

    def communes_of(self, province_code: str) -> list[Commune]:
        """Communes of a province in Vietnamese alphabetical order of their short names."""
        return list(self._by_province[self.province(province_code).code])

    def find_commune(self, province_code: str, name: str) -> Commune | None:
        """The commune of a province with this name, with or without type, tones or diacritics."""
        communes = self._by_province[self.province(province_code).code]
        key = name_key(name)
        exact = [c for c in communes if name_key(c.short_name) == key]
        if exact:
            return exact[0]
        # Unaccented input ("Xuan Huong - Da Lat") is accepted only when it points at one place.
        folded = fold_key(name)
        loose = [c for c in communes if fold_key(c.short_name) == folded]
        return loose[0] if len(loose) == 1 else None

    # -- location ---------------------------------------------------------------

    @cached_property
    def _locator(self) -> Locator:
        doc = self._load_geojson("country.geojson")
        country = shapely.union_all([shape(f["geometry"]) for f in doc["features"]])
        # Sites are the commune centres and archipelago features with their fitted power
        # weights, as written by scripts/build_geo.py.
        rows = _read_csv(self._dir / "sites.csv")
        return Locator(
            [r["code"] for r in rows],
            [float(r["lat"]) for r in rows],
            [float(r["lon"]) for r in rows],
            country,
            [float(r["weight"]) for r in rows],
        )

    def inside_vietnam(self, lat: float, lon: float) -> bool:
        """True on Vietnamese land, its islands, or within the coastal margin."""
        return self._locator.inside(lat, lon)

    def locate(self, lat: float, lon: float) -> Commune | None:
        """The commune at a point, or None outside Vietnam."""
        code = self._locator.locate(lat, lon)
        return None if code is None else self.communes[code]

    def locate_many(
        self, lats: Sequence[float] | np.ndarray, lons: Sequence[float] | np.ndarray
    ) -> list[str | None]:
        """Commune codes for many points (None outside Vietnam), vectorised."""
        return self._locator.locate_many(lats, lons)

    # -- polygons ---------------------------------------------------------------

    def _load_geojson(self, name: str) -> dict[str, Any]:
        return json.loads((self._dir / name).read_text(encoding="utf-8"))

    @cached_property
    def _province_geojson(self) -> dict[str, Any]:
        return self._load_geojson("provinces.geojson")

    @cached_property
    def _commune_geojson(self) -> dict[str, Any]:
        return self._load_geojson("communes.geojson")

    def province_geojson(self) -> dict[str, Any]:
        """Approximate province polygons as a FeatureCollection (shared: do not mutate)."""
        return self._province_geojson

    def commune_geojson(self, province_code: str | None = None) -> dict[str, Any]:
        """Approximate commune polygons, all or one province's (shared: do not mutate)."""
        if province_code is None:
            return self._commune_geojson
        code = self.province(province_code).code
        if code not in self._geojson_by_province:
            features = [
                f
                for f in self._commune_geojson["features"]
                if f["properties"]["province_code"] == code
            ]
            self._geojson_by_province[code] = {"type": "FeatureCollection", "features": features}
        return self._geojson_by_province[code]


@cache
def geography() -> Geography:
    """The process-wide Geography, loaded on first call."""
    return Geography()
