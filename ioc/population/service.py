"""Person lookups with purpose, least privilege and a trail.

Every call of LookupService.lookup writes exactly one audit row:
- ``lookup``         the directory was asked; details hold purpose, case, query, result count;
- ``lookup_refused`` refused before the directory was asked; details hold the reason and the
                     raw (clipped) input, so probing is visible to auditors;
- ``lookup_failed``  the directory was asked but could not answer.
The audit row is written before any result is returned: if it cannot be written, the caller
gets an error and no data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc.auth import AuthError, can, province_scope
from ioc.population.directory import DEFAULT_MAX_RESULTS, DirectoryError, PopulationDirectory
from ioc.population.masking import person_view
from ioc.population.models import (
    CASE_NUMBER_RE,
    MAX_CASE_NUMBER,
    MAX_NAME,
    NATIONAL_ID_RE,
    PURPOSES,
    IdQuery,
    LookupOutcome,
    NameQuery,
    Query,
)
from ioc.store import Store, User

logger = logging.getLogger(__name__)

LOOKUP_PERMISSION = "population.lookup"
UNMASKED_PERMISSION = "population.unmasked"
# Raw input kept in refused rows is clipped: enough to see what was tried, not a dump channel.
MAX_AUDIT_TEXT = 200
MIN_BIRTH_YEAR = 1900

REFUSAL_MESSAGES: dict[str, str] = {
    "not_authenticated": "Cần đăng nhập / Login required",
    "forbidden": "Vai trò của bạn không được tra cứu dân cư / Your role may not look up residents",
    "purpose": "Chọn mục đích tra cứu / Choose a purpose",
    "case_number": (
        "Số hồ sơ vụ việc: 1-64 ký tự gồm chữ, số, '-' hoặc '/' / "
        "Case number: 1-64 letters, digits, '-' or '/'"
    ),
    "query": (
        "Nhập số định danh 12 chữ số, hoặc họ tên + năm sinh + xã/phường/đặc khu / "
        "Enter a 12-digit ID, or full name + birth year + commune"
    ),
    "scope": "Ngoài phạm vi tỉnh của tài khoản / Outside your account's province",
    "rate_limited": "Vượt giới hạn tra cứu, thử lại sau / Lookup limit reached, try again later",
}


class LookupRefused(Exception):
    """A lookup was refused; reason is a code of REFUSAL_MESSAGES, the message is safe to show."""

    def __init__(self, reason: str, audit_id: int | None = None, message: str | None = None):
        super().__init__(message or REFUSAL_MESSAGES[reason])
        self.reason = reason
        self.audit_id = audit_id


class LookupFailed(Exception):
    """The directory could not answer; the message is safe to show."""

    def __init__(self, message: str, audit_id: int) -> None:
        super().__init__(message)
        self.audit_id = audit_id


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most max_lookups lookups per user in any window."""

    max_lookups: int = 10
    window: timedelta = timedelta(minutes=10)


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text[:MAX_AUDIT_TEXT]


def valid_case_number(text: str) -> bool:
    """True for 1-64 letters or digits joined by single '-' or '/' (e.g. "123/QĐ-CA")."""
    return 0 < len(text) <= MAX_CASE_NUMBER and CASE_NUMBER_RE.match(text) is not None


def parse_query(
    *,
    national_id: Any = None,
    commune: Any = None,
    full_name: Any = None,
    birth_year: Any = None,
    is_commune: Callable[[str], bool],
) -> Query | None:
    """A validated query from raw form input, or None if the input makes no valid query."""
    if isinstance(national_id, str) and national_id.strip():
        digits = national_id.replace(" ", "").strip()
        return IdQuery(digits) if NATIONAL_ID_RE.match(digits) else None
    if not (isinstance(full_name, str) and isinstance(commune, str)):
        return None
    name = " ".join(full_name.split())
    # Names are letters and spaces; anything else cannot be a name in the registry.
    if not (2 <= len(name) <= MAX_NAME) or not all(ch.isalpha() or ch == " " for ch in name):
        return None
    if " " not in name:  # a family name and a given name at least
        return None
    if isinstance(birth_year, bool):
        return None
    try:
        year = int(str(birth_year).strip()) if birth_year is not None else None
    except ValueError:
        return None
    if year is None or not MIN_BIRTH_YEAR <= year <= datetime.now(UTC).year:
        return None
    code = commune.strip()
    if not (code.isascii() and code.isdigit() and len(code) == 5 and is_commune(code)):
        return None
    return NameQuery(commune_code=code, full_name=name, birth_year=year)


