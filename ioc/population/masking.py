"""Masking: what of a person a role may see. Applied in ioc, so unmasked data never reaches
a browser whose user may not see it."""

from __future__ import annotations

from ioc.geo import Geography
from ioc.population.models import Person, PersonView

MASK = "*"
# First 3 and last 3 digits stay: "001******389". The prefix is a place-of-birth code and the
# tail lets an operator confirm a number read out over the phone, without revealing the rest.
KEEP_HEAD = 3
KEEP_TAIL = 3


def mask_id(national_id: str) -> str:
    """The ID with its middle replaced by stars; short or odd values are masked entirely."""
    if len(national_id) <= KEEP_HEAD + KEEP_TAIL:
        return MASK * len(national_id)
    hidden = len(national_id) - KEEP_HEAD - KEEP_TAIL
    return national_id[:KEEP_HEAD] + MASK * hidden + national_id[-KEEP_TAIL:]


def person_view(person: Person, geo: Geography, *, unmasked: bool) -> PersonView:
    """A person as a user may see them: ID masked and birth year only, unless unmasked."""
    commune = geo.communes.get(person.commune_code)
    return PersonView(
        national_id=person.national_id if unmasked else mask_id(person.national_id),
        full_name=person.full_name,
        sex=person.sex,
        birth=person.birth_date.isoformat() if unmasked else str(person.birth_date.year),
        commune_code=person.commune_code,
        commune_name=commune.name if commune else person.commune_code,
        province_code=person.province_code,
        household_size=person.household_size,
        masked=not unmasked,
    )
