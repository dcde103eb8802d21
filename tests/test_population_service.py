"""LookupService on both store backends: roles, purpose, case, scope, rate limit, masking, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ioc.population import (
    DirectoryError,
    LookupFailed,
    LookupRefused,
    LookupService,
    RateLimit,
    SyntheticRegistry,
)
from ioc.population.directory import PopulationDirectory
from ioc.store import Store

LOOKUP_ACTIONS = ("lookup", "lookup_refused", "lookup_failed")
INJECTIONS = [
    "'; DROP TABLE audit_log; --",
    "1' OR '1'='1",
    '"); DELETE FROM users; --',
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s %(x)s",
]


@pytest.fixture(scope="module")
def registry() -> SyntheticRegistry:
    return SyntheticRegistry()


@pytest.fixture
def users(store: Store):
    """One account of each role; operator68 is scoped to Lâm Đồng."""
    made = {}
    for name, role, province in (
        ("operator68", "operator", "68"),
        ("operator_all", "operator", None),
        ("leader", "leader", None),
        ("engineer", "engineer", None),
        ("admin", "admin", None),
    ):
        # The service never reads the hash; a placeholder keeps the fixture fast.
        made[name] = store.add_user(name, "not-a-hash", role, province)
    return made


def lookup_rows(store: Store):
    return [e for e in store.audit_entries(limit=1000) if e.action in LOOKUP_ACTIONS]


def person_in(registry: SyntheticRegistry, province: str, i: int = 0):
    commune = registry.geo.communes_of(province)[i]
    return registry.residents(commune.code)[5 + i]


def test_operator_gets_masked_results_and_one_audit_row(store, users, registry):
    service = LookupService(store, registry)
    p = person_in(registry, "68")
    out = service.lookup(
        users["operator68"],
        purpose="search_rescue",
        case_number="SC-2025-0042",
        national_id=p.national_id,
        source="127.0.0.1",
    )
    assert len(out.results) == 1
    view = out.results[0]
    assert view.national_id == p.national_id[:3] + "******" + p.national_id[-3:]
    assert view.birth == str(p.birth_date.year)
    assert view.full_name == p.full_name and view.masked
    rows = lookup_rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert row.id == out.audit_id
    assert (row.actor, row.action, row.target) == ("operator68", "lookup", p.national_id)
    assert row.details["purpose"] == "search_rescue"
    assert row.details["case"] == "SC-2025-0042"
    assert row.details["query"] == {"by": "id", "national_id": p.national_id}
    assert row.details["results"] == 1 and row.details["masked"] is True
    assert row.details["scope"] == "68" and row.details["from"] == "127.0.0.1"


def test_admin_sees_unmasked(store, users, registry):
    p = person_in(registry, "46")
    out = LookupService(store, registry).lookup(
        users["admin"], purpose="emergency_medical", case_number="YT-1", national_id=p.national_id
    )
    assert out.results[0].national_id == p.national_id
    assert out.results[0].birth == p.birth_date.isoformat()
    assert lookup_rows(store)[0].details["masked"] is False


def test_name_lookup_in_commune(store, users, registry):
    p = person_in(registry, "68", 2)
    out = LookupService(store, registry).lookup(
        users["operator68"],
        purpose="incident_identity",
        case_number="123/QĐ-CA",
        commune=p.commune_code,
        full_name=p.full_name,
        birth_year=str(p.birth_date.year),
    )
    assert p.full_name in [v.full_name for v in out.results]
    assert all(v.commune_code == p.commune_code for v in out.results)
    (row,) = lookup_rows(store)
    assert row.target == p.commune_code
    assert row.details["query"]["full_name"] == p.full_name
    assert row.details["results"] == len(out.results)


@pytest.mark.parametrize("role", ["leader", "engineer"])
def test_roles_without_permission_are_refused(store, users, registry, role):
    p = person_in(registry, "68")
    with pytest.raises(LookupRefused) as err:
        LookupService(store, registry).lookup(
            users[role], purpose="search_rescue", case_number="SC-1", national_id=p.national_id
        )
    assert err.value.reason == "forbidden"
    (row,) = lookup_rows(store)
    assert (row.actor, row.action, row.details["reason"]) == (role, "lookup_refused", "forbidden")
    assert row.id == err.value.audit_id


def test_anonymous_is_refused(store, registry):
    with pytest.raises(LookupRefused) as err:
        LookupService(store, registry).lookup(
            None, purpose="search_rescue", case_number="SC-1", national_id="000250841067"
        )
    assert err.value.reason == "not_authenticated"
    assert [(r.actor, r.details["reason"]) for r in lookup_rows(store)] == [
        ("anonymous", "not_authenticated")
    ]


@pytest.mark.parametrize(
    ("purpose", "case", "reason"),
    [
        (None, "SC-1", "purpose"),
        ("", "SC-1", "purpose"),
        ("curiosity", "SC-1", "purpose"),
        (["search_rescue"], "SC-1", "purpose"),
        ("search_rescue", None, "case_number"),
        ("search_rescue", "   ", "case_number"),
        ("search_rescue", "x" * 65, "case_number"),
        ("search_rescue", {"a": 1}, "case_number"),
    ],
)
def test_purpose_and_case_are_required(store, users, registry, purpose, case, reason):
    p = person_in(registry, "68")
    with pytest.raises(LookupRefused) as err:
        LookupService(store, registry).lookup(
            users["operator68"], purpose=purpose, case_number=case, national_id=p.national_id
        )
    assert err.value.reason == reason
    (row,) = lookup_rows(store)
    assert row.action == "lookup_refused" and row.details["reason"] == reason


def test_scoped_operator_cannot_read_another_province(store, users, registry):
    service = LookupService(store, registry)
    hue = person_in(registry, "46")
    # By name in a Huế commune: refused outright.
    with pytest.raises(LookupRefused) as err:
        service.lookup(
            users["operator68"],
            purpose="search_rescue",
            case_number="SC-1",
            commune=hue.commune_code,
            full_name=hue.full_name,
            birth_year=hue.birth_date.year,
        )
    assert err.value.reason == "scope"
    # By the ID of a Huế resident: the directory finds them, the operator sees nothing.
    out = service.lookup(
        users["operator68"],
        purpose="search_rescue",
        case_number="SC-1",
        national_id=hue.national_id,
    )
    assert out.results == ()
    refused, done = sorted(lookup_rows(store), key=lambda r: r.id)
    assert refused.details["reason"] == "scope" and refused.details["user_province"] == "68"
    assert done.details["results"] == 0 and done.details["out_of_scope"] == 1
    # A national operator finds the same person.
    out = service.lookup(
        users["operator_all"],
        purpose="search_rescue",
        case_number="SC-1",
        national_id=hue.national_id,
    )
    assert len(out.results) == 1


def test_rate_limit_per_user(store, users, registry):
    service = LookupService(store, registry, rate_limit=RateLimit(3, timedelta(minutes=10)))
    p = person_in(registry, "68")
    args = {"purpose": "search_rescue", "case_number": "SC-1", "national_id": p.national_id}
    for _ in range(3):
        service.lookup(users["operator68"], **args)
    assert service.remaining(users["operator68"]) == 0
    with pytest.raises(LookupRefused) as err:
        service.lookup(users["operator68"], **args)
    assert err.value.reason == "rate_limited"
    assert "thử lại sau" in str(err.value) and "try again later" in str(err.value)
    # Another user has their own budget.
    assert service.lookup(users["operator_all"], **args).results
    # Invalid requests do not spend the budget (they never reach the directory).
    fresh = LookupService(store, registry, rate_limit=RateLimit(1, timedelta(minutes=10)))
    with pytest.raises(LookupRefused):
        fresh.lookup(users["admin"], purpose="search_rescue", case_number="SC-1", national_id="1")
    assert fresh.remaining(users["admin"]) == 1
    actions = [r.action for r in sorted(lookup_rows(store), key=lambda r: r.id)]
    assert actions == ["lookup"] * 3 + ["lookup_refused", "lookup", "lookup_refused"]


def test_rate_limit_window_slides(store, users, registry):
    service = LookupService(store, registry, rate_limit=RateLimit(1, timedelta(microseconds=1)))
    p = person_in(registry, "68")
    args = {"purpose": "search_rescue", "case_number": "SC-1", "national_id": p.national_id}
    service.lookup(users["operator68"], **args)
    service.lookup(users["operator68"], **args)  # the first is already outside the window
    assert len(lookup_rows(store)) == 2


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_are_stored_as_text(store, users, registry, text):
    service = LookupService(store, registry)
    for field in ("case_number", "national_id", "full_name", "commune", "birth_year", "purpose"):
        raw = {
            "purpose": "search_rescue",
            "case_number": "SC-1",
            "commune": "25084",
            "full_name": "Nguyễn Văn Huy",
            "birth_year": "1980",
        }
        raw[field] = text
        with pytest.raises(LookupRefused):
            service.lookup(users["operator68"], **raw)
    rows = sorted(lookup_rows(store), key=lambda r: r.id)
    assert len(rows) == 6
    kept = ["case", "national_id", "full_name", "commune", "birth_year", "purpose"]
    assert [r.details[k] for r, k in zip(rows, kept, strict=True)] == [text] * 6
    # The tables the strings name are intact.
    assert store.get_user("operator68") is not None
    assert store.table_counts()["audit_log"] >= 6


def test_audit_failure_means_no_data(store, users, registry):
    class BrokenAudit:
        def __getattr__(self, name):
            return getattr(store, name)

        def append_audit(self, *args, **kwargs):
            raise RuntimeError("audit store down")

    p = person_in(registry, "68")
    service = LookupService(BrokenAudit(), registry)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        service.lookup(
            users["operator68"],
            purpose="search_rescue",
            case_number="SC-1",
            national_id=p.national_id,
        )


def test_directory_failure_is_audited_once(store, users, registry):
    class Down(PopulationDirectory):
        name = "down"

        def find_by_id(self, national_id):
            raise DirectoryError("population service unreachable")

        def find_by_name(self, commune_code, full_name, birth_year, *, limit=20):
            raise DirectoryError("population service unreachable")

    with pytest.raises(LookupFailed) as err:
        LookupService(store, Down()).lookup(
            users["operator68"],
            purpose="search_rescue",
            case_number="SC-1",
            national_id="000250841067",
        )
    (row,) = lookup_rows(store)
    assert row.id == err.value.audit_id
    assert (row.action, row.details["directory"]) == ("lookup_failed", "down")
    assert "unreachable" in row.details["error"]


def test_results_are_capped_and_truncation_flagged(store, users, registry):
    class Many(PopulationDirectory):
        name = "many"

        def find_by_id(self, national_id):
            return []

        def find_by_name(self, commune_code, full_name, birth_year, *, limit=20):
            people = [p for p in registry.residents(commune_code)]
            return people[:limit]

    commune = registry.geo.communes_of("68")[0].code
    out = LookupService(store, Many(), max_results=5).lookup(
        users["operator68"],
        purpose="search_rescue",
        case_number="SC-1",
        commune=commune,
        full_name="Nguyễn Văn Huy",
        birth_year=1980,
    )
    assert len(out.results) == 5 and out.truncated
    assert lookup_rows(store)[0].details["truncated"] is True