class LookupService:
    """The only way the product looks people up: checks, masking, rate limit and audit."""

    def __init__(
        self,
        store: Store,
        directory: PopulationDirectory,
        *,
        rate_limit: RateLimit = RateLimit(),
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> None:
        self.store = store
        self.directory = directory
        self.rate_limit = rate_limit
        self.max_results = max_results

    def lookup(
        self,
        user: User | None,
        *,
        purpose: Any,
        case_number: Any,
        national_id: Any = None,
        commune: Any = None,
        full_name: Any = None,
        birth_year: Any = None,
        source: str = "",
    ) -> LookupOutcome:
        """Check, query, mask and audit one lookup; raises LookupRefused or LookupFailed."""
        raw = {
            "purpose": _clip(purpose),
            "case": _clip(case_number),
            "national_id": _clip(national_id),
            "commune": _clip(commune),
            "full_name": _clip(full_name),
            "birth_year": _clip(birth_year),
        }
        actor = user.username if user is not None else "anonymous"

        def refuse(reason: str, **extra: Any) -> LookupRefused:
            details = {"reason": reason, "from": source, **raw, **extra}
            audit_id = self.store.append_audit(
                actor,
                "lookup_refused",
                details=details,
                province=user.province if user is not None else None,
            )
            return LookupRefused(reason, audit_id)

        if user is None:
            raise refuse("not_authenticated")
        if not can(user, LOOKUP_PERMISSION):
            raise refuse("forbidden", role=user.role)
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            raise refuse("purpose")
        case = case_number.strip() if isinstance(case_number, str) else ""
        if not valid_case_number(case):
            raise refuse("case_number")
        query = parse_query(
            national_id=national_id,
            commune=commune,
            full_name=full_name,
            birth_year=birth_year,
            is_commune=self.directory.geo.is_commune,
        )
        if query is None:
            raise refuse("query")
        try:
            requested = (
                self.directory.geo.commune(query.commune_code).province_code
                if isinstance(query, NameQuery)
                else None
            )
            scope = province_scope(user, requested)
        except AuthError:
            raise refuse("scope", user_province=user.province) from None
        # Check and count in one locked transaction: parallel requests cannot all pass.
        if not self.store.take_lookup_slot(
            user.username, limit=self.rate_limit.max_lookups, window=self.rate_limit.window
        ):
            raise refuse(
                "rate_limited",
                limit=self.rate_limit.max_lookups,
                window_s=int(self.rate_limit.window.total_seconds()),
            )

        base: dict[str, Any] = {
            "purpose": purpose,
            "case": case,
            "query": query.describe(),
            "directory": self.directory.name,
            "scope": scope,
            "from": source,
        }
        target = query.national_id if isinstance(query, IdQuery) else query.commune_code
        request_id = uuid.uuid4().hex
        base["request_id"] = request_id
        context = {
            "purpose": purpose,
            "case_number": case,
            "requested_by": user.username,
            "request_id": request_id,
        }
        try:
            # One more than shown, so the page can say the list was cut.
            found = self.directory.find(query, limit=self.max_results + 1, context=context)
        except DirectoryError as exc:
            audit_id = self.store.append_audit(
                user.username,
                "lookup_failed",
                target,
                {**base, "error": _clip(str(exc))},
                province=scope,
            )
            raise LookupFailed(str(exc), audit_id) from exc
        in_scope = [p for p in found if scope is None or p.province_code == scope]
        out_of_scope = len(found) - len(in_scope)
        truncated = len(in_scope) > self.max_results
        in_scope = in_scope[: self.max_results]
        unmasked = can(user, UNMASKED_PERMISSION)
        views = tuple(person_view(p, self.directory.geo, unmasked=unmasked) for p in in_scope)
        audit_id = self.store.append_audit(
            user.username,
            "lookup",
            target,
            {
                **base,
                "results": len(views),
                # Hits outside the user's province are dropped, and counted for auditors only.
                "out_of_scope": out_of_scope,
                "masked": not unmasked,
                "truncated": truncated,
            },
            province=scope,
        )
        return LookupOutcome(results=views, audit_id=audit_id, truncated=truncated)

    def _recent_lookups(self, username: str) -> int:
        return self.store.lookup_slots_used(username, window=self.rate_limit.window)

    def remaining(self, user: User) -> int:
        """Lookups the user may still make in the current window."""
        return max(0, self.rate_limit.max_lookups - self._recent_lookups(user.username))
