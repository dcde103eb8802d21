"""Broker accounts: per-device credentials, service accounts and the Mosquitto ACL.

The registry (`accounts.json`) lives in the broker's data directory next to the
files Mosquitto reads (`passwd`, `acl`); all three are written atomically with
mode 0600 and re-rendered from the registry on every change, so the files never
drift from it. Mosquitto re-reads password_file and acl_file on SIGHUP, which
`reload()` sends to the broker whose pid `MosquittoBroker` recorded.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ioc.events import SOURCE_PATTERN, TOPIC_PREFIX

REGISTRY = "accounts.json"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
PID_FILE = "mosquitto.pid"

# Service accounts and what they may do on {prefix}/#. replay publishes as any device:
# it is an engineer's tool for sample feeds and must not run with devices' trust on a
# production broker longer than needed (disable it there: `ioc devices service disable replay`).
SERVICES: dict[str, str] = {
    "ingest": "read",
    "web": "read",
    "record": "read",
    "replay": "readwrite",
}
SERVICE_PREFIX = "ioc-"

# Mosquitto 2.0's PBKDF2-SHA512 format: $7$iterations$salt$hash (12-byte salt, 64-byte hash).
# mosquitto_passwd 2.0.11 writes 101 iterations; 1,000 costs the broker about a millisecond
# per CONNECT (not per message) and makes an offline guess at a leaked hash 10x dearer.
_PBKDF2_ITERATIONS = 1000
_SALT_BYTES = 12


class AccountError(ValueError):
    """A registry operation is not possible; the message says why."""


def mosquitto_hash(password: str, *, iterations: int = _PBKDF2_ITERATIONS) -> str:
    """A password hash Mosquitto 2.0 accepts in password_file (PBKDF2-SHA512, `$7$`)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def device_username(province: str, source: str) -> str:
    """The MQTT username of a device: its province and source id."""
    return f"{province}.{source}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_private(path: Path, text: str) -> None:
    """Write a file atomically (temp file in the same directory, then rename) with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Credentials:
    """A username and the password generated for it (shown once, never stored in clear)."""

    username: str
    password: str

    def url(self, host: str, port: int, scheme: str = "mqtt") -> str:
        """A broker URL carrying these credentials."""
        from urllib.parse import quote

        return f"{scheme}://{quote(self.username, safe='')}:{quote(self.password, safe='')}@{host}:{port}"


class AccountRegistry:
    """Devices and service accounts of one broker, kept in its data directory."""

    def __init__(self, broker_dir: Path, prefix: str = TOPIC_PREFIX) -> None:
        self.dir = Path(broker_dir)
        self.prefix = prefix
        self.path = self.dir / REGISTRY
        self._data: dict[str, Any] = {"devices": {}, "services": {}}
        if self.path.is_file():
            try:
                self._data = json.loads(self.path.read_text("utf-8"))
            except json.JSONDecodeError as exc:
                raise AccountError(f"{self.path} is not valid JSON: {exc}") from None

    # --- queries ------------------------------------------------------------------------

    def devices(self) -> list[dict[str, Any]]:
        """Registered devices, sorted by province then source."""
        rows = [{"username": u, **d} for u, d in self._data["devices"].items()]
        return sorted(rows, key=lambda d: (d["province"], d["source"]))

    def services(self) -> list[dict[str, Any]]:
        """Registered service accounts."""
        return [{"name": n, **s} for n, s in sorted(self._data["services"].items())]

    # --- devices ------------------------------------------------------------------------

    def add_device(self, province: str, source: str) -> Credentials:
        """Register a device and return its generated password (shown once)."""
        from ioc.geo import geography

        if not geography().is_province(province):
            raise AccountError(f"unknown province code {province!r}")
        if not re.match(SOURCE_PATTERN, source):
            raise AccountError(
                f"source {source!r} is not a valid device id (letters, digits, '._:@-', max 64)"
            )
        if ":" in source:
            # Mosquitto's password_file separates username and hash with ':'.
            raise AccountError(f"source {source!r}: ':' cannot be used in a broker username")
        username = device_username(province, source)
        if username in self._data["devices"]:
            raise AccountError(f"device {source} of province {province} is already registered")
        password = secrets.token_urlsafe(24)
        self._data["devices"][username] = {
            "province": province,
            "source": source,
            "enabled": True,
            "hash": mosquitto_hash(password),
            "created": _now(),
            "rotated": None,
        }
        return Credentials(username, password)

    def _device(self, province: str, source: str) -> dict[str, Any]:
        try:
            return self._data["devices"][device_username(province, source)]
        except KeyError:
            raise AccountError(f"no device {source} in province {province}") from None

    def set_device_enabled(self, province: str, source: str, enabled: bool) -> None:
        """Disable (or re-enable) a device; a disabled device is left out of password_file."""
        self._device(province, source)["enabled"] = enabled

    def rotate_device(self, province: str, source: str) -> Credentials:
        """Replace a device's password; the old one stops working at the next reload."""
        device = self._device(province, source)
        password = secrets.token_urlsafe(24)
        device["hash"] = mosquitto_hash(password)
        device["rotated"] = _now()
        return Credentials(device_username(province, source), password)

    # --- services -----------------------------------------------------------------------

    def set_service(self, name: str) -> Credentials:
        """Create a service account, or give an existing one a new password."""
        if name not in SERVICES:
            raise AccountError(f"unknown service {name!r}: one of {', '.join(SERVICES)}")
        password = secrets.token_urlsafe(24)
        entry = self._data["services"].get(name)
        if entry is None:
            entry = self._data["services"][name] = {"created": _now(), "rotated": None}
        else:
            entry["rotated"] = _now()
        entry.update(enabled=True, access=SERVICES[name], hash=mosquitto_hash(password))
        return Credentials(SERVICE_PREFIX + name, password)

    def set_service_enabled(self, name: str, enabled: bool) -> None:
        """Disable (or re-enable) a service account."""
        if name not in self._data["services"]:
            raise AccountError(f"no service account {name!r}")
        self._data["services"][name]["enabled"] = enabled

    # --- files --------------------------------------------------------------------------

    def password_file(self) -> str:
        """password_file contents: enabled accounts only."""
        lines = [
            f"{SERVICE_PREFIX}{n}:{s['hash']}"
            for n, s in sorted(self._data["services"].items())
            if s["enabled"]
        ]
        lines += [f"{u}:{d['hash']}" for u, d in self._data["devices"].items() if d["enabled"]]
        return "\n".join(lines) + "\n"

    def acl_file(self) -> str:
        """acl_file contents: what each enabled account may publish or subscribe to."""
        p = self.prefix
        out = ["# Rendered by `ioc devices` from accounts.json; edits here are overwritten."]
        for name, s in sorted(self._data["services"].items()):
            if s["enabled"]:
                out += ["", f"user {SERVICE_PREFIX}{name}", f"topic {s['access']} {p}/#"]
        for username, d in self._data["devices"].items():
            if not d["enabled"]:
                continue
            prov, src = d["province"], d["source"]
            out += [
                "",
                f"user {username}",
                # Events under any domain, only as itself in its own province, and its
                # retained status (also its last will). No read access at all.
                f"topic write {p}/{prov}/+/{src}/#",
                f"topic write {p}/{prov}/status/{src}",
            ]
        return "\n".join(out) + "\n"

    def save(self) -> None:
        """Write the registry, password_file and acl_file atomically, each 0600."""
        write_private(self.path, json.dumps(self._data, ensure_ascii=False, indent=2) + "\n")
        write_private(self.dir / PASSWORD_FILE, self.password_file())
        write_private(self.dir / ACL_FILE, self.acl_file())


