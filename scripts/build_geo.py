"""Build the committed geography data under ioc/geo/data from the shared sources.

Run from the project root:  .venv/bin/python scripts/build_geo.py --shared ../shared

Inputs: the `vietnamadminunits` package (official codes, names, centroids, areas), the
sapnhap 2025-07-17 snapshot (population) and the Natural Earth national outline.
Outputs: provinces.csv, communes.csv, communes.geojson, provinces.geojson and
country.geojson in ioc/geo/data, plus tests/fixtures/unmatched_communes.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import ConvexHull, cKDTree
from shapely.geometry import mapping, shape

from ioc.geo.islands import BUFFER_KM, FEATURES
from ioc.geo.locate import LON_SCALE
from ioc.geo.names import name_key

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "ioc" / "geo" / "data"
DEFAULT_FIXTURES = ROOT / "tests" / "fixtures"
SAPNHAP_SOURCE = "sapnhap-2025-07-17"
WARD_CSV = "data/sapnhap-ward-2025-07-17.csv"
PROVINCE_CSV = "data/sapnhap-province-2025-07-17.csv"
OUTLINE = "geo/vietnam-outline-ne10m.geojson"

KM = 1 / 111.32  # degrees of latitude per km; plane units are latitude degrees
# A name match whose centroids disagree by more than this is treated as a wrong pair.
MAX_PAIR_DISTANCE_KM = 2.0
# Centroids this close outside the coarse 1:10m outline are coastline/border error: bridge them.
COAST_GAP_KM = 5.0
BRIDGE_HALF_WIDTH_KM = 0.5
MIN_ISLAND_RADIUS_KM = 2.0
# Archipelago special zones are the union of their features' territorial-sea discs.
ARCHIPELAGO_CODES = frozenset(f.commune_code for f in FEATURES)
# Points this far outside the land still count as in Vietnam (coastal waters, coarse coast).
COUNTRY_MARGIN_KM = 3.0
DECIMALS = 5  # ~1 m: keeps lookups and drawn borders in step at ~1.1 MB for all communes
GRID = 10.0**-DECIMALS
COUNTRY_SIMPLIFY = 0.005

UNMATCHED_FIELDS = ["side", "code", "province_code", "province", "name", "reason"]


# ---------------------------------------------------------------- tabular sources


def official_db_path() -> Path:
    """Path of the SQLite dataset bundled with vietnamadminunits."""
    import vietnamadminunits

    return Path(vietnamadminunits.__file__).parent / "data" / "dataset.db"


def load_official(db_path: Path | None = None) -> pd.DataFrame:
    """The 3,321 communes of the official 2025 list, one row each."""
    query = (
        "SELECT provinceCode, province, provinceShort, provinceLat, provinceLon, wardCode, ward,"
        " wardShort, wardType, wardLat, wardLon, wardAreaKm2 FROM admin_units ORDER BY wardCode"
    )
    with sqlite3.connect(db_path or official_db_path()) as conn:
        return pd.read_sql_query(query, conn)


def read_shared_csv(shared: Path, relative: str) -> pd.DataFrame:
    """Read a sapnhap CSV with every column as text (numbers use Vietnamese separators)."""
    return pd.read_csv(shared / relative, dtype=str, keep_default_na=False)


def parse_count(text: str) -> int | None:
    """A head count written "8.718.000", "30,509" or "102136"; None for "đang cập nhật" etc."""
    text = text.strip()
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+|\d+", text):
        return int(re.sub(r"[.,]", "", text))
    return None


def parse_vi_decimal(text: str) -> float | None:
    """A number written "3.359,80" (dot thousands, comma decimals)."""
    text = text.strip().replace(".", "").replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None


def province_codes_by_key(official: pd.DataFrame) -> dict[str, str]:
    """Official province code by normalised province name ("tỉnh Ninh BÌnh" -> "37")."""
    pairs = official[["provinceCode", "provinceShort"]].drop_duplicates()
    return {name_key(short): code for code, short in pairs.itertuples(index=False)}


def _distance_km(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    dy = np.asarray(lat1, float) - np.asarray(lat2, float)
    dx = (np.asarray(lon1, float) - np.asarray(lon2, float)) * np.cos(np.radians(lat1))
    return np.hypot(dx, dy) / KM


@dataclass
class JoinResult:
    """Communes with their joined population, and every row that could not be used."""

    communes: pd.DataFrame
    unmatched: pd.DataFrame


def join_population(
    official: pd.DataFrame, wards: pd.DataFrame, provinces: pd.DataFrame
) -> JoinResult:
    """Join sapnhap ward rows to official communes by province and normalised name."""
    codes = province_codes_by_key(official)
    short_by_code = dict(zip(official.provinceCode, official.provinceShort, strict=False))
    wards = wards.copy()
    # The province *name* decides: one row has another province's matinh (see README).
    wards["province_code"] = wards["tentinh"].map(lambda s: codes.get(name_key(s)))
    wards["key"] = wards["tenhc"].map(name_key)
    official = official.copy()
    official["key"] = official["wardShort"].map(name_key)
    issues: list[dict[str, str]] = []

    def issue(side: str, code: str, province_code: str, name: str, reason: str) -> None:
        province = short_by_code.get(province_code, "")
        issues.append(
            dict(
                zip(
                    UNMATCHED_FIELDS,
                    (side, code, province_code, province, name, reason),
                    strict=True,
                )
            )
        )

    for row in wards[wards["province_code"].isna()].itertuples():
        issue("sapnhap", row.ma, "", f"{row.tentinh} / {row.tenhc}", "unknown province name")
    wards = wards[wards["province_code"].notna()]

    # A key that is not unique on its side cannot be paired safely: leave those unmatched.
    dup_w = wards.duplicated(["province_code", "key"], keep=False)
    dup_o = official.duplicated(["provinceCode", "key"], keep=False)
    for row in wards[dup_w].itertuples():
        issue("sapnhap", row.ma, row.province_code, row.tenhc, "ambiguous name in province")
    for row in official[dup_o].itertuples():
        issue("official", row.wardCode, row.provinceCode, row.ward, "ambiguous name in province")

    merged = official[~dup_o].merge(
        wards[~dup_w],
        how="outer",
        left_on=["provinceCode", "key"],
        right_on=["province_code", "key"],
        indicator=True,
    )
    for row in merged[merged["_merge"] == "left_only"].itertuples():
        issue("official", row.wardCode, row.provinceCode, row.ward, "no sapnhap row")
    for row in merged[merged["_merge"] == "right_only"].itertuples():
        issue("sapnhap", row.ma, row.province_code, row.tenhc, "no official commune")
    pairs = merged[merged["_merge"] == "both"].copy()

    # Guard against a same-name pair that is really two places: centroids must agree
    # (a row without coordinates cannot be checked and is kept).
    lat = pd.to_numeric(pairs["vido"], errors="coerce")
    lon = pd.to_numeric(pairs["kinhdo"], errors="coerce")
    far = _distance_km(pairs["wardLat"], pairs["wardLon"], lat, lon) > MAX_PAIR_DISTANCE_KM
    for row in pairs[far].itertuples():
        reason = "name matches but centroid differs"
        issue("official", row.wardCode, row.provinceCode, row.ward, reason)
        issue("sapnhap", row.ma, row.province_code, row.tenhc, reason)
    pairs = pairs[~far]

    province_totals = set(provinces["dansonguoi"].map(parse_count).dropna().astype(int))
    population: dict[str, int] = {}
    for row in pairs.itertuples():
        value = parse_count(row.dansonguoi)
        if value is None:
            reason = f"population not published: {row.dansonguoi!r}"
        elif value in province_totals:
            # A whole province's population pasted into a commune row (Yên Bình, Lào Cai).
            reason = f"population rejected: {value} is a province total"
        else:
            population[row.wardCode] = value
            continue
        issue("official", row.wardCode, row.provinceCode, row.ward, reason)

    communes = pd.DataFrame(
        {
            "code": official["wardCode"],
            "province_code": official["provinceCode"],
            "name": official["ward"],
            "short_name": official["wardShort"],
            "type": official["wardType"].str.lower(),
            "lat": official["wardLat"],
            "lon": official["wardLon"],
            # 0.0 in the source means "not known", not a zero-area commune.
            "area_km2": official["wardAreaKm2"].where(official["wardAreaKm2"] > 0),
            "population": official["wardCode"].map(population).astype("Int64"),
        }
    )
    communes["population_source"] = np.where(communes["population"].notna(), SAPNHAP_SOURCE, "")
    unmatched = pd.DataFrame(issues, columns=UNMATCHED_FIELDS)
    unmatched = unmatched.sort_values(["side", "province_code", "code"], kind="stable")
    return JoinResult(
        communes.sort_values("code").reset_index(drop=True), unmatched.reset_index(drop=True)
    )


# ---------------------------------------------------------------- population reconciliation
# The published commune figures neither cover every commune nor add up to the province
# totals, and some rows are copies of a same-named commune elsewhere. Every commune gets
# one figure, labelled by method, and each province's communes sum to its published total,
# so a KPI divides by the same population whether it sums communes or reads the province.

METHOD_PUBLISHED = "published"  # the sapnhap figure, unchanged
METHOD_SCALED = "scaled"  # the sapnhap figure scaled with its province's other communes
METHOD_ESTIMATED = "estimated"  # no usable figure: estimated from area and commune type
# An estimate share of the remainder is believed only if it is within this factor of the
# density estimate; otherwise the remainder is mostly error in the published figures.
REMAINDER_TRUST = 3.0
ESTIMATED_FIELDS = ["code", "province_code", "name", "population", "reason"]


def copied_figures(communes: pd.DataFrame) -> dict[str, str]:
    """Communes whose figure repeats a same-named commune's in another province, with the reason.

    The source table pasted one commune's population (and area) into every same-named
    commune ("Xã Bình An", 59,475 people, 73.43 km², in 5 provinces); no copy can be
    told from the original, so every member of such a group is treated as unknown.
    """
    known = communes[communes["population"].notna()].assign(
        key=lambda f: f["short_name"].map(name_key)
    )
    out: dict[str, str] = {}
    for (_, pop), group in known.groupby(["key", "population"]):
        if group["province_code"].nunique() < 2:
            continue
        provinces = ", ".join(sorted(group["province_code"]))
        for code in group["code"]:
            out[code] = f"copied figure: {pop} also given to the same name in provinces {provinces}"
    return out


def _largest_remainder(values: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative values to integers that sum exactly to total."""
    scaled = values * (total / values.sum())
    floor = np.floor(scaled).astype(np.int64)
    short = total - int(floor.sum())
    order = np.argsort(-(scaled - floor), kind="stable")
    floor[order[:short]] += 1
    return floor


