"""Geography: committed data, lookups, polygons and the population join."""

from __future__ import annotations

import csv
import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from bench.geo import bench_locate
from ioc.geo import DATA_DIR, Geography, geography
from ioc.geo.islands import BUFFER_KM, FEATURES
from ioc.geo.names import fold_key, name_key, vi_sort_key

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURE = ROOT / "tests" / "fixtures" / "unmatched_communes.csv"
ESTIMATED = ROOT / "tests" / "fixtures" / "estimated_communes.csv"

HOANG_SA, TRUONG_SA = "20333", "22736"
# Counts from the committed join (see ioc/geo/data/README.md); a change in the join shows here.
JOINED = 3321
POPULATION_MISSING = 67
# Communes whose published figure repeats a same-named commune's in another province.
COPIED, COPIED_GROUPS = 304, 133


@pytest.fixture(scope="module")
def geo() -> Geography:
    return geography()


@pytest.fixture(scope="module")
def build_geo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_geo", ROOT / "scripts" / "build_geo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class body runs.
    sys.modules["build_geo"] = module
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- identity


def test_counts_and_codes(geo: Geography) -> None:
    assert len(geo.provinces) == 34
    assert len(geo.communes) == 3321
    assert all(len(c) == 2 and c.isdigit() for c in geo.provinces)
    assert all(len(c) == 5 and c.isdigit() for c in geo.communes)
    rows = read_csv(DATA_DIR / "communes.csv")
    assert len({r["code"] for r in rows}) == len(rows) == 3321
    assert {c.province_code for c in geo.communes.values()} == set(geo.provinces)
    for code, province in geo.provinces.items():
        assert province.commune_count == len(geo.communes_of(code))
    types = {c.type for c in geo.communes.values()}
    assert types == {"xã", "phường", "đặc khu"}


def test_lam_dong(geo: Geography) -> None:
    p = geo.province("68")
    assert (p.name, p.short_name, p.type) == ("Tỉnh Lâm Đồng", "Lâm Đồng", "tỉnh")
    assert p.commune_count == 124
    assert p.population == 3_872_999
    assert p.area_km2 == pytest.approx(24_233.07)
    assert geo.province("01").type == "thành phố"
    assert sum(pr.population or 0 for pr in geo.provinces.values()) > 100_000_000


def test_code_normalisation_and_errors(geo: Geography) -> None:
    assert geo.province("1").code == "01"
    assert geo.province(" 68 ").code == "68"
    assert geo.commune("4").name == "Phường Ba Đình"
    assert geo.is_province("79") and geo.is_province(1)
    assert not geo.is_province("001") and not geo.is_province("02") and not geo.is_province(None)
    assert geo.is_commune("24781") and not geo.is_commune("99999")
    with pytest.raises(KeyError, match="unknown province code '999'"):
        geo.province("999")
    with pytest.raises(KeyError, match="unknown commune code 'abc'"):
        geo.commune("abc")
    with pytest.raises(KeyError):
        geo.communes_of("02")


def test_special_zones_present(geo: Geography) -> None:
    assert geo.commune(HOANG_SA).name == "Đặc khu Hoàng Sa"
    assert geo.commune(HOANG_SA).province_code == "48"
    assert geo.commune(TRUONG_SA).name == "Đặc khu Trường Sa"
    assert geo.commune(TRUONG_SA).province_code == "56"
    assert sum(c.type == "đặc khu" for c in geo.communes.values()) == 13


def test_communes_of_vietnamese_order(geo: Geography) -> None:
    names = [c.short_name for c in geo.communes_of("68")]
    assert len(names) == 124
    assert names == sorted(names, key=vi_sort_key)
    # Đ sorts after every D, not among them as a code-point sort of "D" + diacritic would not.
    first_d_stroke = next(i for i, n in enumerate(names) if n.startswith("Đ"))
    assert all(not n.startswith("D") for n in names[first_d_stroke:])


