"""The synthetic sample registry shipped with the product: deterministic, generated per commune.

Every commune gets one synthetic resident per SCALE people of its administrative
population scale (communes without a figure get their province's median), grouped
into households. Nothing is stored: a commune's residents are regenerated from
(seed, commune code) on first use and cached, so the same seed always yields the
same people. IDs are "000" + 5-digit commune code + 4-digit serial; real citizen
IDs start with a province-of-birth code from 001, so none can collide.
"""

from __future__ import annotations

import bisect
import random
import statistics
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate

from ioc.geo import Commune, Geography
from ioc.population.directory import DEFAULT_MAX_RESULTS, PopulationDirectory, name_matches
from ioc.population.models import NATIONAL_ID_RE, SYNTHETIC_ID_PREFIX, Person, Sex

DEFAULT_SEED = 20250701
# One synthetic resident per 100 people keeps Lâm Đồng (68) at ~39 k and Huế (46) at ~14 k.
SCALE = 100
# Ages are computed against a fixed year so the registry never changes with the clock.
REFERENCE_YEAR = 2025
# Serials are a permutation of 0..9999 (stride coprime with 10^4) so IDs do not look sequential.
_SERIAL_STRIDE = 7919

# Shares of the most common Vietnamese family names (percent, rounded). "Hoàng/Huỳnh" and
# "Vũ/Võ" are the same names, spelled by region; the split is made by latitude below.
_FAMILY: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.0),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng|Huỳnh", 5.1),
    ("Phan", 4.5),
    ("Vũ|Võ", 3.9),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Đinh", 1.0),
    ("Trương", 0.9),
    ("Đoàn", 0.7),
    ("Mai", 0.6),
    ("Trịnh", 0.6),
    ("Lương", 0.5),
    ("Cao", 0.5),
    ("Lâm", 0.4),
    ("Hà", 0.4),
    ("Tô", 0.3),
)
_MIDDLE: dict[Sex, tuple[tuple[str, float], ...]] = {
    "M": (
        ("Văn", 40),
        ("Đức", 9),
        ("Minh", 9),
        ("Quang", 7),
        ("Hữu", 7),
        ("Công", 6),
        ("Thanh", 5),
        ("Xuân", 4),
        ("Ngọc", 4),
        ("Đình", 4),
        ("Trọng", 3),
        ("Tuấn", 2),
    ),
    "F": (
        ("Thị", 55),
        ("Ngọc", 9),
        ("Thu", 6),
        ("Thanh", 6),
        ("Minh", 5),
        ("Phương", 4),
        ("Kim", 4),
        ("Bích", 3),
        ("Hồng", 4),
        ("Mỹ", 4),
    ),
}
_GIVEN: dict[Sex, tuple[str, ...]] = {
    "M": (
        "Anh",
        "Bảo",
        "Bình",
        "Cường",
        "Dũng",
        "Duy",
        "Đạt",
        "Định",
        "Đông",
        "Hải",
        "Hiếu",
        "Hòa",
        "Hoàng",
        "Hùng",
        "Huy",
        "Khang",
        "Khánh",
        "Khoa",
        "Kiên",
        "Lâm",
        "Long",
        "Lộc",
        "Minh",
        "Nam",
        "Nghĩa",
        "Nhân",
        "Phát",
        "Phong",
        "Phúc",
        "Quân",
        "Quang",
        "Sơn",
        "Tài",
        "Tâm",
        "Thắng",
        "Thành",
        "Thịnh",
        "Tiến",
        "Toàn",
        "Trí",
        "Trung",
        "Tuấn",
        "Tùng",
        "Việt",
        "Vinh",
        "Vũ",
    ),  # fmt: skip
    "F": (
        "An",
        "Anh",
        "Châu",
        "Chi",
        "Diệp",
        "Dung",
        "Duyên",
        "Giang",
        "Hà",
        "Hạnh",
        "Hằng",
        "Hiền",
        "Hoa",
        "Hồng",
        "Hương",
        "Huyền",
        "Lan",
        "Liên",
        "Linh",
        "Loan",
        "Ly",
        "Mai",
        "My",
        "Nga",
        "Ngân",
        "Ngọc",
        "Nhung",
        "Oanh",
        "Phương",
        "Quỳnh",
        "Tâm",
        "Thảo",
        "Thư",
        "Thủy",
        "Trang",
        "Trâm",
        "Tuyết",
        "Uyên",
        "Vân",
        "Vy",
        "Xuân",
        "Yến",
    ),  # fmt: skip
}
# Household sizes 1..7 (percent); mean ~3.5 persons, close to the 2019 census.
_HOUSEHOLD_SIZES: tuple[tuple[int, float], ...] = (
    (1, 10),
    (2, 19),
    (3, 22),
    (4, 26),
    (5, 13),
    (6, 6),
    (7, 4),
)


