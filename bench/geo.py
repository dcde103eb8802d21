"""`ioc bench geo`: throughput and consistency of point-to-commune lookup."""

from __future__ import annotations

import json
import time

import click
import numpy as np
import shapely
from shapely.geometry import shape

from ioc.geo import Geography, geography


def _random_points_inside(
    geo: Geography, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    # Uniform over the mainland's bounding box, kept if inside Vietnam: the ingest case.
    lats: list[np.ndarray] = []
    lons: list[np.ndarray] = []
    found = 0
    while found < n:
        lat = rng.uniform(8.4, 23.5, 4 * n)
        lon = rng.uniform(102.1, 109.6, 4 * n)
        keep = np.array([code is not None for code in geo.locate_many(lat, lon)])
        lats.append(lat[keep])
        lons.append(lon[keep])
        found += int(keep.sum())
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]


def bench_locate(
    n: int = 100_000, seed: int = 0, geo: Geography | None = None
) -> dict[str, float | int]:
    """Time single and vectorised lookups of n in-country points; check them against the polygons."""
    geo = geo or geography()
    rng = np.random.default_rng(seed)
    lats, lons = _random_points_inside(geo, n, rng)
    lat_list, lon_list = lats.tolist(), lons.tolist()

    start = time.perf_counter()
    single = [geo.locate(lat, lon) for lat, lon in zip(lat_list, lon_list, strict=True)]
    single_s = time.perf_counter() - start

    start = time.perf_counter()
    many = geo.locate_many(lats, lons)
    many_s = time.perf_counter() - start
    if [c.code if c else None for c in single] != many:
        raise AssertionError("locate and locate_many disagree")

    # Points on committed commune polygons: does the nearest centroid name the polygon itself?
    features = geo.commune_geojson()["features"]
    polygons = np.array([shape(f["geometry"]) for f in features])
    codes = np.array([f["properties"]["code"] for f in features])
    tree = shapely.STRtree(polygons)
    point_idx, poly_idx = tree.query(shapely.points(lons, lats), predicate="within")
    first = np.unique(point_idx, return_index=True)[1]
    point_idx, poly_idx = point_idx[first], poly_idx[first]
    agree = sum(
        many[p] == codes[q] for p, q in zip(point_idx.tolist(), poly_idx.tolist(), strict=True)
    )
    return {
        "lookups": n,
        "single_per_s": round(n / single_s),
        "vectorised_per_s": round(n / many_s),
        "polygon_points": int(point_idx.size),
        "polygon_check_agreement": round(agree / max(point_idx.size, 1), 6),
    }


@click.command("geo")
@click.option("--lookups", default=100_000, show_default=True, help="Random points to locate.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_geo(lookups: int, as_json: bool) -> None:
    """Point -> commune lookup rate, single and vectorised."""
    result = bench_locate(lookups)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(
                f"{key:<26} {value:,.4f}" if isinstance(value, float) else f"{key:<26} {value}"
            )