@contextmanager
def locked(broker_dir: Path) -> Iterator[None]:
    """Hold the registry's lock: two `ioc devices` runs must not lose each other's change."""
    Path(broker_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(broker_dir) / ".accounts.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def ensure_service_accounts(broker_dir: Path) -> dict[str, Credentials]:
    """Create the service accounts that do not exist yet; return only the new ones."""
    with locked(broker_dir):
        registry = AccountRegistry(broker_dir)
        existing = {s["name"] for s in registry.services()}
        created = {name: registry.set_service(name) for name in SERVICES if name not in existing}
        registry.save()  # also renders files from an existing registry on first secure start
    return created


def broker_pid(broker_dir: Path) -> int | None:
    """Pid of the Mosquitto recorded in broker_dir if that process still runs with its config."""
    try:
        pid = int((Path(broker_dir) / PID_FILE).read_text().strip())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # A stale pid file (broker crashed, pid reused) must not SIGHUP an unrelated process.
    conf = str((Path(broker_dir) / "mosquitto.conf").resolve()).encode()
    return pid if conf in args else None


def reload(broker_dir: Path) -> int | None:
    """SIGHUP the running broker so it re-reads password_file and acl_file; its pid or None."""
    pid = broker_pid(broker_dir)
    if pid is not None:
        os.kill(pid, signal.SIGHUP)
    return pid
