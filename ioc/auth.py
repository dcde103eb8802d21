"""Accounts, roles and what each role may do. Passwords are hashed with Argon2id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


class LoginThrottled(AuthError):
    """Too many failed logins for this user or address: wait retry_after_s seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Đăng nhập sai quá nhiều lần, thử lại sau {retry_after_s} giây / "
            f"Too many failed logins, try again in {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Exponential backoff after failed logins, per username and per client address."""

    free_failures: int = 5
    # One address may carry several users (an IOC room behind NAT): it gets more free tries.
    address_factor: int = 4
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(seconds=900)
    # Failures older than this are forgotten.
    reset: timedelta = timedelta(hours=1)


def _throttle_keys(username: str, source: str) -> tuple[str, str | None]:
    return f"user:{username.strip().lower()[:200]}", (f"addr:{source}" if source else None)


def authenticate(
    store: Store,
    username: str,
    password: str,
    *,
    source: str = "",
    policy: LoginPolicy | None = None,
) -> User:
    """Check credentials, audit the attempt, and return the user or raise AuthError.

    A throttled attempt raises LoginThrottled before any Argon2 work, and only the first
    attempt of a throttled burst writes an audit row.
    """
    policy = policy or LoginPolicy()
    user_key, addr_key = _throttle_keys(username, source)
    keys = [k for k in (user_key, addr_key) if k]
    now = datetime.now(UTC)
    locked = [s for s in store.throttle_states(keys) if s.locked_until and s.locked_until > now]
    if locked:
        wait = max(
            int((s.locked_until - now).total_seconds()) + 1 for s in locked if s.locked_until
        )
        fresh = store.mark_throttle_audited([s.key for s in locked])
        if fresh:
            store.append_audit(
                username[:200],
                "login_throttled",
                details={
                    "from": source,
                    "keys": fresh,
                    "failures": max(s.failures for s in locked),
                    "retry_after_s": wait,
                },
            )
        raise LoginThrottled(wait)
    user = store.get_user(username)
    # Verify even for unknown users so timing does not reveal which names exist.
    ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or user.disabled:
        reason = "disabled" if (user and ok and user.disabled) else "bad credentials"
        store.record_login_failure(
            [user_key],
            free=policy.free_failures,
            base=policy.base,
            cap=policy.cap,
            reset=policy.reset,
        )
        if addr_key:
            store.record_login_failure(
                [addr_key],
                free=policy.free_failures * policy.address_factor,
                base=policy.base,
                cap=policy.cap,
                reset=policy.reset,
            )
        store.append_audit(
            username[:200],
            "login_failed",
            details={"reason": reason, "from": source},
            province=user.province if user else None,
        )
        raise AuthError("Sai tên đăng nhập hoặc mật khẩu / Wrong username or password")
    store.clear_login_failures([user_key])
    if _hasher.check_needs_rehash(user.password_hash):
        store.update_user(username, password_hash=_hasher.hash(password))
    store.append_audit(username, "login", details={"from": source}, province=user.province)
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