def test_singleton_and_lazy_import() -> None:
    assert geography() is geography()
    code = (
        "import ioc.geo, ioc.geo.units as u; "
        "assert u.geography.cache_info().currsize == 0, 'loaded at import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Phúc Hoà", "Xã Phúc Hòa"),
        ("Cư M’gar", "Cư M'gar"),
        ("Xuân Hương–Đà Lạt", "Phường Xuân Hương - Đà Lạt"),
        ("  tân   THUỶ ", "Tân Thủy"),
        ("tỉnh Ninh BÌnh", "Ninh Bình"),
        ("Thủ đô Hà Nội", "Thành phố Hà Nội"),
        ("Ðông Hải", "Đông Hải"),
    ],
)
def test_name_key_equal(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Tân An", "Tấn An"), ("Hòa An", "Hóa An"), ("Hà Nội", "Hà Nam"), ("Dương", "Đương")],
)
def test_name_key_distinct(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


def test_vi_sort_key() -> None:
    words = ["Đông", "Dương", "Ân Thi", "Ăn", "Anh Sơn", "An Khánh", "Móng Cái 10", "Móng Cái 2"]
    expected = ["An Khánh", "Anh Sơn", "Ăn", "Ân Thi", "Dương", "Đông", "Móng Cái 2", "Móng Cái 10"]
    assert sorted(words, key=vi_sort_key) == expected


def test_find_commune(geo: Geography) -> None:
    assert fold_key("Phường Xuân Hương - Đà Lạt") == "xuan huong da lat"
    assert geo.find_commune("68", "Phường Xuân Hương–Đà Lạt").code == "24781"
    assert geo.find_commune("68", "xuan huong da lat").code == "24781"
    assert geo.find_commune("66", "Cư M’gar").name == "Xã Cư M'gar"
    assert geo.find_commune("68", "Ba Đình") is None


# ---------------------------------------------------------------- locate


def test_locate_central_da_lat(geo: Geography) -> None:
    commune = geo.locate(11.94, 108.44)
    assert commune is not None
    assert (commune.code, commune.name) == ("24781", "Phường Xuân Hương - Đà Lạt")


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (21.0285, 105.8542, "00070"),  # Hoàn Kiếm lake
        (16.568, 112.135, HOANG_SA),  # centre of the Hoàng Sa special zone
        (10.7298, 115.8219, TRUONG_SA),  # an islet of the Spratly group in the outline
        (9.71, 114.45, TRUONG_SA),
    ],
)
def test_locate_known_points(geo: Geography, lat: float, lon: float, code: str) -> None:
    commune = geo.locate(lat, lon)
    assert commune is not None and commune.code == code


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (13.75, 100.5),  # Bangkok
        (15.0, 112.0),  # open sea, south of Hoàng Sa
        (17.97, 102.6),  # Vientiane
        (11.56, 104.92),  # Phnom Penh
        (0.0, 0.0),
        (math.nan, 105.8),
        (21.0, math.inf),
    ],
)
def test_locate_outside_vietnam(geo: Geography, lat: float, lon: float) -> None:
    assert geo.locate(lat, lon) is None
    assert not geo.inside_vietnam(lat, lon)


def test_every_centre_locates_to_its_commune(geo: Geography) -> None:
    communes = list(geo.communes.values())
    codes = geo.locate_many([c.lat for c in communes], [c.lon for c in communes])
    assert codes == [c.code for c in communes]


def test_thien_mu_pagoda_is_in_kim_long(geo: Geography) -> None:
    commune = geo.locate(16.4532, 107.5447)
    assert commune is not None and commune.name == "Phường Kim Long"


def polygon_area_km2(geom: shapely.Geometry) -> float:
    """Ground area of a small lon/lat polygon (degrees scaled at its own latitude)."""
    lat = geom.centroid.y
    return shapely.area(geom) * 111.32**2 * math.cos(math.radians(lat))


def test_cells_match_official_areas(geo: Geography) -> None:
    copied = {r["code"] for r in read_csv(ESTIMATED) if r["reason"].startswith("copied")}
    ratios = []
    for f in geo.commune_geojson()["features"]:
        c = geo.commune(f["id"])
        if c.area_km2 is None or c.code in copied or c.code in (HOANG_SA, TRUONG_SA):
            continue
        ratios.append(polygon_area_km2(shape(f["geometry"])) / c.area_km2)
    ratios = np.array(ratios)
    within = float(np.mean(np.abs(ratios - 1) <= 0.25))
    print(f"communes within ±25% of official area: {within:.1%} of {ratios.size}")
    assert ratios.size > 3000
    assert within >= 0.90
    assert float(np.mean((ratios > 2) | (ratios < 0.5))) < 0.03