class _Weighted:
    """Fast weighted choice over a fixed table."""

    def __init__(self, table: Sequence[tuple[object, float]]) -> None:
        self.values = [v for v, _ in table]
        self.cum = list(accumulate(w for _, w in table))

    def pick(self, rng: random.Random) -> object:
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


_FAMILY_PICK = _Weighted(_FAMILY)
_MIDDLE_PICK = {sex: _Weighted(table) for sex, table in _MIDDLE.items()}
_SIZE_PICK = _Weighted(_HOUSEHOLD_SIZES)


def _family_name(rng: random.Random, lat: float) -> str:
    name = str(_FAMILY_PICK.pick(rng))
    if "|" in name:
        north, south = name.split("|")
        # Southern and south-central spelling dominates below the Hải Vân pass (~16.2°N).
        share_south = 0.8 if lat < 16.2 else 0.1
        name = south if rng.random() < share_south else north
    return name


def _full_name(rng: random.Random, family: str, sex: Sex) -> str:
    middle = str(_MIDDLE_PICK[sex].pick(rng))
    given = rng.choice(_GIVEN[sex])
    return f"{family} {middle} {given}"


def _birth_date(rng: random.Random, year: int) -> date:
    start = date(year, 1, 1)
    days = (date(year + 1, 1, 1) - start).days
    return start + timedelta(days=rng.randrange(days))