def reconcile_population(
    communes: pd.DataFrame, provinces: pd.DataFrame, unmatched: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures for every commune that sum to the province totals, and the estimated list."""
    communes = communes.copy()
    copied = copied_figures(communes)
    not_published = dict(zip(unmatched["code"], unmatched["reason"], strict=False))
    communes["population_published"] = communes["population"]
    known = communes["population"].notna() & ~communes["code"].isin(copied)
    # Copied rows carry a copied area too, so it is not used as a weight.
    trusted_area = communes["area_km2"].where(~communes["code"].isin(copied))
    population = np.zeros(len(communes), dtype=np.int64)
    method = np.empty(len(communes), dtype=object)
    note = np.empty(len(communes), dtype=object)
    national = communes[known & trusted_area.notna()]
    national_density = (
        national.groupby("type")["population"].sum() / national.groupby("type")["area_km2"].sum()
    )
    totals = provinces.set_index("code")["population"]
    for code, idx in communes.groupby("province_code").indices.items():
        frame = communes.iloc[idx]
        is_known = known.iloc[idx].to_numpy()
        area = trusted_area.iloc[idx]
        # Commune-type weight: people per km² of this type in this province's trusted figures.
        ok = is_known & area.notna().to_numpy()
        sums = frame[ok].groupby("type")[["population", "area_km2"]].sum()
        density = (sums["population"] / sums["area_km2"]).to_dict()
        median_area = frame[ok].groupby("type")["area_km2"].median().to_dict()
        weight_area = [
            a if pd.notna(a) else median_area.get(t, frame["area_km2"].median())
            for a, t in zip(area, frame["type"], strict=True)
        ]
        estimate = np.array(
            [
                a * density.get(t, national_density.get(t, national_density.mean()))
                for a, t in zip(weight_area, frame["type"], strict=True)
            ],
            dtype=float,
        )
        published = frame["population"].to_numpy(dtype=float, na_value=np.nan)
        total = int(totals[code])
        remainder = total - published[is_known].sum()
        guess = estimate[~is_known].sum()
        if (
            (~is_known).any()
            and remainder > 0
            and 1 / REMAINDER_TRUST <= remainder / guess <= REMAINDER_TRUST
        ):
            values = published.copy()
            values[~is_known] = estimate[~is_known] * (remainder / guess)
            how = f"share of the province remainder {int(remainder)} by area × type density"
        else:
            values = np.where(is_known, published, estimate)
            how = "area × type density, all figures scaled to the province total"
        result = _largest_remainder(values, total)
        factor = total / values.sum()
        for j, i in enumerate(idx):
            population[i] = result[j]
            c = communes.iloc[i]["code"]
            if is_known[j]:
                unchanged = result[j] == published[j]
                method[i] = METHOD_PUBLISHED if unchanged else METHOD_SCALED
                note[i] = "" if unchanged else f"published {int(published[j])} × {factor:.3f}"
            else:
                method[i] = METHOD_ESTIMATED
                reason = copied.get(c) or not_published.get(c, "no figure")
                note[i] = f"{reason}; estimate: {how}"
    communes["population"] = population
    communes["population_published"] = communes["population_published"].astype("Int64")
    communes["population_method"] = method
    communes["population_note"] = note
    communes["population_source"] = np.where(
        communes["population_method"] == METHOD_ESTIMATED,
        f"estimate from the {SAPNHAP_SOURCE} province total",
        SAPNHAP_SOURCE,
    )
    estimated = communes[communes["population_method"] == METHOD_ESTIMATED]
    listing = pd.DataFrame(
        {
            "code": estimated["code"],
            "province_code": estimated["province_code"],
            "name": estimated["name"],
            "population": estimated["population"],
            "reason": estimated["population_note"].str.split("; estimate").str[0],
        },
        columns=ESTIMATED_FIELDS,
    )
    return communes, listing.reset_index(drop=True)


def build_provinces(official: pd.DataFrame, provinces: pd.DataFrame) -> pd.DataFrame:
    """One row per province: official identity, sapnhap area and population, commune count."""
    codes = province_codes_by_key(official)
    src = provinces.assign(code=provinces["tentinh"].map(lambda s: codes.get(name_key(s))))
    missing = src[src["code"].isna()]["tentinh"].tolist()
    if missing:
        raise SystemExit(f"province rows with no official province: {missing}")
    src = src.set_index("code")
    stated = src["con"].str.extract(r"^\s*(\d+)", expand=False).astype(int)
    counted = official.groupby("provinceCode").size()
    if not stated.sort_index().equals(counted.sort_index().rename(stated.name)):
        raise SystemExit("commune counts differ from those stated in the sapnhap province file")
    rows = []
    for code, group in official.groupby("provinceCode", sort=True):
        first = group.iloc[0]
        full = first["province"]
        rows.append(
            {
                "code": code,
                "name": full,
                "short_name": first["provinceShort"],
                "type": "thành phố" if full.startswith("Thành phố") else "tỉnh",
                "lat": first["provinceLat"],
                "lon": first["provinceLon"],
                "area_km2": parse_vi_decimal(src.at[code, "dientichkm2"]),
                "population": parse_count(src.at[code, "dansonguoi"]),
                "commune_count": len(group),
            }
        )
    return pd.DataFrame(rows).astype({"population": "Int64"})


# ---------------------------------------------------------------- polygons
# Geometry is computed in a plane where x = lon * LON_SCALE, y = lat, so Voronoi cells are
# (nearly) ground-distance cells and match the runtime nearest-centroid lookup exactly.


def to_plane(geom: shapely.Geometry) -> shapely.Geometry:
    """Lon/lat to the locally isotropic plane."""
    return shapely.transform(geom, lambda c: c * np.array([LON_SCALE, 1.0]))


def to_lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    """Plane back to lon/lat."""
    return shapely.transform(geom, lambda c: c / np.array([LON_SCALE, 1.0]))


def load_outline(path: Path) -> shapely.Geometry:
    """National outline (mainland, islands, Spratly group) as one valid multipolygon, in the plane."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    # The Natural Earth ring self-intersects near Hai Phong; repair before any overlay.
    parts = [shapely.make_valid(shape(f["geometry"])) for f in features]
    return to_plane(shapely.union_all(parts))


@dataclass
class Polygons:
    """Derived polygons in lon/lat, keyed by code, and notes on how they were made."""

    communes: dict[str, shapely.Geometry]
    provinces: dict[str, shapely.Geometry]
    country: shapely.Geometry
    notes: list[str]
    sites: pd.DataFrame


def land_additions(
    communes: pd.DataFrame, outline: shapely.Geometry
) -> tuple[list[shapely.Geometry], list[str]]:
    """Extra land so every centroid lies on its commune: bridges to the coast and island discs."""
    points = to_plane(shapely.points(communes["lon"], communes["lat"]))
    shapely.prepare(outline)
    outside = ~shapely.contains(outline, points)
    extra: list[shapely.Geometry] = []
    notes: list[str] = []
    bridges = 0
    for i in np.flatnonzero(outside):
        row = communes.iloc[i]
        gap_km = shapely.distance(outline, points[i]) / KM
        if row["code"] in ARCHIPELAGO_CODES:
            continue  # its land is the features' discs, added below
        if gap_km <= COAST_GAP_KM:
            bridges += 1
            line = shapely.shortest_line(points[i], outline)
            extra.append(shapely.buffer(line, BRIDGE_HALF_WIDTH_KM * KM, quad_segs=4))
        else:
            area = row["area_km2"] if pd.notna(row["area_km2"]) else 0.0
            radius = max(math.sqrt(area / math.pi), MIN_ISLAND_RADIUS_KM)
            extra.append(shapely.buffer(points[i], radius * KM, quad_segs=8))
            notes.append(f"{row['code']} {row['name']}: island disc r={radius:.1f} km")
    notes.insert(0, f"centroids outside the outline: {len(notes)} island discs, {bridges} bridges")
    # The zone's own centre is a site too, so it gets a disc like its features.
    sites = [(f.lon, f.lat) for f in FEATURES] + [
        (r.lon, r.lat) for r in communes.itertuples() if r.code in ARCHIPELAGO_CODES
    ]
    lon, lat = np.array(sites).T
    extra.extend(shapely.buffer(to_plane(shapely.points(lon, lat)), BUFFER_KM * KM, quad_segs=8))
    notes.append(f"archipelago features: {len(FEATURES)}, each a {BUFFER_KM:.1f} km disc")
    return extra, notes


def finish(geom: shapely.Geometry, simplify: float = 0.0) -> shapely.Geometry:
    """Plane geometry to a valid, grid-snapped, RFC 7946-oriented lon/lat (multi)polygon."""
    geom = to_lonlat(geom)
    if simplify:
        geom = shapely.simplify(geom, simplify, preserve_topology=True)
    geom = shapely.make_valid(shapely.set_precision(shapely.make_valid(geom), GRID))
    polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    if not polys:
        return shapely.Polygon()
    merged = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    return shapely.orient_polygons(merged)


# Power-diagram fit: cells whose areas match the official commune areas.
FIT_GRID_DEG = 0.005  # sample spacing (~0.55 km) used to measure cell areas while fitting
FIT_ITERATIONS = 15
FIT_STEP = 0.5
OWN_MARGIN_DEG = 1e-3
KM2_PER_PLANE_DEG2 = 111.32**2  # at the plane's reference latitude; corrected by cos(lat) below


def _assign(sites: np.ndarray, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the power-nearest site (argmin |p - c|² - w) of each point, via a lifted KD-tree."""
    top = weights.max()
    lifted = np.column_stack([sites, np.sqrt(top - weights)])
    _, index = cKDTree(lifted).query(np.column_stack([points, np.zeros(len(points))]))
    return index


def _keep_sites_in_own_cells(sites: np.ndarray, weights: np.ndarray) -> None:
    """Raise any site's weight just enough that its own centre stays in its own cell."""
    own = np.arange(len(sites))
    for _ in range(50):
        index = _assign(sites, weights, sites)
        bad = np.flatnonzero(index != own)
        if bad.size == 0:
            return
        rival = index[bad]
        gap = ((sites[bad] - sites[rival]) ** 2).sum(axis=1)
        # A margin of ~100 m so the centre stays inside after snapping to the 1e-5° grid.
        weights[bad] = weights[rival] - gap + 2 * np.sqrt(gap) * OWN_MARGIN_DEG
    raise SystemExit("could not keep every commune centre inside its own cell")


@dataclass
class PowerFit:
    """Fitted site weights (plane degrees²) and the area agreement before and after."""

    weights: np.ndarray
    within_before: float
    within_after: float
    fitted: int


def area_agreement(
    got_km2: np.ndarray, official_km2: np.ndarray, mask: np.ndarray
) -> tuple[float, float]:
    """Share of communes within ±25% of their official area, and share off by more than 2x."""
    ratio = got_km2[mask] / official_km2[mask]
    return float(np.mean(np.abs(ratio - 1) <= 0.25)), float(np.mean((ratio > 2) | (ratio < 0.5)))


def fit_power_weights(
    sites: np.ndarray, target_km2: np.ndarray, land: shapely.Geometry
) -> tuple[PowerFit, np.ndarray, np.ndarray]:
    """Iteratively grow or shrink each site's weight until its cell's land area meets its target.

    target_km2 is NaN for sites with no trusted area (not fitted). The cell area is measured
    by counting grid samples on the land, so the fit sees the same clipped cells as the map.
    Returns the fit, and the samples' areas and coordinates for measuring the result.
    """
    minx, miny, maxx, maxy = land.bounds
    xs = np.arange(minx, maxx, FIT_GRID_DEG * LON_SCALE)
    ys = np.arange(miny, maxy, FIT_GRID_DEG)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    shapely.prepare(land)
    on_land = shapely.contains_xy(land, gx, gy)
    samples = np.column_stack([gx[on_land], gy[on_land]])
    # Ground area of one sample: the plane's x unit is LON_SCALE degrees of longitude.
    sample_km2 = (FIT_GRID_DEG**2 * KM2_PER_PLANE_DEG2) * np.cos(np.radians(samples[:, 1]))
    fit = np.isfinite(target_km2)
    weights = np.zeros(len(sites))
    best = (-1.0, weights.copy())
    before = 0.0
    step = FIT_STEP
    previous = -1.0
    for iteration in range(FIT_ITERATIONS + 1):
        got = np.bincount(_assign(sites, weights, samples), sample_km2, minlength=len(sites))
        within, _ = area_agreement(got, target_km2, fit)
        if iteration == 0:
            before = within
        if within > best[0]:
            best = (within, weights.copy())
        if iteration == FIT_ITERATIONS:
            break
        # A lone cell of power radius² r² + w has area ≈ π(r² + w): move w by the area gap / π.
        gap = np.where(fit, np.nan_to_num(target_km2) - got, 0.0)
        weights = weights + step * gap / (math.pi * KM2_PER_PLANE_DEG2)
        _keep_sites_in_own_cells(sites, weights)
        # Damped: neighbours move together, so an overshoot shows as a worse fit.
        if within < previous:
            step *= 0.7
        previous = within
    return PowerFit(best[1], before, best[0], int(fit.sum())), samples, sample_km2


def _clip_halfplane(poly: np.ndarray, a: np.ndarray, c: float) -> np.ndarray:
    """Convex polygon (n×2) ∩ {p : a·p ≤ c} (Sutherland–Hodgman)."""
    if len(poly) == 0:
        return poly
    inside = poly @ a <= c
    if inside.all():
        return poly
    out = []
    n = len(poly)
    for k in range(n):
        p, q = poly[k], poly[(k + 1) % n]
        ip, iq = inside[k], inside[(k + 1) % n]
        if ip:
            out.append(p)
        if ip != iq:
            t = (c - p @ a) / ((q - p) @ a)
            out.append(p + t * (q - p))
    return np.array(out) if out else np.empty((0, 2))


def power_cells(sites: np.ndarray, weights: np.ndarray, frame: shapely.Geometry) -> np.ndarray:
    """Power-diagram cells of weighted sites within a frame, from the regular triangulation."""
    centre = sites.mean(axis=0)
    local = sites - centre  # centred, so the lifted coordinates keep their precision
    lifted = np.column_stack([local, (local**2).sum(axis=1) - weights])
    hull = ConvexHull(lifted)
    neighbours: list[set[int]] = [set() for _ in range(len(sites))]
    for simplex in hull.simplices[hull.equations[:, 2] < 0]:
        for i in simplex:
            neighbours[i].update(int(j) for j in simplex if j != i)
    minx, miny, maxx, maxy = shapely.bounds(frame) - np.tile(centre, 2)
    box = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]])
    sq = (local**2).sum(axis=1)
    cells = []
    for i in range(len(sites)):
        poly = box
        for j in neighbours[i]:
            # |p-ci|² - wi <= |p-cj|² - wj  <=>  2 p·(cj-ci) <= |cj|² - |ci|² - wj + wi
            a = 2 * (local[j] - local[i])
            poly = _clip_halfplane(poly, a, sq[j] - sq[i] - weights[j] + weights[i])
        cells.append(shapely.Polygon(poly + centre) if len(poly) >= 3 else shapely.Polygon())
    return np.array(cells)


