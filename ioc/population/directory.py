"""The PopulationDirectory interface: area aggregates for maps and KPIs, and person lookups."""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping

from ioc.geo import Commune, Geography, Province, geography
from ioc.geo.names import fold_key, name_key
from ioc.population.models import AreaAggregate, IdQuery, NameQuery, Person, Query

DEFAULT_MAX_RESULTS = 20


class DirectoryError(Exception):
    """The directory could not answer (unreachable, refused, malformed reply); safe to show."""


def person_name_key(name: str) -> str:
    """Comparison key of a person's full name: case, spacing and tone placement do not matter."""
    return name_key(name, strip_prefix=False)


def has_diacritics(text: str) -> bool:
    """True if text carries any Vietnamese mark (tone, vowel quality or đ)."""
    decomposed = unicodedata.normalize("NFD", text)
    return any(unicodedata.combining(ch) for ch in decomposed) or "đ" in text.casefold()


def name_matches(query: str, full_name: str) -> bool:
    """True if a typed name names this person; unaccented input matches accented names."""
    if has_diacritics(query):
        return person_name_key(query) == person_name_key(full_name)
    # "Nguyen Van Hung" is how many keyboards type it; match it without marks.
    return fold_key(query, strip_prefix=False) == fold_key(full_name, strip_prefix=False)


class PopulationDirectory(ABC):
    """Where population figures and person records come from (synthetic sample or remote service)."""

    #: Short name shown in the UI and written to the audit log.
    name: str = ""

    def __init__(self, geo: Geography | None = None) -> None:
        self._geo = geo

    @property
    def geo(self) -> Geography:
        """The geography the aggregates and commune names come from."""
        if self._geo is None:
            self._geo = geography()
        return self._geo

    # -- aggregates --------------------------------------------------------------

    def province_aggregates(self) -> list[AreaAggregate]:
        """Population scale, area and density of every province, by code."""
        return [self.province_aggregate(code) for code in sorted(self.geo.provinces)]

    def province_aggregate(self, code: str) -> AreaAggregate:
        """Population scale, area and density of one province (figures of the province file)."""
        p = self.geo.province(code)
        return _aggregate(p, "province", p.code)

    def commune_aggregates(self, province_code: str | None = None) -> list[AreaAggregate]:
        """Population scale, area and density of the communes of one province, or of all."""
        if province_code is None:
            codes = sorted(self.geo.communes)
        else:
            codes = [c.code for c in self.geo.communes_of(province_code)]
        return [self.commune_aggregate(code) for code in codes]

    def commune_aggregate(self, code: str) -> AreaAggregate:
        """Population scale, area and density of one commune (None where the source has none)."""
        c = self.geo.commune(code)
        return _aggregate(c, "commune", c.province_code)

    # -- person lookups ------------------------------------------------------------

    @abstractmethod
    def find_by_id(self, national_id: str) -> list[Person]:
        """The person with this 12-digit ID (an empty list if none)."""

    @abstractmethod
    def find_by_name(
        self,
        commune_code: str,
        full_name: str,
        birth_year: int,
        *,
        limit: int = DEFAULT_MAX_RESULTS,
    ) -> list[Person]:
        """Residents of a commune with this full name and birth year, at most limit."""

    def find(
        self,
        query: Query,
        *,
        limit: int = DEFAULT_MAX_RESULTS,
        context: Mapping[str, str] | None = None,
    ) -> list[Person]:
        """Run a validated query; context (purpose, case, requester) is for services that log it."""
        if isinstance(query, IdQuery):
            return self.find_by_id(query.national_id)[:limit]
        if isinstance(query, NameQuery):
            return self.find_by_name(
                query.commune_code, query.full_name, query.birth_year, limit=limit
            )
        raise TypeError(f"unknown query {query!r}")


def _aggregate(unit: Province | Commune, level: str, province_code: str) -> AreaAggregate:
    """The population scale, area and density of one province or commune of the geography."""
    return AreaAggregate(
        code=unit.code,
        name=unit.name,
        level=level,
        province_code=province_code,
        population=unit.population,
        area_km2=unit.area_km2,
    )
