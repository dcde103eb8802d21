"""What the audit log records besides lookups: logins and alarm actions, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ioc.auth import AuthError, authenticate, hash_password
from ioc.store import AlarmTrigger


def open_alarm(store, province="68"):
    trigger = AlarmTrigger(
        rule="intrusion",
        dedup_key=f"intrusion:cam-1:{province}",
        source="cam-1",
        kind="security.intrusion",
        province=province,
        ward="25084",
        severity=3,
        title="Xâm nhập",
        event_id="e-1",
        ts=datetime.now(UTC),
    )
    alarm, opened = store.open_or_merge_alarm(trigger)
    assert opened
    return alarm


def test_every_alarm_action_is_audited_in_the_same_transaction(store):
    alarm = open_alarm(store)
    assert store.audit_entries() == []  # opening is the system's, not a person's action
    store.alarm_action(alarm.id, actor="op68", action="acknowledge")
    store.alarm_action(alarm.id, actor="op68", action="assign", assigned_to="Công an xã")
    store.alarm_action(alarm.id, actor="op68", action="comment", note="<b>đã gọi</b>")
    store.alarm_action(alarm.id, actor="admin", action="resolve", note="Đã xử lý")
    rows = sorted(store.audit_entries(), key=lambda e: e.id)
    assert [(e.actor, e.action, e.target) for e in rows] == [
        ("op68", "alarm_acknowledge", f"alarm:{alarm.id}"),
        ("op68", "alarm_assign", f"alarm:{alarm.id}"),
        ("op68", "alarm_comment", f"alarm:{alarm.id}"),
        ("admin", "alarm_resolve", f"alarm:{alarm.id}"),
    ]
    assert rows[1].details["assigned_to"] == "Công an xã"
    assert rows[2].details["note"] == "<b>đã gọi</b>"
    assert rows[3].details == {
        "province": "68",
        "state": "resolved",
        "note": "Đã xử lý",
        "assigned_to": None,
    }
    # Refused actions change nothing and log nothing here (the page says why).
    with pytest.raises(ValueError):
        store.alarm_action(alarm.id, actor="op68", action="acknowledge")
    with pytest.raises(ValueError):
        store.alarm_action(alarm.id, actor="op68", action="resolve", note="again")
    assert len(store.audit_entries()) == 4
    assert len(store.alarm_actions(alarm.id)) == 5  # opened + four


def test_logins_are_audited(store):
    store.add_user("op68", hash_password("correct horse battery"), "operator", "68")
    authenticate(store, "op68", "correct horse battery", source="10.0.0.7")
    with pytest.raises(AuthError):
        authenticate(store, "op68", "wrong password", source="10.0.0.8")
    with pytest.raises(AuthError):
        authenticate(store, "nobody' OR 1=1 --", "x", source="10.0.0.9")
    rows = sorted(store.audit_entries(), key=lambda e: e.id)
    assert [(e.actor, e.action, e.details["from"]) for e in rows] == [
        ("op68", "login", "10.0.0.7"),
        ("op68", "login_failed", "10.0.0.8"),
        ("nobody' OR 1=1 --", "login_failed", "10.0.0.9"),
    ]


def test_audit_filters(store):
    for actor, action in (("a", "lookup"), ("b", "lookup"), ("a", "login")):
        store.append_audit(actor, action)
    assert [e.action for e in store.audit_entries(actor="a")] == ["login", "lookup"]
    assert [e.actor for e in store.audit_entries(action="lookup")] == ["b", "a"]
    assert store.audit_entries(actor="a' OR '1'='1") == []
    future = datetime(2100, 1, 1, tzinfo=UTC)
    assert store.audit_entries(since=future) == []
    assert len(store.audit_entries(limit=2)) == 2