def build_polygons(communes: pd.DataFrame, outline_path: Path, trusted_area: pd.Series) -> Polygons:
    """Power-diagram cells fitted to official areas, clipped to land, and their province dissolves."""
    outline = load_outline(outline_path)
    extra, notes = land_additions(communes, outline)
    land = shapely.union_all([outline, *extra])
    # The sites are the lookup sites of ioc.geo: every centre plus every archipelago feature.
    site_codes = communes["code"].tolist() + [f.commune_code for f in FEATURES]
    site_lon = np.concatenate([communes["lon"].to_numpy(float), [f.lon for f in FEATURES]])
    site_lat = np.concatenate([communes["lat"].to_numpy(float), [f.lat for f in FEATURES]])
    sites = np.column_stack([site_lon * LON_SCALE, site_lat])
    target = np.concatenate(
        [
            np.where(
                communes["code"].isin(ARCHIPELAGO_CODES), np.nan, trusted_area.to_numpy(float)
            ),
            np.full(len(FEATURES), np.nan),
        ]
    )
    fitted, samples, sample_km2 = fit_power_weights(sites, target, land)
    weights = fitted.weights
    got = np.bincount(_assign(sites, weights, samples), sample_km2, minlength=len(sites))
    official = np.concatenate(
        [communes["area_km2"].to_numpy(float), np.full(len(FEATURES), np.nan)]
    )
    any_area = np.isfinite(official) & ~np.isin(site_codes, list(ARCHIPELAGO_CODES))
    within_all, off_all = area_agreement(got, official, any_area)
    notes.append(
        f"cells within ±25% of the official area: {fitted.within_before:.1%} plain Voronoi ->"
        f" {fitted.within_after:.1%} fitted power diagram ({fitted.fitted} communes with a"
        f" trusted area); over all {int(any_area.sum())} with any area: {within_all:.1%},"
        f" off by more than 2x: {off_all:.1%}"
    )
    frame = shapely.box(*shapely.buffer(shapely.envelope(land), 1.0).bounds)
    site_cells = power_cells(sites, weights, frame)
    self_check = _assign(sites, weights, sites)
    if (self_check != np.arange(len(sites))).any():
        raise SystemExit("a site is outside its own power cell")
    by_code: dict[str, list[int]] = {}
    for i, code in enumerate(site_codes):
        by_code.setdefault(code, []).append(i)
    cells = np.array([shapely.union_all(site_cells[by_code[code]]) for code in communes["code"]])
    shapely.prepare(land)
    clipped = shapely.intersection(cells, land)
    commune_geoms = {
        code: finish(geom) for code, geom in zip(communes["code"], clipped, strict=True)
    }
    # Provinces are not simplified, so their borders stay on the commune borders.
    province_geoms = {
        code: finish(shapely.intersection(shapely.union_all(cells[idx]), land))
        for code, idx in communes.groupby("province_code").indices.items()
    }
    # The inside-Vietnam test area: all commune polygons (= land) plus a margin for coastal points.
    country = finish(shapely.buffer(land, COUNTRY_MARGIN_KM * KM), COUNTRY_SIMPLIFY)

    own = shapely.points(communes["lon"], communes["lat"])
    geoms = np.array([commune_geoms[c] for c in communes["code"]])
    misses = communes["code"][~shapely.covers(geoms, own)].tolist()
    notes.append(f"communes whose polygon does not cover their centroid: {len(misses)} {misses}")
    empties = [c for c, g in commune_geoms.items() if g.is_empty]
    notes.append(f"communes with an empty polygon: {len(empties)} {empties}")
    sites_frame = pd.DataFrame(
        {
            "code": site_codes,
            "lat": site_lat,
            "lon": site_lon,
            # repr keeps every bit, so ioc.geo's lookup and these polygons agree exactly.
            "weight": [repr(float(w)) for w in weights],
        }
    )
    return Polygons(commune_geoms, province_geoms, country, notes, sites_frame)


