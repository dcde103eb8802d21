"""`ioc population` as a user runs it: a real process and a real store."""

from __future__ import annotations

import json

import pytest
from test_cli import ioc

from ioc.population import SyntheticRegistry
from ioc.store import open_store


def test_stats():
    r = ioc("population", "stats", "--province", "68", "--json", env={})
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["population"] == 3_872_999 and row["synthetic_residents"] == 38_731
    assert ioc("population", "stats", "--province", "99", env={}).returncode != 0


@pytest.mark.slow
def test_lookup_is_checked_masked_and_audited(tmp_path):
    env = {"IOC_DATA_DIR": str(tmp_path), "IOC_DB_URL": f"sqlite:///{tmp_path / 'ioc.db'}"}
    for name, role in (("op68", "operator"), ("lanhdao", "leader")):
        extra = ["--province", "68"] if role == "operator" else []
        r = ioc(
            "users",
            "add",
            name,
            "--role",
            role,
            *extra,
            "--password-stdin",
            env=env,
            input="mat-khau-du-dai\n",
        )
        assert r.returncode == 0, r.stderr
    p = SyntheticRegistry().residents("25084")[3]
    args = ["population", "lookup", "--purpose", "search_rescue", "--case", "SC-1"]
    r = ioc(*args, "--as", "op68", "--id", p.national_id, "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (view,) = out["results"]
    assert view["full_name"] == p.full_name and view["masked"] is True
    assert view["national_id"] == p.national_id[:3] + "******" + p.national_id[-3:]
    r = ioc(*args, "--as", "lanhdao", "--id", p.national_id, env=env)
    assert r.returncode != 0 and "không được tra cứu" in r.stderr
    r = ioc(
        "population",
        "lookup",
        "--as",
        "op68",
        "--purpose",
        "x",
        "--case",
        "SC-1",
        "--id",
        p.national_id,
        env=env,
    )
    assert r.returncode != 0 and "mục đích" in r.stderr
    store = open_store(env["IOC_DB_URL"])
    try:
        rows = sorted(
            (e for e in store.audit_entries() if e.action.startswith("lookup")),
            key=lambda e: e.id,
        )
    finally:
        store.close()
    assert [(e.actor, e.action) for e in rows] == [
        ("op68", "lookup"),
        ("lanhdao", "lookup_refused"),
        ("op68", "lookup_refused"),
    ]
    assert rows[0].id == out["audit_id"] and rows[0].details["from"].startswith("cli:")
