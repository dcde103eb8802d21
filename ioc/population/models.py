"""Records of the population directory: area aggregates, persons, queries and what a user sees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Sex = Literal["M", "F"]

# Why a lookup may be made; the code is stored in the audit log, the labels are shown.
PURPOSES: dict[str, dict[str, str]] = {
    "incident_identity": {
        "vi": "Xác minh nhân thân trong vụ việc",
        "en": "Identity verification for an incident",
    },
    "search_rescue": {"vi": "Tìm kiếm cứu nạn", "en": "Search and rescue"},
    "emergency_medical": {"vi": "Hỗ trợ y tế khẩn cấp", "en": "Emergency medical assistance"},
    "authorised_investigation": {
        "vi": "Điều tra theo yêu cầu cơ quan có thẩm quyền",
        "en": "Investigation on an authorised request",
    },
}

NATIONAL_ID_RE = re.compile(r"^[0-9]{12}$")
# Letters (any script, so "QĐ" works), digits, "-" and "/", e.g. "123/QĐ-CA" or "SC-2025-0042".
CASE_NUMBER_RE = re.compile(r"^[^\W_]+(?:[/-][^\W_]+)*$")
MAX_CASE_NUMBER = 64
MAX_NAME = 80
# The synthetic registry's IDs all start with this, so none can match a real citizen.
SYNTHETIC_ID_PREFIX = "000"


@dataclass(frozen=True, slots=True)
class AreaAggregate:
    """Population scale, area and density of a province or commune."""

    code: str
    name: str
    level: Literal["province", "commune"]
    province_code: str
    population: int | None
    area_km2: float | None

    @property
    def density(self) -> float | None:
        """Residents per km², or None when either figure is unknown."""
        if self.population is None or not self.area_km2:
            return None
        return self.population / self.area_km2


@dataclass(frozen=True, slots=True)
class Person:
    """A registry record, unmasked. Never leaves ioc.population for a browser; see PersonView."""

    national_id: str
    full_name: str
    sex: Sex
    birth_date: date
    commune_code: str
    province_code: str
    household_id: str
    household_size: int


@dataclass(frozen=True, slots=True)
class IdQuery:
    """Look up one person by a 12-digit national ID."""

    national_id: str

    def describe(self) -> dict[str, str]:
        """The query as written to the audit log."""
        return {"by": "id", "national_id": self.national_id}


@dataclass(frozen=True, slots=True)
class NameQuery:
    """Look up people by full name and birth year within one commune."""

    commune_code: str
    full_name: str
    birth_year: int

    def describe(self) -> dict[str, str | int]:
        """The query as written to the audit log."""
        return {
            "by": "name",
            "commune": self.commune_code,
            "full_name": self.full_name,
            "birth_year": self.birth_year,
        }


Query = IdQuery | NameQuery


@dataclass(frozen=True, slots=True)
class PersonView:
    """What a user is allowed to see of a person: masked unless the role may see more."""

    national_id: str
    full_name: str
    sex: Sex
    birth: str
    commune_code: str
    commune_name: str
    province_code: str
    household_size: int
    masked: bool


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    """The answer to one lookup: views of the people found, and the audit row that records it."""

    results: tuple[PersonView, ...]
    audit_id: int
    truncated: bool = False