# ---------------------------------------------------------------- writers


def _rounded(obj: object) -> object:
    if isinstance(obj, float):
        return round(obj, DECIMALS)
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def feature(code: str, geom: shapely.Geometry, properties: dict[str, str]) -> dict[str, object]:
    """A GeoJSON feature with id = code and coordinates rounded to the grid."""
    return {
        "type": "Feature",
        "id": code,
        "properties": properties,
        "geometry": _rounded(mapping(geom)),
    }


def write_geojson(path: Path, features: Iterable[dict[str, object]]) -> None:
    """Write a compact, deterministic FeatureCollection."""
    doc = {"type": "FeatureCollection", "features": list(features)}
    path.write_text(
        json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a CSV with Unix newlines and empty cells for missing values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def main(argv: list[str] | None = None) -> int:
    """Build every output file and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=ROOT.parent / "shared", help="the shared/ folder"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args(argv)

    official = load_official()
    wards = read_shared_csv(args.shared, WARD_CSV)
    provinces_src = read_shared_csv(args.shared, PROVINCE_CSV)
    joined = join_population(official, wards, provinces_src)
    provinces = build_provinces(official, provinces_src)
    communes, estimated = reconcile_population(joined.communes, provinces, joined.unmatched)
    # Copied rows carry a copied area (see reconcile_population): not a fitting target.
    trusted_area = communes["area_km2"].where(
        ~communes["code"].isin(copied_figures(joined.communes))
    )
    polygons = build_polygons(communes, args.shared / OUTLINE, trusted_area)

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "provinces.csv", provinces)
    write_csv(args.out / "communes.csv", communes)
    write_csv(args.out / "sites.csv", polygons.sites)
    write_csv(args.fixtures / "unmatched_communes.csv", joined.unmatched)
    write_csv(args.fixtures / "estimated_communes.csv", estimated)
    write_geojson(
        args.out / "communes.geojson",
        (
            feature(
                r.code,
                polygons.communes[r.code],
                {"code": r.code, "name": r.name, "province_code": r.province_code},
            )
            for r in communes.itertuples()
        ),
    )
    write_geojson(
        args.out / "provinces.geojson",
        (
            feature(r.code, polygons.provinces[r.code], {"code": r.code, "name": r.name})
            for r in provinces.itertuples()
        ),
    )
    write_geojson(
        args.out / "country.geojson",
        [
            feature(
                "VN", polygons.country, {"name": "Việt Nam", "margin_km": str(COUNTRY_MARGIN_KM)}
            )
        ],
    )

    unjoined = joined.unmatched[~joined.unmatched["reason"].str.startswith("population")]
    total = len(communes)
    matched = total - int((unjoined["side"] == "official").sum())
    print(f"communes joined to sapnhap: {matched}/{total} ({matched / total:.2%})")
    print(f"sapnhap rows without an official commune: {(unjoined['side'] == 'sapnhap').sum()}")
    published = communes["population_published"].notna().sum()
    print(f"communes with a published figure: {published}/{total}")
    for m, n in communes["population_method"].value_counts().sort_index().items():
        print(f"population {m}: {n}")
    for note in polygons.notes:
        print(note)
    for path in sorted(args.out.glob("*.*sv")) + sorted(args.out.glob("*.geojson")):
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