def test_locate_many_matches_locate(geo: Geography) -> None:
    rng = np.random.default_rng(7)
    lats = np.append(rng.uniform(8, 24, 2000), [np.nan, 13.75])
    lons = np.append(rng.uniform(102, 117, 2000), [105.0, 100.5])
    many = geo.locate_many(lats, lons)
    single = [geo.locate(a, b) for a, b in zip(lats.tolist(), lons.tolist(), strict=True)]
    assert many == [c.code if c else None for c in single]
    assert any(many) and None in many
    assert geo.locate_many([], []) == []
    with pytest.raises(ValueError, match="differ in shape"):
        geo.locate_many([1.0, 2.0], [3.0])


def test_bench_locate_agrees_with_polygons(geo: Geography) -> None:
    result = bench_locate(n=5000, seed=1, geo=geo)
    assert result["lookups"] == 5000
    assert result["single_per_s"] > 0 and result["vectorised_per_s"] > result["single_per_s"]
    assert result["polygon_points"] > 4000
    # Disagreement only within metres of a border, from the 1e-4° coordinate grid.
    assert result["polygon_check_agreement"] >= 0.999


def test_locate_disagrees_with_polygons_only_on_borders(geo: Geography) -> None:
    rng = np.random.default_rng(3)
    lats, lons = rng.uniform(8.4, 23.5, 40_000), rng.uniform(102.1, 109.6, 40_000)
    codes = geo.locate_many(lats, lons)
    features = geo.commune_geojson()["features"]
    polygons = np.array([shape(f["geometry"]) for f in features])
    points = shapely.points(lons, lats)
    point_idx, poly_idx = shapely.STRtree(polygons).query(points, predicate="within")
    assert point_idx.size > 5000
    for p, q in zip(point_idx.tolist(), poly_idx.tolist(), strict=True):
        if codes[p] != features[q]["id"]:
            # Only the 1e-5° coordinate grid separates the two answers.
            assert shapely.distance(polygons[q].boundary, points[p]) < 2e-5, (lats[p], lons[p])
    # Every point on a polygon is in Vietnam.
    assert all(codes[p] is not None for p in point_idx.tolist())


# ---------------------------------------------------------------- archipelagos

NAMED_FEATURES = [
    ("Đảo Trường Sa Lớn", 8.645, 111.920, TRUONG_SA),
    ("Đảo Song Tử Tây", 11.43, 114.33, TRUONG_SA),
    ("Đảo Sinh Tồn", 9.88, 114.33, TRUONG_SA),
    ("Đảo Nam Yết", 10.18, 114.36, TRUONG_SA),
    ("Đảo Sơn Ca", 10.376, 114.479, TRUONG_SA),
    ("Đảo Phan Vinh", 8.967, 113.684, TRUONG_SA),
    ("Đá Tây", 8.85, 112.22, TRUONG_SA),
    ("Đảo Phú Lâm", 16.83, 112.34, HOANG_SA),
    ("Đảo Hoàng Sa", 16.53, 111.61, HOANG_SA),
    ("Đảo Tri Tôn", 15.783, 111.2, HOANG_SA),
    ("Đảo Linh Côn", 16.667, 112.733, HOANG_SA),
    ("Đảo Quang Ảnh", 16.45, 111.51, HOANG_SA),
]


@pytest.mark.parametrize(("name", "lat", "lon", "code"), NAMED_FEATURES)
def test_archipelago_features_are_in_their_zone(
    geo: Geography, name: str, lat: float, lon: float, code: str
) -> None:
    assert name in {f.name for f in FEATURES}
    assert geo.inside_vietnam(lat, lon), name
    commune = geo.locate(lat, lon)
    assert commune is not None and commune.code == code, (name, commune)
    # A boat 10 km off the feature is still within its territorial sea.
    assert geo.locate(lat + 10 / 111.32, lon) is not None
    # The drawn polygons of the zone and of its province cover the feature.
    point = shapely.Point(lon, lat)
    zone = next(f for f in geo.commune_geojson()["features"] if f["id"] == code)
    assert shape(zone["geometry"]).covers(point), name
    province = next(
        f for f in geo.province_geojson()["features"] if f["id"] == geo.commune(code).province_code
    )
    assert shape(province["geometry"]).covers(point), name


def test_every_archipelago_feature_locates_to_its_zone(geo: Geography) -> None:
    codes = geo.locate_many([f.lat for f in FEATURES], [f.lon for f in FEATURES])
    assert codes == [f.commune_code for f in FEATURES]
    assert {f.commune_code for f in FEATURES} == {HOANG_SA, TRUONG_SA}


