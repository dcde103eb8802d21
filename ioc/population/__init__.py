"""Population directory: aggregates for maps and KPIs, and audited, masked person lookups."""

from __future__ import annotations

from typing import Any

from ioc.population.directory import DirectoryError, PopulationDirectory
from ioc.population.masking import mask_id, person_view
from ioc.population.models import (
    PURPOSES,
    AreaAggregate,
    IdQuery,
    LookupOutcome,
    NameQuery,
    Person,
    PersonView,
)
from ioc.population.service import (
    REFUSAL_MESSAGES,
    LookupFailed,
    LookupRefused,
    LookupService,
    RateLimit,
)
from ioc.population.synthetic import SyntheticRegistry

__all__ = [
    "PURPOSES",
    "REFUSAL_MESSAGES",
    "AreaAggregate",
    "DirectoryError",
    "IdQuery",
    "LookupFailed",
    "LookupOutcome",
    "LookupRefused",
    "LookupService",
    "NameQuery",
    "Person",
    "PersonView",
    "PopulationDirectory",
    "RateLimit",
    "SyntheticRegistry",
    "mask_id",
    "open_directory",
    "person_view",
]


def open_directory(settings: Any = None) -> PopulationDirectory:
    """The remote service when settings name one (population_url), else the synthetic registry."""
    url = getattr(settings, "population_url", "") if settings is not None else ""
    if not url:
        return SyntheticRegistry()
    from ioc.population.remote import RemoteDirectory

    token = getattr(settings, "population_token", "")
    if hasattr(token, "get_secret_value"):
        token = token.get_secret_value()
    return RemoteDirectory(
        url,
        token=token or None,
        timeout_s=getattr(settings, "population_timeout_s", 5.0),
        retries=getattr(settings, "population_retries", 2),
    )
