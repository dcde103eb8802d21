"""Roles, password hashing, province scope, and the alarm rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ioc.alarms import RULES, triggers_for
from ioc.auth import PERMISSIONS, AuthError, authenticate, can, hash_password, province_scope
from ioc.events import KIND_ATTRS, Event
from ioc.store import open_store

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_store(sqlite_url):
    s = open_store(sqlite_url, migrate=True)
    yield s
    s.close()


def test_login_checks_hash_and_audits(sqlite_store):
    sqlite_store.add_user("lan", hash_password("một mật khẩu dài"), "operator", "68")
    user = authenticate(sqlite_store, "lan", "một mật khẩu dài", source="127.0.0.1")
    assert user.username == "lan"
    with pytest.raises(AuthError):
        authenticate(sqlite_store, "lan", "wrong password!")
    with pytest.raises(AuthError):
        authenticate(sqlite_store, "nobody", "một mật khẩu dài")
    log = [(e.actor, e.action) for e in reversed(sqlite_store.audit_entries())]
    assert log == [("lan", "login"), ("lan", "login_failed"), ("nobody", "login_failed")]


def test_roles_and_scope():
    from ioc.store.models import User

    op = User("lan", "h", "operator", "68", False, T0, T0)
    leader = User("minh", "h", "leader", None, False, T0, T0)
    assert can(op, "population.lookup") and not can(leader, "population.lookup")
    assert can(leader, "kpi.national") and not can(op, "kpi.view")
    assert not can(None, "live.view")
    assert not can(User("x", "h", "admin", None, True, T0, T0), "live.view")  # disabled
    assert province_scope(op, None) == "68" and province_scope(op, "68") == "68"
    with pytest.raises(AuthError):
        province_scope(op, "46")
    assert province_scope(leader, "46") == "46" and province_scope(leader, None) is None
    assert all(p <= PERMISSIONS["admin"] for p in PERMISSIONS.values())


def _ev(i, kind, attrs, severity=3, source="dev-1"):
    return Event.model_validate(
        {
            "id": f"a-{i}",
            "ts": T0.isoformat(),
            "source": source,
            "kind": kind,
            "severity": severity,
            "province": "68",
            "attrs": attrs,
        }
    )


def test_alarm_rules_match_known_kinds_only():
    for rule in RULES:
        assert set(rule.kinds) <= set(KIND_ATTRS), rule.name


def test_alarm_rules_pick_and_key_events():
    events = [
        _ev(1, "transport.panic", {"vehicle": "bus-1"}, 4, "bus-1"),
        _ev(2, "security.intrusion", {"camera": "c"}, 2),  # below the security threshold
        _ev(3, "security.intrusion", {"camera": "c"}, 3),
        _ev(4, "camera.offline", {"state": "opened", "condition": "c1"}, 2, "cam-1"),
        _ev(5, "camera.offline", {"state": "closed", "condition": "c1"}, 1, "cam-1"),
        _ev(6, "security.plate_read", {"plate": "49A-123.45"}, 1),
        _ev(7, "security.plate_read", {"plate": "49A-999.99", "watchlist": True}, 2),
        _ev(8, "network.cell_down", {"cell": "LDG-001", "operator": "Viettel"}, 3),
    ]
    got = {(t.rule, t.dedup_key) for t in triggers_for(events)}
    assert got == {
        ("panic", "panic:68:bus-1"),
        ("security", "security:68:dev-1:security.intrusion"),
        ("camera_health", "camera_health:68:cam-1:camera.offline"),
        ("watchlist", "watchlist:68:dev-1:49A-999.99"),
        ("cell_down", "cell_down:68:Viettel:LDG-001"),
    }