def test_archipelago_zones_are_sets_of_discs_not_one_disc(geo: Geography) -> None:
    zones = {f["id"]: shape(f["geometry"]) for f in geo.commune_geojson()["features"]}
    disc_km2 = math.pi * BUFFER_KM**2
    for code in (HOANG_SA, TRUONG_SA):
        parts = shapely.get_parts(zones[code])
        assert len(parts) >= 3, code
        # Area in km² of the plane (lon scaled by cos lat): several features' discs.
        lat = geo.commune(code).lat
        km2 = shapely.area(zones[code]) * 111.32**2 * math.cos(math.radians(lat))
        assert km2 > 3 * disc_km2, (code, km2)
    # Open sea between the two groups and beyond the Trường Sa discs stays outside.
    assert geo.locate(13.0, 113.0) is None
    assert geo.locate(8.645 + 40 / 111.32, 111.92) is None


# ---------------------------------------------------------------- polygons


def test_commune_geojson(geo: Geography) -> None:
    features = geo.commune_geojson()["features"]
    assert len(features) == 3321
    assert [f["id"] for f in features] == sorted(geo.communes)
    geoms = np.array([shape(f["geometry"]) for f in features])
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    assert set(shapely.get_type_id(geoms).tolist()) <= {3, 6}  # Polygon, MultiPolygon
    for f in features:
        commune = geo.commune(f["id"])
        assert f["properties"] == {
            "code": commune.code,
            "name": commune.name,
            "province_code": commune.province_code,
        }
    centres = shapely.points(
        [geo.commune(f["id"]).lon for f in features], [geo.commune(f["id"]).lat for f in features]
    )
    assert shapely.covers(geoms, centres).all()
    # Power-diagram cells do not overlap: the areas add up to the area of their union.
    assert shapely.area(shapely.union_all(geoms)) == pytest.approx(
        shapely.area(geoms).sum(), rel=1e-4
    )


def test_commune_geojson_of_province(geo: Geography) -> None:
    features = geo.commune_geojson("68")["features"]
    assert len(features) == 124
    assert {f["properties"]["province_code"] for f in features} == {"68"}
    assert geo.commune_geojson(68) is geo.commune_geojson("68")


def test_province_geojson(geo: Geography) -> None:
    features = geo.province_geojson()["features"]
    assert len(features) == 34
    assert [f["id"] for f in features] == sorted(geo.provinces)
    provinces = {f["id"]: shape(f["geometry"]) for f in features}
    assert all(g.is_valid and not g.is_empty for g in provinces.values())
    for code, polygon in provinces.items():
        communes = geo.communes_of(code)
        centres = shapely.points([c.lon for c in communes], [c.lat for c in communes])
        assert shapely.covers(polygon, centres).all(), code
    # Each island special zone is part of its province's shape.
    assert provinces["48"].covers(shapely.Point(112.135, 16.568))
    assert provinces["56"].covers(shapely.Point(114.45, 9.71))


def test_geojson_sizes() -> None:
    assert (DATA_DIR / "communes.geojson").stat().st_size < 6_000_000
    assert (DATA_DIR / "provinces.geojson").stat().st_size < 1_000_000


# ---------------------------------------------------------------- population join


def test_unmatched_fixture_matches_committed_data() -> None:
    fixture = read_csv(FIXTURE)
    communes = read_csv(DATA_DIR / "communes.csv")
    join_failures = [r for r in fixture if not r["reason"].startswith("population")]
    assert len(communes) - sum(r["side"] == "official" for r in join_failures) == JOINED
    assert not [r for r in join_failures if r["side"] == "sapnhap"]
    no_population = {c["code"] for c in communes if not c["population_published"]}
    assert no_population == {r["code"] for r in fixture if r["side"] == "official"}
    assert len(no_population) == POPULATION_MISSING
    rejected = [r for r in fixture if r["reason"].startswith("population rejected")]
    assert [(r["code"], r["name"]) for r in rejected] == [("04714", "Xã Yên Bình")]


def test_every_commune_has_a_labelled_figure() -> None:
    communes = read_csv(DATA_DIR / "communes.csv")
    assert all(c["population"] and int(c["population"]) > 0 for c in communes)
    methods = {c["population_method"] for c in communes}
    assert methods == {"published", "scaled", "estimated"}
    for c in communes:
        estimated = c["population_method"] == "estimated"
        assert c["population_source"].startswith("estimate") == estimated, c
        if c["population_method"] == "published":
            assert c["population"] == c["population_published"], c
        if c["population_method"] != "published":
            assert c["population_note"], c


