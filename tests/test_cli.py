"""The `ioc` command as a user runs it: a real process, real stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Each test starts `ioc` as a process: seconds of imports each, so out of `make check`.
pytestmark = pytest.mark.slow


def ioc(*args: str, env: dict | None = None, input: str | None = None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "ioc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_core_commands():
    r = ioc("--help")
    assert r.returncode == 0
    for name in ("db", "geo", "users", "bench", "demo"):
        assert f"  {name} " in r.stdout


def test_geo_province_and_locate():
    r = ioc("geo", "province", "68")
    assert r.returncode == 0, r.stderr
    assert "Tỉnh Lâm Đồng" in r.stdout and "124 (" in r.stdout
    data = json.loads(ioc("geo", "province", "68", "--json").stdout)
    assert data["commune_count"] == 124 and data["population"] > 3_000_000
    r = ioc("geo", "locate", "11.94", "108.44")
    assert r.stdout.strip() == "24781  Phường Xuân Hương - Đà Lạt, Tỉnh Lâm Đồng (68)"


def test_geo_commune_shows_population_source():
    r = ioc("geo", "commune", "02296")
    assert r.returncode == 0, r.stderr
    assert "Xã Bình An, Tỉnh Tuyên Quang (08)" in r.stdout
    assert "ước tính" in r.stdout and "copied figure: 59475" in r.stdout
    data = json.loads(ioc("geo", "commune", "24781", "--json").stdout)
    assert data["name"] == "Phường Xuân Hương - Đà Lạt"
    assert data["population_method"] in {"published", "scaled"}
    assert data["population_source"] == "sapnhap-2025-07-17"
    data = json.loads(ioc("geo", "province", "68", "--json").stdout)
    assert data["commune_population"] == data["population"]
    assert sum(data["commune_population_methods"].values()) == 124


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("62",), "province 62 (Tỉnh Kon Tum) is a pre-2025 code: now 51 Tỉnh Quảng Ngãi"),
        (("67",), "province 67 (Tỉnh Đắk Nông) is a pre-2025 code: now 68 Tỉnh Lâm Đồng"),
        (
            ("00001",),
            "ward 00001 (Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội) is a pre-2025 code:"
            " now 00097 Phường Hồng Hà, 01 Thành phố Hà Nội",
        ),
        (("001",), "its wards are now in 01 Thành phố Hà Nội: 00097 Phường Hồng Hà"),
        (
            ("Xã Đông La, Huyện Hoài Đức, Thành phố Hà Nội",),
            "từ 2025:    09877 Xã An Khánh, 01 Thành phố Hà Nội",
        ),
    ],
)
def test_geo_convert_old_codes_and_addresses(args, expected):
    r = ioc("geo", "convert", *args)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout


def test_geo_convert_json_keeps_old_code_beside_new():
    data = json.loads(ioc("geo", "convert", "00001", "--json").stdout)
    assert data["old"]["code"] == "00001" and data["old"]["level"] == "ward"
    assert data["ward_codes"] == ["00097"] and data["province_codes"] == ["01"]
    assert data["code_still_in_use"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("geo", "province", "99"), "unknown province code '99'"),
        (("geo", "province", "62"), "now 51 Tỉnh Quảng Ngãi"),
        (("geo", "commune", "00001"), "now 00097 Phường Hồng Hà"),
        (("geo", "convert", "9999"), "is not a pre-2025 province"),
        (("geo", "locate", "13.75", "100.5"), "outside Vietnam"),
        (("geo", "locate", "north", "108"), "'north' is not a valid float"),
        (("users", "add", "x", "--role", "god"), "'god' is not one of"),
        (("db", "frobnicate"), "No such command 'frobnicate'"),
    ],
)
def test_bad_arguments_fail_clearly(args, message):
    r = ioc(*args)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_config_fails_clearly(tmp_path):
    r = ioc("db", "status", env={"IOC_DB_URL": "mysql://nope"})
    assert r.returncode == 1 and "db_url" in r.stderr and "Traceback" not in r.stderr


def test_db_lifecycle_on_both_backends(store_url):
    # store_url is already migrated by the template on PostgreSQL; init must be a no-op there.
    r = ioc("--db-url", store_url, "db", "init")
    assert r.returncode == 0, r.stderr
    assert "schema" in r.stdout
    again = ioc("--db-url", store_url, "db", "migrate")
    assert "nothing to do" in again.stdout
    status = json.loads(ioc("--db-url", store_url, "db", "status", "--json").stdout)
    assert status["schema_version"] == status["latest_migration"] >= 1
    assert status["rows"]["events"] == 0
    if store_url.startswith("postgresql"):
        assert status["timescaledb"] and "events" in status["hypertables"]


def test_users_cli_hashes_and_audits(sqlite_url):
    def add(name: str, role: str, password: str, *args: str):
        return ioc(
            "--db-url", sqlite_url, "users", "add", name, "--role", role, *args,
            "--password-stdin", input=f"{password}\n",
        )  # fmt: skip

    r = add("lan", "operator", "mật khẩu đủ dài", "--province", "68")
    assert r.returncode == 0, r.stderr
    short = add("minh", "leader", "short")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    dup = add("lan", "leader", "mật khẩu đủ dài")
    assert "already exists" in dup.stderr
    assert ioc("--db-url", sqlite_url, "users", "disable", "lan").returncode == 0
    listing = ioc("--db-url", sqlite_url, "users", "list").stdout
    assert "lan" in listing and "disabled" in listing and "68" in listing
    assert "no user 'ghost'" in ioc("--db-url", sqlite_url, "users", "disable", "ghost").stderr

    from ioc.auth import AuthError, authenticate
    from ioc.store import open_store

    store = open_store(sqlite_url)
    user = store.get_user("lan")
    assert user.password_hash.startswith("$argon2id$")
    with pytest.raises(AuthError):
        authenticate(store, "lan", "mật khẩu đủ dài")  # disabled
    actions = [a.action for a in store.audit_entries()]
    assert actions == ["login_failed", "user_disable", "user_add"]
    store.close()
