"""Adapter skeleton for a remote population service over HTTP (shape: docs/population-api.md).

Standard library only (urllib), so the adapter adds no dependency. Each attempt has a
timeout; connection errors, timeouts, 429 and 5xx replies are retried with exponential
backoff; other errors and malformed replies are not. Redirects are refused so the bearer
token is never sent to another host.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ioc.geo import Geography
from ioc.population.directory import DEFAULT_MAX_RESULTS, DirectoryError, PopulationDirectory
from ioc.population.models import IdQuery, NameQuery, Person, Query

logger = logging.getLogger(__name__)

API_PREFIX = "/v1"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REPLY_BYTES = 1 << 20


class RemotePerson(BaseModel):
    """One person in a search reply."""

    # Unknown fields are ignored so the service can add fields without breaking us.
    model_config = ConfigDict(extra="ignore")

    national_id: str = Field(pattern=r"^[0-9]{12}$", description="12-digit personal ID.")
    full_name: str = Field(min_length=1, max_length=200, description="Full name, NFC.")
    sex: Literal["M", "F"] = Field(description="M or F.")
    birth_date: date = Field(description="Date of birth, ISO 8601.")
    commune_code: str = Field(pattern=r"^[0-9]{5}$", description="Commune of residence.")
    household_size: int = Field(ge=1, le=100, description="Members of the household.")


class SearchReply(BaseModel):
    """A search reply."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(description="Echo of the request's request_id.")
    results: list[RemotePerson] = Field(description="People found, at most the limit asked.")
    truncated: bool = Field(False, description="True if more people matched than the limit.")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class RemoteDirectory(PopulationDirectory):
    """Person lookups against a remote service; aggregates still come from the geography."""

    name = "remote"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        geo: Geography | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(geo)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"population service URL must be http(s)://host[:port]/..., got {base_url!r}"
            )
        if retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0, retries and backoff_s >= 0")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"RemoteDirectory({self.base_url!r}, timeout_s={self.timeout_s}, retries={self.retries})"

    # -- lookups ---------------------------------------------------------------------

    def find_by_id(self, national_id: str) -> list[Person]:
        """The person with this ID, asked of the remote service."""
        return self.find(IdQuery(national_id))

    def find_by_name(
        self,
        commune_code: str,
        full_name: str,
        birth_year: int,
        *,
        limit: int = DEFAULT_MAX_RESULTS,
    ) -> list[Person]:
        """Residents of a commune with this name and birth year, asked of the remote service."""
        return self.find(NameQuery(commune_code, full_name, birth_year), limit=limit)

    def find(
        self,
        query: Query,
        *,
        limit: int = DEFAULT_MAX_RESULTS,
        context: Mapping[str, str] | None = None,
    ) -> list[Person]:
        """POST /v1/persons/search with the query and its purpose, case and requester."""
        if isinstance(query, IdQuery):
            body_query: dict[str, Any] = {"national_id": query.national_id}
        else:
            body_query = {
                "commune_code": query.commune_code,
                "full_name": query.full_name,
                "birth_year": query.birth_year,
            }
        ctx = dict(context or {})
        request_id = ctx.get("request_id") or uuid.uuid4().hex
        body = {
            "request_id": request_id,
            "query": body_query,
            "limit": limit,
            "purpose": ctx.get("purpose", ""),
            "case_number": ctx.get("case_number", ""),
            "requested_by": ctx.get("requested_by", ""),
        }
        raw = self._call("POST", "/persons/search", body, request_id)
        try:
            reply = SearchReply.model_validate(raw)
        except ValidationError as exc:
            raise DirectoryError(
                f"population service sent a malformed reply: {exc.errors()[0]['msg']}"
            ) from None
        if reply.request_id != request_id:
            raise DirectoryError("population service answered a different request")
        return [self._person(r) for r in reply.results[:limit]]

    def health(self) -> dict[str, Any]:
        """GET /v1/health."""
        return self._call("GET", "/health", None, uuid.uuid4().hex)

    def _person(self, r: RemotePerson) -> Person:
        commune = self.geo.communes.get(r.commune_code)
        if commune is None:
            raise DirectoryError(f"population service returned unknown commune {r.commune_code}")
        return Person(
            national_id=r.national_id,
            full_name=r.full_name,
            sex=r.sex,
            birth_date=r.birth_date,
            commune_code=r.commune_code,
            province_code=commune.province_code,
            household_id="",
            household_size=r.household_size,
        )

    # -- transport -------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any, request_id: str) -> Any:
        url = self.base_url + API_PREFIX + path
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Accept": "application/json", "X-Request-ID": request_id}
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        last_error = "no attempt made"
        last_retry_after: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self._delay(attempt, last_retry_after))
            last_retry_after = None
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=self.timeout_s) as resp:
                    payload = resp.read(MAX_REPLY_BYTES + 1)
            except urllib.error.HTTPError as exc:
                message = _error_message(exc)
                if exc.code not in RETRY_STATUSES:
                    raise DirectoryError(
                        f"population service refused ({exc.code}): {message}"
                    ) from None
                last_error = f"HTTP {exc.code}: {message}"
                last_retry_after = _retry_after(exc)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                last_error = f"unreachable: {reason}"
            else:
                if len(payload) > MAX_REPLY_BYTES:
                    raise DirectoryError("population service reply is too large")
                try:
                    return json.loads(payload)
                except ValueError:
                    raise DirectoryError(
                        "population service sent a reply that is not JSON"
                    ) from None
            logger.warning(
                "population service %s %s attempt %d/%d failed: %s",
                method,
                path,
                attempt + 1,
                self.retries + 1,
                last_error,
            )
        raise DirectoryError(
            f"population service failed after {self.retries + 1} attempts: {last_error}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff; a server's Retry-After wins when longer, both capped."""
        delay = self.backoff_s * 2 ** (attempt - 1)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, MAX_BACKOFF_S)


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read(64 * 1024) or b"{}")
        return str(doc["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError, OSError):
        return exc.reason if isinstance(exc.reason, str) else "error"


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
