"""The places a generated feed happens at: cameras, roads, bus routes, villages, probes, cells.

Built from the real communes of the province (names, centroids, population). Roads are
not real road geometry: they are gently curved lines between neighbouring commune
centres, kept inside the province.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from ioc.geo import Commune, geography
from sample_feeds.generator.geometry import Polyline, bearing_deg, distance_km, offset

# Vehicle registration codes (biển số) seen in each province, local ones first.
PLATE_CODES: dict[str, tuple[list[str], list[str]]] = {
    "68": (["49", "86", "48"], ["51", "50", "47", "79", "85", "61", "72"]),
    "46": (["75"], ["43", "74", "92", "38", "73", "29", "51", "76"]),
}
VENDORS = ("hikvision", "dahua")
OPERATORS = ("Viettel", "VNPT", "MobiFone")
OPERATOR_SHARE = (0.5, 0.27, 0.23)
OPERATOR_CODE = {"Viettel": "vtl", "VNPT": "vnp", "MobiFone": "mbf"}


@dataclass(frozen=True, slots=True)
class Camera:
    """A fixed security camera at a commune site or on a main road."""

    source: str
    name: str
    site: str  # office, market, school, square, junction, traffic, anpr
    commune: Commune
    lat: float
    lon: float
    vendor: str
    zones: tuple[str, ...]
    has_ups: bool


@dataclass(frozen=True, slots=True)
class Stop:
    """A bus stop at a commune centre."""

    id: str
    name: str
    commune: Commune
    lat: float
    lon: float
    weight: float  # relative boardings, from population


@dataclass
class Route:
    """A bus route: stops along one road path, located by km from the first stop."""

    id: str
    name: str
    stops: list[Stop]
    path: Polyline
    stop_km: list[float]
    urban: list[bool]  # per leg between consecutive stops: in town (slower traffic)

    @property
    def length_km(self) -> float:
        return self.path.length


@dataclass(frozen=True, slots=True)
class Village:
    """A village (thôn) or residential group (tổ dân phố) of a commune."""

    name: str
    commune: Commune
    lat: float
    lon: float
    households: int


@dataclass
class Probe:
    """A signal probe (a phone on one operator's SIM) in a village."""

    source: str
    village: Village
    operator: str
    technology: str
    rsrp_base: float
    gap_prone: bool
    cell: CellSite | None = None


@dataclass(frozen=True, slots=True)
class CellSite:
    """An operator's base station."""

    source: str
    operator: str
    technology: str
    commune: Commune
    lat: float
    lon: float
    battery_min: int  # backup time when grid power is lost


@dataclass
class World:
    """Every place of one province's generated day."""

    province: str
    communes: list[Commune]
    cameras: list[Camera] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    villages: list[Village] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    cells: list[CellSite] = field(default_factory=list)
    plates: list[str] = field(default_factory=list)

    def cameras_in(self, commune_code: str) -> list[Camera]:
        """Cameras of one commune."""
        return [c for c in self.cameras if c.commune.code == commune_code]

    def nearest_cameras(
        self, lat: float, lon: float, sites: tuple[str, ...] | None = None
    ) -> list[Camera]:
        """Cameras by distance from a point, optionally only some site types."""
        pool = [c for c in self.cameras if sites is None or c.site in sites]
        return sorted(pool, key=lambda c: distance_km(lat, lon, c.lat, c.lon))


def _in_province(province: str, lat: float, lon: float) -> bool:
    found = geography().locate(lat, lon)
    return found is not None and found.province_code == province


def _in_commune(commune: Commune, lat: float, lon: float) -> bool:
    found = geography().locate(lat, lon)
    return found is not None and found.code == commune.code


def _leg_inside(province: str, points: list[tuple[float, float]]) -> bool:
    line = Polyline(points)
    steps = max(2, int(line.length / 0.3))
    return all(
        _in_province(province, *line.at(line.length * i / steps)[:2]) for i in range(steps + 1)
    )


def _road(rng: random.Random, province: str, a: Stop, b: Stop) -> Polyline | None:
    """A gently curved road from a to b inside the province, or None if none fits."""
    length = distance_km(a.lat, a.lon, b.lat, b.lon)
    heading = bearing_deg(a.lat, a.lon, b.lat, b.lon)
    for bend in (rng.uniform(0.04, 0.09) * rng.choice((-1, 1)), 0.0):
        points = [(a.lat, a.lon)]
        for frac, sign in ((1 / 3, 1.0), (2 / 3, -0.6)):
            mid = offset(a.lat, a.lon, heading, length * frac)
            points.append(offset(*mid, heading + 90, length * bend * sign))
        points.append((b.lat, b.lon))
        if _leg_inside(province, points):
            return Polyline(points)
    return None


def _stop(c: Commune, max_pop: int) -> Stop:
    return Stop(f"st-{c.code}", f"Điểm dừng {c.short_name}", c, c.lat, c.lon,
                0.4 + 2.6 * (c.population or 0) / max_pop)  # fmt: skip


def build_routes(
    rng: random.Random, province: str, communes: list[Commune], n_routes: int
) -> list[Route]:
    """Bus routes along corridors between well-populated commune centres."""
    max_pop = max(c.population or 0 for c in communes) or 1
    ranked = sorted(communes, key=lambda c: (-(c.population or 0), c.code))
    small = len(communes) < 80
    hubs = ranked if small else ranked[: max(12, len(ranked) // 4)]
    min_km = 8.0 if small else 10.0
    candidates = []
    for i, a in enumerate(hubs):
        for b in hubs[i + 1 :]:
            d = distance_km(a.lat, a.lon, b.lat, b.lon)
            if not min_km <= d <= 48.0:
                continue
            corridor = _corridor(a, b, communes, d)
            if len(corridor) < 4:
                continue
            score = sum(c.population or 0 for c in corridor) * (1.0 + len(corridor) / 10)
            candidates.append((score, a.code, b.code, corridor))
    candidates.sort(key=lambda x: (-x[0], x[1], x[2]))
    routes: list[Route] = []
    terminal_use: dict[str, int] = {}
    max_terminal, max_shared = (3, 0.6) if small else (2, 0.5)
    for _score, a_code, b_code, corridor in candidates:
        if len(routes) >= n_routes:
            break
        if (
            terminal_use.get(a_code, 0) >= max_terminal
            or terminal_use.get(b_code, 0) >= max_terminal
        ):
            continue
        codes = {c.code for c in corridor}
        if any(
            len(codes & {s.commune.code for s in r.stops}) > max_shared * len(codes) for r in routes
        ):
            continue
        route = _route(rng, province, f"{province}-{len(routes) + 1:02d}", corridor, max_pop)
        if route is None:
            continue
        routes.append(route)
        terminal_use[a_code] = terminal_use.get(a_code, 0) + 1
        terminal_use[b_code] = terminal_use.get(b_code, 0) + 1
    return routes


def _route(
    rng: random.Random, province: str, route_id: str, corridor: list[Commune], max_pop: int
) -> Route | None:
    """Road path through the corridor's commune centres, with roadside stops on long legs."""
    centres = [_stop(c, max_pop) for c in corridor]
    points: list[tuple[float, float]] = []
    joints = [0.0]
    for a, b in zip(centres, centres[1:], strict=False):
        leg = _road(rng, province, a, b)
        if leg is None:
            return None
        points.extend(leg.points if not points else leg.points[1:])
        joints.append(joints[-1] + leg.length)
    path = Polyline(points)
    stops: list[Stop] = []
    stop_km: list[float] = []
    for i, centre in enumerate(centres):
        stops.append(centre)
        stop_km.append(joints[i])
        if i + 1 == len(centres):
            break
        leg_km = joints[i + 1] - joints[i]
        extra = int(leg_km / 5.0) if leg_km > 7.0 else 0
        for k in range(1, extra + 1):
            km = joints[i] + leg_km * k / (extra + 1)
            lat, lon, _ = path.at(km)
            found = geography().locate(lat, lon)
            if found is None or found.province_code != province:
                continue
            stops.append(Stop(f"st-{route_id}-{len(stops):02d}",
                              f"Điểm dừng km {km:.0f} ({found.short_name})", found,
                              round(lat, 5), round(lon, 5), 0.3))  # fmt: skip
            stop_km.append(km)
    urban = [a.commune.type == "phường" and b.commune.type == "phường"
             for a, b in zip(stops, stops[1:], strict=False)]  # fmt: skip
    name = f"{centres[0].commune.short_name} – {centres[-1].commune.short_name}"
    return Route(route_id, name, stops, path, stop_km, urban)


def _corridor(a: Commune, b: Commune, communes: list[Commune], d: float) -> list[Commune]:
    """Communes whose centres lie near the straight line a-b, in order from a to b."""
    ax, ay = 0.0, 0.0
    bx, by = _xy(a, b)
    near = []
    for c in communes:
        cx, cy = _xy(a, c)
        f = (cx * bx + cy * by) / (d * d)
        if not 0.0 < f < 1.0 and c.code not in (a.code, b.code):
            continue
        px, py = ax + f * bx, ay + f * by
        if c.code in (a.code, b.code) or ((cx - px) ** 2 + (cy - py) ** 2) ** 0.5 <= 3.5:
            near.append((f if c.code != b.code else 1.0, c))
    near.sort(key=lambda x: (x[0], x[1].code))
    stops: list[Commune] = []
    for _f, c in near:
        # Commune centres closer than 1.5 km are one stop, not two.
        if stops and distance_km(stops[-1].lat, stops[-1].lon, c.lat, c.lon) < 1.5:
            if c.code == b.code:
                stops[-1] = c
            continue
        stops.append(c)
    if not stops or stops[0].code != a.code or stops[-1].code != b.code:
        return []
    return stops[:12]


def _xy(origin: Commune, c: Commune) -> tuple[float, float]:
    """Planar km of c relative to origin."""
    x = (c.lon - origin.lon) * 111.195 * math.cos(math.radians(origin.lat))
    y = (c.lat - origin.lat) * 111.195
    return x, y


CAMERA_SITES = {
    "office": ("Trụ sở UBND", ("Cổng chính", "Sân trước", "Hàng rào phía sau")),
    "market": ("Chợ", ("Cổng chợ", "Dãy hàng khô", "Bãi xe")),
    "school": ("Trường THCS", ("Cổng trường", "Sân trường", "Tường rào")),
    "square": ("Quảng trường", ("Khu trung tâm", "Khu vui chơi", "Lối vào")),
    "junction": ("Ngã tư trung tâm", ("Làn đi thẳng", "Vỉa hè", "Vạch dừng")),
}


def build_cameras(rng: random.Random, world: World, n_site_communes: int) -> None:
    """Cameras at commune centres (more in big wards) and along the roads of bus routes."""
    province = world.province
    ranked = sorted(world.communes, key=lambda c: (-(c.population or 0), c.code))
    number = 0

    def add(
        site: str, commune: Commune, lat: float, lon: float, name: str, zones: tuple[str, ...]
    ) -> None:
        nonlocal number
        number += 1
        world.cameras.append(Camera(
            source=f"cam-{province}-{number:03d}", name=name, site=site, commune=commune,
            lat=round(lat, 5), lon=round(lon, 5), vendor=rng.choice(VENDORS), zones=zones,
            has_ups=rng.random() < 0.6,
        ))  # fmt: skip

    for rank, commune in enumerate(ranked[:n_site_communes]):
        sites = ["office"]
        if rank < 6:
            sites += ["market", "square", "junction"]
        elif rank < 16:
            sites += ["market", "school"]
        elif rng.random() < 0.5:
            sites.append(rng.choice(["market", "school"]))
        for k, site in enumerate(sites):
            label, zones = CAMERA_SITES[site]
            lat, lon = commune.lat, commune.lon
            for _ in range(10):
                # Sites spread a few hundred metres around the commune centre.
                cand = (
                    offset(commune.lat, commune.lon, rng.uniform(0, 360), rng.uniform(0.15, 0.9))
                    if k
                    else (lat, lon)
                )
                if _in_commune(commune, *cand):
                    lat, lon = cand
                    break
            add(site, commune, lat, lon, f"{label} {commune.name}", zones)
    # Road cameras on the routes' open-road stretches, roughly one per 8 km.
    n_road = 0
    for route in world.routes:
        km = rng.uniform(2.0, 6.0)
        while km < route.length_km - 2.0:
            lat, lon, _ = route.path.at(km)
            km += rng.uniform(6.0, 11.0)
            found = geography().locate(lat, lon)
            near = world.nearest_cameras(lat, lon)
            if found is None or found.province_code != province:
                continue
            if near and distance_km(lat, lon, near[0].lat, near[0].lon) < 2.0:
                continue
            n_road += 1
            site = "anpr" if n_road % 3 == 1 else "traffic"
            label = "Camera nhận dạng biển số" if site == "anpr" else "Camera giám sát giao thông"
            zones = ("Làn xe máy", "Làn ô tô") if site == "traffic" else ("Chiều đi", "Chiều về")
            add(site, found, lat, lon, f"{label} tuyến {route.name}, {found.name}", zones)


def build_villages(rng: random.Random, world: World, count: int) -> None:
    """Villages of rural communes (and residential groups of wards) around commune centres."""
    geo = geography()
    rural = [c for c in world.communes if c.type != "phường"]
    urban = [c for c in world.communes if c.type == "phường"]
    pool = sorted(rural, key=lambda c: c.code)
    rng.shuffle(pool)
    chosen = (
        pool[: int(count * 0.8)] + sorted(urban, key=lambda c: c.code)[: count - int(count * 0.8)]
    )
    for commune in chosen:
        spread = max(0.6, min(5.0, ((commune.area_km2 or 30.0) ** 0.5) * 0.35))
        lat, lon = commune.lat, commune.lon
        for _ in range(20):
            cand = offset(commune.lat, commune.lon, rng.uniform(0, 360), rng.uniform(0.3, spread))
            found = geo.locate(*cand)
            if found is not None and found.code == commune.code:
                lat, lon = cand
                break
        prefix = "Tổ dân phố" if commune.type == "phường" else "Thôn"
        name = f"{prefix} {rng.randint(1, 14)}, {commune.name[0].lower()}{commune.name[1:]}"
        households = rng.randint(90, 320) if commune.type != "phường" else rng.randint(250, 600)
        world.villages.append(Village(name, commune, round(lat, 5), round(lon, 5), households))


def build_network(rng: random.Random, world: World, n_probes: int, n_gap: int) -> None:
    """Probes in villages, each served by a cell site of its operator; some villages in weak coverage."""
    province = world.province
    rural = [v for v in world.villages if v.commune.type != "phường"]
    # Gap-prone villages: the largest (most mountainous) rural communes.
    by_area = sorted(rural, key=lambda v: (-(v.commune.area_km2 or 0), v.name))
    gap_villages = by_area[:n_gap]
    others = [v for v in world.villages if v not in gap_villages]
    rng.shuffle(others)
    probe_villages = gap_villages + others[: n_probes - n_gap]
    cells: dict[tuple[str, str], CellSite] = {}
    for n, village in enumerate(probe_villages, start=1):
        operator = rng.choices(OPERATORS, weights=OPERATOR_SHARE)[0]
        gap = village in gap_villages
        urban = village.commune.type == "phường"
        tech = "5G" if urban and rng.random() < 0.35 else "4G"
        base = (
            rng.uniform(-92, -78)
            if urban
            else rng.uniform(-112, -105)
            if gap
            else rng.uniform(-106, -90)
        )
        key = (village.commune.code, operator)
        if key not in cells:
            lat, lon = offset(village.lat, village.lon, rng.uniform(0, 360), rng.uniform(0.4, 1.5))
            if not _in_province(province, lat, lon):
                lat, lon = village.lat, village.lon
            code = OPERATOR_CODE[operator]
            cells[key] = CellSite(
                f"bts-{code}-{province}-{len(cells) + 1:03d}", operator, tech, village.commune,
                round(lat, 5), round(lon, 5), battery_min=rng.randint(90, 240),
            )  # fmt: skip
        world.probes.append(
            Probe(
                f"probe-{province}-{n:02d}",
                village,
                operator,
                tech,
                round(base, 1),
                gap,
                cells[key],
            )
        )
    world.cells = sorted(cells.values(), key=lambda c: c.source)


def build_plates(rng: random.Random, province: str, count: int = 4000) -> list[str]:
    """Synthetic licence plates in the Vietnamese format, all in the unused series letter W."""
    local, other = PLATE_CODES.get(province, ([province], ["51", "29"]))
    plates = []
    for _ in range(count):
        code = rng.choice(local) if rng.random() < 0.8 else rng.choice(other)
        serial = f"{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}"
        if rng.random() < 0.45:
            plates.append(f"{code}W{rng.randint(1, 9)}-{serial}")  # motorbike
        else:
            plates.append(f"{code}W-{serial}")
    return plates


def build_world(rng: random.Random, province: str) -> World:
    """Everything the domain generators place events at."""
    communes = geography().communes_of(province)
    big = len(communes) > 80
    world = World(province, communes)
    world.routes = build_routes(rng, province, communes, n_routes=8 if big else 6)
    build_cameras(rng, world, n_site_communes=34 if big else 22)
    build_villages(rng, world, count=60 if big else 36)
    build_network(rng, world, n_probes=30 if big else 20, n_gap=6 if big else 4)
    world.plates = build_plates(rng, province)
    return world
