"""Accounts, roles and what each role may do. Passwords are hashed with Argon2id."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ioc.store import Store, User
from ioc.store.models import ROLES

MIN_PASSWORD_LENGTH = 10

# Argon2id with the library's RFC 9106 "low memory" defaults (64 MiB, 3 passes).
_hasher = PasswordHasher()

# What each role may do; every page and callback checks these server-side.
PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset({"live.view", "alarms.act", "cameras.view", "population.lookup"}),
    "leader": frozenset({"live.view", "kpi.view", "kpi.national", "cameras.view"}),
    "engineer": frozenset({"live.view", "cameras.view", "replay.run", "ingest.view"}),
    "admin": frozenset(
        {
            "live.view",
            "alarms.act",
            "cameras.view",
            "kpi.view",
            "kpi.national",
            "replay.run",
            "ingest.view",
            "population.lookup",
            "population.unmasked",
            "users.manage",
            "audit.view",
        }
    ),
}
assert set(PERMISSIONS) == set(ROLES)


class AuthError(Exception):
    """Bad credentials or a refused action; the message is safe to show."""


def hash_password(password: str) -> str:
    """Argon2id hash of a password that meets the length policy."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(store: Store, username: str, password: str, *, source: str = "") -> User:
    """Check credentials, audit the attempt, and return the user or raise AuthError."""
    user = store.get_user(username)
    # Verify even for unknown users so timing does not reveal which names exist.
    ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or user.disabled:
        reason = "disabled" if (user and ok and user.disabled) else "bad credentials"
        store.append_audit(username, "login_failed", details={"reason": reason, "from": source})
        raise AuthError("Sai tên đăng nhập hoặc mật khẩu / Wrong username or password")
    if _hasher.check_needs_rehash(user.password_hash):
        store.update_user(username, password_hash=_hasher.hash(password))
    store.append_audit(username, "login", details={"from": source})
    return user


def can(user: User | None, permission: str) -> bool:
    """True if an active user's role grants permission."""
    return user is not None and not user.disabled and permission in PERMISSIONS[user.role]


def province_scope(user: User, requested: str | None) -> str | None:
    """The province a query may cover: a scoped user always gets their own province."""
    if user.province is not None:
        if requested not in (None, user.province):
            raise AuthError(f"tài khoản chỉ được xem tỉnh {user.province}")
        return user.province
    return requested


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password-only-for-timing")