def test_estimated_fixture_matches_committed_data() -> None:
    fixture = read_csv(ESTIMATED)
    communes = {c["code"]: c for c in read_csv(DATA_DIR / "communes.csv")}
    estimated = {c for c, r in communes.items() if r["population_method"] == "estimated"}
    assert {r["code"] for r in fixture} == estimated
    for r in fixture:
        assert r["population"] == communes[r["code"]]["population"]
    # Every commune without a published figure is estimated, and so is every copy.
    missing = {c for c, r in communes.items() if not r["population_published"]}
    assert missing <= estimated
    copied = {r["code"] for r in fixture if r["reason"].startswith("copied figure")}
    assert estimated == missing | copied
    assert len(copied) == COPIED


def test_copied_figures_are_detected(build_geo: ModuleType) -> None:
    communes = read_csv(DATA_DIR / "communes.csv")
    frame = pd.DataFrame(communes).assign(
        population=lambda f: pd.to_numeric(f["population_published"]).astype("Int64")
    )
    copied = build_geo.copied_figures(frame)
    assert len(copied) == COPIED
    names = {r["code"]: r["name"] for r in communes}
    groups = {(names[c].split(" ", 1)[1], reason) for c, reason in copied.items()}
    assert len(groups) == COPIED_GROUPS
    binh_an = [c for c in copied if names[c] == "Xã Bình An"]
    assert len(binh_an) == 5
    assert "59475" in copied[binh_an[0]]
    # A name repeated in other provinces with different figures is not a copy.
    an_khanh = [r["code"] for r in communes if r["name"] == "Xã An Khánh"]
    assert len(an_khanh) > 1 and not set(an_khanh) & set(copied)
    # The detector is not vacuous: a planted copy is found.
    frame.loc[frame["code"] == an_khanh[1], "population"] = frame.loc[
        frame["code"] == an_khanh[0], "population"
    ].iloc[0]
    assert set(an_khanh[:2]) <= set(build_geo.copied_figures(frame))


def test_commune_figures_sum_to_province_totals(geo: Geography) -> None:
    for code, province in geo.provinces.items():
        communes = geo.communes_of(code)
        assert province.population is not None
        assert sum(c.population or 0 for c in communes) == province.population, code
    assert geo.commune("02296").population_method == "estimated"


def test_parse_count(build_geo: ModuleType) -> None:
    assert build_geo.parse_count("8.718.000") == 8_718_000
    assert build_geo.parse_count("30,509") == 30_509
    assert build_geo.parse_count("102136") == 102_136
    assert build_geo.parse_count("đang cập nhật") is None
    assert build_geo.parse_count("1,5") is None
    assert build_geo.parse_vi_decimal("3.359,80") == pytest.approx(3359.8)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared sources not found at {SHARED}")
def test_join_reproduces_committed_files(build_geo: ModuleType) -> None:
    official = build_geo.load_official()
    wards = build_geo.read_shared_csv(SHARED, build_geo.WARD_CSV)
    provinces = build_geo.read_shared_csv(SHARED, build_geo.PROVINCE_CSV)
    joined = build_geo.join_population(official, wards, provinces)
    fixture = read_csv(FIXTURE)
    produced = joined.unmatched.fillna("").astype(str).to_dict("records")
    assert produced == fixture
    committed = {r["code"]: r["population_published"] for r in read_csv(DATA_DIR / "communes.csv")}
    population = joined.communes.set_index("code")["population"]
    fresh = {code: "" if pd.isna(v) else str(v) for code, v in population.items()}
    assert fresh == committed


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared sources not found at {SHARED}")
def test_join_pairs_by_name_not_by_position(build_geo: ModuleType) -> None:
    official = build_geo.load_official()
    wards = build_geo.read_shared_csv(SHARED, build_geo.WARD_CSV)
    provinces = build_geo.read_shared_csv(SHARED, build_geo.PROVINCE_CSV)
    # A renamed row must drop out on both sides rather than pair with a neighbour.
    row = wards.index[wards["tenhc"] == "Xuân Hương - Đà Lạt"][0]
    wards.loc[row, "tenhc"] = "Xuân Hưng - Đà Lạt"
    unmatched = build_geo.join_population(official, wards, provinces).unmatched
    reasons = set(zip(unmatched["side"], unmatched["name"], unmatched["reason"], strict=True))
    assert ("official", "Phường Xuân Hương - Đà Lạt", "no sapnhap row") in reasons
    assert ("sapnhap", "Xuân Hưng - Đà Lạt", "no official commune") in reasons