class SyntheticRegistry(PopulationDirectory):
    """A deterministic synthetic registry at 1:SCALE of every commune's population scale."""

    name = "synthetic"

    def __init__(
        self, geo: Geography | None = None, *, seed: int = DEFAULT_SEED, scale: int = SCALE
    ) -> None:
        super().__init__(geo)
        self.seed = seed
        self.scale = scale
        self._medians: dict[str, int] = {}
        # Per-instance cache: bounded, since a national ID scan would touch every commune.
        self.residents = lru_cache(maxsize=512)(self._generate)  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"SyntheticRegistry(seed={self.seed}, scale=1:{self.scale})"

    # -- sizes ---------------------------------------------------------------------

    def _median(self, province_code: str) -> int:
        if province_code not in self._medians:
            known = [c.population for c in self.geo.communes_of(province_code) if c.population] or [
                10_000
            ]
            self._medians[province_code] = int(statistics.median(known))
        return self._medians[province_code]

    def commune_size(self, commune_code: str) -> int:
        """Number of synthetic residents of a commune."""
        c = self.geo.commune(commune_code)
        population = c.population or self._median(c.province_code)
        return max(1, round(population / self.scale))

    def size(self, province_code: str | None = None) -> int:
        """Number of synthetic residents of a province, or of the whole country."""
        communes = (
            self.geo.communes_of(province_code) if province_code else self.geo.communes.values()
        )
        return sum(self.commune_size(c.code) for c in communes)

    # -- generation ------------------------------------------------------------------

    def residents(self, commune_code: str) -> tuple[Person, ...]:  # replaced per instance
        """Every synthetic resident of a commune, household by household."""
        return self._generate(commune_code)

    def _generate(self, commune_code: str) -> tuple[Person, ...]:
        commune = self.geo.commune(commune_code)
        # A string seed is hashed with SHA-512 by random.Random, so this is stable across runs.
        rng = random.Random(f"{self.seed}:{commune.code}")
        total = self.commune_size(commune.code)
        offset = rng.randrange(10_000)
        people: list[Person] = []
        household_no = 0
        while len(people) < total:
            household_no += 1
            size = min(int(_SIZE_PICK.pick(rng)), total - len(people))  # type: ignore[call-overload]
            members = self._household(rng, commune, size)
            household_id = f"{commune.code}-{household_no:05d}"
            for full_name, sex, birth in members:
                serial = (len(people) * _SERIAL_STRIDE + offset) % 10_000
                people.append(
                    Person(
                        national_id=f"{SYNTHETIC_ID_PREFIX}{commune.code}{serial:04d}",
                        full_name=full_name,
                        sex=sex,
                        birth_date=birth,
                        commune_code=commune.code,
                        province_code=commune.province_code,
                        household_id=household_id,
                        household_size=size,
                    )
                )
        return tuple(people)

    def _household(
        self, rng: random.Random, commune: Commune, size: int
    ) -> list[tuple[str, Sex, date]]:
        """Members of one household: a head, usually a spouse, children, sometimes a parent."""
        head_sex: Sex = "M" if rng.random() < 0.72 else "F"
        head_year = rng.randint(1945, 2002) if size > 1 else rng.randint(1940, 2006)
        head_family = _family_name(rng, commune.lat)
        members: list[tuple[str, Sex, date]] = [
            (_full_name(rng, head_family, head_sex), head_sex, _birth_date(rng, head_year))
        ]
        # Children take the father's family name; a wife keeps her own.
        father_family = head_family
        slots = size - 1
        if slots and rng.random() < 0.85:
            spouse_sex: Sex = "F" if head_sex == "M" else "M"
            spouse_family = _family_name(rng, commune.lat)
            if spouse_sex == "M":
                father_family = spouse_family
            spouse_year = min(REFERENCE_YEAR - 18, head_year + rng.randint(-4, 6))
            members.append(
                (
                    _full_name(rng, spouse_family, spouse_sex),
                    spouse_sex,
                    _birth_date(rng, spouse_year),
                )
            )
            slots -= 1
        if slots >= 3 and head_year >= 1965 and rng.random() < 0.6:
            # A three-generation household: one of the head's parents lives with them.
            parent_sex: Sex = "M" if rng.random() < 0.4 else "F"
            parent_family = head_family if parent_sex == "M" else _family_name(rng, commune.lat)
            parent_year = head_year - rng.randint(20, 35)
            members.append(
                (
                    _full_name(rng, parent_family, parent_sex),
                    parent_sex,
                    _birth_date(rng, parent_year),
                )
            )
            slots -= 1
        first_child = head_year + rng.randint(20, 32)
        for i in range(slots):
            child_sex: Sex = "M" if rng.random() < 0.51 else "F"
            year = min(REFERENCE_YEAR, first_child + i * rng.randint(1, 4))
            members.append(
                (_full_name(rng, father_family, child_sex), child_sex, _birth_date(rng, year))
            )
        return members

    # -- lookups ---------------------------------------------------------------------

    def find_by_id(self, national_id: str) -> list[Person]:
        """The synthetic person with this ID; IDs not of the 000 series are never found."""
        if not NATIONAL_ID_RE.match(national_id) or not national_id.startswith(SYNTHETIC_ID_PREFIX):
            return []
        commune_code = national_id[3:8]
        if not self.geo.is_commune(commune_code):
            return []
        return [p for p in self.residents(commune_code) if p.national_id == national_id]

    def find_by_name(
        self,
        commune_code: str,
        full_name: str,
        birth_year: int,
        *,
        limit: int = DEFAULT_MAX_RESULTS,
    ) -> list[Person]:
        """Residents of a commune with this name (marks optional) and birth year."""
        found = [
            p
            for p in self.residents(commune_code)
            if p.birth_date.year == birth_year and name_matches(full_name, p.full_name)
        ]
        return found[:limit]
