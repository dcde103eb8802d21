"""Accounts: users, the audit log, web sessions, login throttling and the lookup quota.

Mixed into Store. State lives in the database, not in a web worker, so every gunicorn
worker sees a logout, a revocation or a throttle at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc.store.core import StoreCore, record, where_clause
from ioc.store.models import ROLES, AuditEntry, User

# last_seen is written at most this often, so a 1 s wall poll is not a write per request.
LAST_SEEN_GRANULARITY = timedelta(seconds=60)


def session_key(token: str) -> str:
    """What the store keeps of a session token: its SHA-256, so a database dump holds no cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebSession:
    """One signed-in browser; id_hash is never the cookie's token."""

    id_hash: str
    username: str
    created_at: datetime
    last_seen: datetime
    client_addr: str | None


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """Failed logins counted for one key ('user:NAME' or 'addr:IP')."""

    key: str
    failures: int
    last_failure: datetime
    locked_until: datetime | None
    audited: bool


class Accounts(StoreCore):
    """Users and audit; sessions, throttles and lookup slots. Each method is one short transaction."""

    # Bumped by every change that can end a session through this store object, so a cache of
    # session lookups in this process (dashboards.auth) never outlives such a change.
    session_changes: int = 0

    # --- users and audit ---------------------------------------------------------------

    def add_user(
        self, username: str, password_hash: str, role: str, province: str | None = None
    ) -> User:
        """Create an account; raises ValueError if the name is taken or the role unknown."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if self.get_user(username) is not None:
            raise ValueError(f"user {username!r} already exists")
        now = self._to_db(datetime.now(UTC))
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO users (username, password_hash, role, province, disabled, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (username, password_hash, role, province, False, now, now),
            )
        user = self.get_user(username)
        assert user is not None
        return user

    def get_user(self, username: str) -> User | None:
        """One account by name."""
        rows = self._rows("SELECT * FROM users WHERE username = %s", (username,))
        return record(User, rows[0]) if rows else None

    def list_users(self) -> list[User]:
        """All accounts by name."""
        return [record(User, r) for r in self._rows("SELECT * FROM users ORDER BY username")]

    def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        disabled: bool | None = None,
        role: str | None = None,
        province: str | None = None,
        national: bool = False,
    ) -> User:
        """Change a password hash, the disabled flag, the role or the province scope.

        Any change ends every web session of the user in the same transaction: a new
        password, a disable or a narrower role must not leave an old cookie working.
        """
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if national and province is not None:
            raise ValueError("a user is either national or scoped to one province")
        with self.transaction() as tx:
            n = tx.execute(
                "UPDATE users SET password_hash = coalesce(%s, password_hash), "
                "disabled = coalesce(%s, disabled), role = coalesce(%s, role), "
                "province = CASE WHEN %s THEN NULL ELSE coalesce(%s, province) END, "
                "updated_at = %s WHERE username = %s",
                (
                    password_hash,
                    disabled,
                    role,
                    national,
                    province,
                    self._to_db(datetime.now(UTC)),
                    username,
                ),
            )
            if n:
                tx.execute("DELETE FROM web_sessions WHERE username = %s", (username,))
        self.session_changes += 1
        if n == 0:
            raise KeyError(f"no user {username!r}")
        user = self.get_user(username)
        assert user is not None
        return user

    def append_audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        details: dict | None = None,
        *,
        province: str | None = None,
    ) -> int:
        """Append one audit record about a province (None: national) and return its id."""
        with self.transaction() as tx:
            rows = tx.fetch(
                "INSERT INTO audit_log (ts, actor, action, target, province, details) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    self._to_db(datetime.now(UTC)),
                    actor,
                    action,
                    target,
                    province,
                    self._to_db(details or {}),
                ),
            )
        return int(rows[0]["id"])

    def audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        province: str | None = None,
        limit: int = 500,
    ) -> list[AuditEntry]:
        """Audit records, newest first, filtered; province keeps only rows about that province."""
        where, params = where_clause(
            (
                ("actor = %s", actor),
                ("action = %s", action),
                ("ts >= %s", since),
                ("province = %s", province),
            )
        )
        query = f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT %s"  # noqa: S608
        rows = self._rows(query, [*params, limit])
        return [record(AuditEntry, r) for r in rows]

    # --- sessions -----------------------------------------------------------------------

    def create_session(self, token: str, username: str, *, client_addr: str | None) -> None:
        """Record a new session for username under the hash of token."""
        now = self._to_db(datetime.now(UTC))
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO web_sessions (id_hash, username, created_at, last_seen, client_addr) "
                "VALUES (%s, %s, %s, %s, %s)",
                (session_key(token), username, now, now, client_addr),
            )

    def session_user(self, token: str, *, idle: timedelta, max_age: timedelta) -> User | None:
        """The active user of a live session, else None (expired sessions are deleted)."""
        key = session_key(token)
        now = datetime.now(UTC)
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                "SELECT s.created_at AS session_created, s.last_seen AS session_seen, u.* "
                "FROM web_sessions s JOIN users u ON u.username = s.username "
                "WHERE s.id_hash = %s",
                (key,),
            )
        if not rows:
            return None
        row = self._from_db(rows[0])
        created, seen = _as_dt(row.pop("session_created")), _as_dt(row.pop("session_seen"))
        if now - seen > idle or now - created > max_age:
            self.end_session(token)
            return None
        if now - seen > LAST_SEEN_GRANULARITY:
            with self.transaction() as tx:
                tx.execute(
                    "UPDATE web_sessions SET last_seen = %s WHERE id_hash = %s",
                    (self._to_db(now), key),
                )
        user = User(**{f: row[f] for f in User.__slots__})  # type: ignore[attr-defined]
        return None if user.disabled else user

    def end_session(self, token: str) -> None:
        """End one session (logout)."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM web_sessions WHERE id_hash = %s", (session_key(token),))
        self.session_changes += 1

    def end_sessions(self, username: str) -> int:
        """End every session of a user; return how many there were."""
        with self.transaction() as tx:
            n = tx.execute("DELETE FROM web_sessions WHERE username = %s", (username,))
        self.session_changes += 1
        return n

    def sessions(self, username: str) -> list[WebSession]:
        """The user's live sessions, newest first."""
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                "SELECT * FROM web_sessions WHERE username = %s ORDER BY created_at DESC",
                (username,),
            )
        return [WebSession(**self._from_db(r)) for r in rows]

    # --- login throttling ---------------------------------------------------------------

    def throttle_states(self, keys: list[str]) -> list[ThrottleState]:
        """The throttle rows of these keys (absent keys have no failures)."""
        if not keys:
            return []
        marks = ", ".join(["%s"] * len(keys))
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                f"SELECT * FROM login_throttle WHERE key IN ({marks})",  # noqa: S608
                keys,
            )
        out = []
        for r in rows:
            d = self._from_db(r)
            d["audited"] = bool(d["audited"])
            out.append(ThrottleState(**d))
        return out

    def mark_throttle_audited(self, keys: list[str]) -> list[str]:
        """Flag keys' current bursts as audited; return the keys that were not yet flagged."""
        fresh = []
        with self.transaction() as tx:
            for key in keys:
                n = tx.execute(
                    "UPDATE login_throttle SET audited = %s WHERE key = %s AND audited = %s",
                    (True, key, False),
                )
                if n:
                    fresh.append(key)
        return fresh

    def record_login_failure(
        self, keys: list[str], *, free: int, base: timedelta, cap: timedelta, reset: timedelta
    ) -> None:
        """Count a failed login against every key and set its lock: base * 2^(n - free), capped."""
        now = datetime.now(UTC)
        with self.transaction() as tx:
            for key in keys:
                self._serialise(tx, "login:" + key)
                rows = tx.fetch(
                    "SELECT failures, last_failure FROM login_throttle WHERE key = %s", (key,)
                )
                failures = 1
                if rows:
                    row = self._from_db(rows[0])
                    if now - _as_dt(row["last_failure"]) <= reset:
                        failures = int(row["failures"]) + 1
                locked = None
                if failures >= free:
                    locked = now + min(cap, base * (2 ** (failures - free)))
                tx.execute(
                    "INSERT INTO login_throttle (key, failures, last_failure, locked_until, "
                    "audited) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                    "failures = excluded.failures, last_failure = excluded.last_failure, "
                    "locked_until = excluded.locked_until, audited = excluded.audited",
                    (key, failures, self._to_db(now), self._to_db(locked), False),
                )

    def clear_login_failures(self, keys: list[str]) -> None:
        """Forget the failures of keys (after a successful login)."""
        with self.transaction() as tx:
            for key in keys:
                tx.execute("DELETE FROM login_throttle WHERE key = %s", (key,))

    # --- lookup quota -------------------------------------------------------------------

    def take_lookup_slot(self, username: str, *, limit: int, window: timedelta) -> bool:
        """Atomically take one of the user's `limit` lookups per sliding window, or return False."""
        now = datetime.now(UTC)
        since = self._to_db(now - window)
        with self.transaction() as tx:
            self._serialise(tx, "lookup:" + username)
            used = tx.fetch(
                "SELECT count(*) AS n FROM lookup_slots WHERE username = %s AND ts >= %s",
                (username, since),
            )[0]["n"]
            if int(used) >= limit:
                return False
            tx.execute(
                "INSERT INTO lookup_slots (username, ts) VALUES (%s, %s)",
                (username, self._to_db(now)),
            )
            # Old slots only ever count inside the window; keep the table small.
            tx.execute(
                "DELETE FROM lookup_slots WHERE username = %s AND ts < %s", (username, since)
            )
        return True

    def lookup_slots_used(self, username: str, *, window: timedelta) -> int:
        """Lookups the user has taken in the current window."""
        since = self._to_db(datetime.now(UTC) - window)
        with self.transaction(readonly=True) as tx:
            rows = tx.fetch(
                "SELECT count(*) AS n FROM lookup_slots WHERE username = %s AND ts >= %s",
                (username, since),
            )
        return int(rows[0]["n"])


def _as_dt(value: Any) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
