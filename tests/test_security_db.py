"""The audit log cannot be altered: not through the application's database role (grants), and
not by anyone (triggers), on both backends."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors

from ioc.events import Event
from ioc.store import open_store

APP_ROLE = "ioc_app"
ALTERATIONS = [
    "UPDATE audit_log SET actor = 'someone-else'",
    "UPDATE audit_log SET details = '{}'::jsonb WHERE action = 'lookup'",
    "DELETE FROM audit_log",
    "DELETE FROM audit_log WHERE id = 1",
    "TRUNCATE audit_log",
]


def as_role(url: str, role: str) -> str:
    """The same database, connecting as another role (the test server trusts local logins)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@pytest.fixture
def app_url(pg_url: str) -> str:
    """The fresh test database, as the application role created by migration 0002."""
    return as_role(pg_url, APP_ROLE)


def test_app_role_is_a_plain_login_role(pg_url):
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s",
            (APP_ROLE,),
        ).fetchone()
        assert row == (True, False, False, False, False)
        grants = conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = 'audit_log' ORDER BY 1",
            (APP_ROLE,),
        ).fetchall()
    assert [g[0] for g in grants] == ["INSERT", "SELECT"]


def test_app_role_grants_cover_every_table(pg_url):
    """Tables of later migrations get read/write by default; only the trail is insert-only."""
    with psycopg.connect(pg_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        ]
        grants: dict[str, set[str]] = {}
        for table in tables:
            grants[table] = {
                p
                for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
                if conn.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", (APP_ROLE, f"public.{table}", p)
                ).fetchone()[0]
            }
    assert len(tables) > 10
    assert grants.pop("audit_log") == {"SELECT", "INSERT"}
    assert grants.pop("schema_migrations") == {"SELECT"}
    assert {t: g for t, g in grants.items() if g != {"SELECT", "INSERT", "UPDATE", "DELETE"}} == {}


def test_app_role_runs_the_application(app_url):
    """Everything the product does day to day works as ioc_app."""
    store = open_store(app_url, migrate=True)  # up to date: a no-op the role may run
    try:
        assert store.schema_version() >= 2
        now = datetime.now(UTC)
        event = Event(
            id="e-1",
            ts=now,
            source="cam-1",
            kind="security.intrusion",
            severity=3,
            province="68",
            ward="25084",
        )
        result = store.write_batch([event])
        assert result.inserted == 1
        store.add_user("op", "not-a-hash", "operator", "68")
        store.update_user("op", disabled=True)
        audit_id = store.append_audit("op", "lookup", "000250841067", {"results": 1})
        assert store.audit_entries(actor="op")[0].id == audit_id
        assert store.table_counts()["events"] == 1
    finally:
        store.close()


@pytest.mark.parametrize("statement", ALTERATIONS)
def test_app_role_cannot_alter_audit_rows(pg_url, app_url, statement):
    store = open_store(app_url)
    try:
        first = store.append_audit("op", "lookup", "x", {"purpose": "search_rescue"})
        store.append_audit("op", "login")
    finally:
        store.close()
    with psycopg.connect(app_url, autocommit=True) as conn:
        # Refused by the grants, before any trigger could run.
        with pytest.raises(
            errors.InsufficientPrivilege, match="permission denied for table audit_log"
        ):
            conn.execute(statement)
        rows = conn.execute("SELECT id, actor, action FROM audit_log ORDER BY id").fetchall()
    assert rows == [(first, "op", "lookup"), (first + 1, "op", "login")]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        "DROP TRIGGER audit_log_no_update ON audit_log",
        "DROP TABLE audit_log",
        "INSERT INTO schema_migrations VALUES (99, 'x', 'now')",
        "CREATE TABLE audit_log_copy (id int)",
    ],
)
def test_app_role_cannot_lift_the_protection(app_url, statement):
    with psycopg.connect(app_url, autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)


def test_app_role_cannot_grant_itself_more(app_url):
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute("GRANT UPDATE, DELETE ON audit_log TO ioc_app")  # only warns: no grant option
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")


@pytest.mark.parametrize("statement", ALTERATIONS)
def test_triggers_stop_even_the_owner(pg_url, statement):
    """The owner has every grant; the append-only triggers still refuse."""
    store = open_store(pg_url)
    try:
        store.append_audit("op", "lookup", "x", {"purpose": "search_rescue"})
    finally:
        store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(errors.RaiseException, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)


def test_sqlite_triggers_keep_audit_append_only(sqlite_url):
    store = open_store(sqlite_url, migrate=True)
    try:
        store.append_audit("op", "lookup", "x", {"purpose": "search_rescue"})
        path = store.path
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)
    finally:
        conn.close()
