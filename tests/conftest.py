"""Shared fixtures: stores on both backends, against real servers."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from ioc.store import Store, open_store

PG_ADMIN_URL = os.environ.get("IOC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    info["dbname"] = dbname
    return "postgresql://{user}@{host}:{port}/{dbname}".format(
        user=info.get("user", "postgres"),
        host=info.get("host", "127.0.0.1"),
        port=info.get("port", 5432),
        dbname=dbname,
    )


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # make test provisions it: absence is a failure
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL} (run scripts/provision.sh): {exc}")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database used as the template of each test's fresh database."""
    name = f"ioc_tmpl_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    store = open_store(_pg_url(name), migrate=True)
    status = store.status()
    store.close()
    assert status["timescaledb"], "TimescaleDB is not loaded on the test server"
    with _admin() as conn:
        # TimescaleDB's scheduler connects to every database except templates; its session
        # would make CREATE DATABASE ... TEMPLATE fail now and then ("being accessed").
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(name)))
    yield name
    with _admin() as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated TimescaleDB database, dropped after the test."""
    name = f"ioc_test_{uuid.uuid4().hex[:10]}"
    with _admin() as conn:
        for attempt in range(50):
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(pg_template)
                    )
                )
                break
            except psycopg.errors.ObjectInUse:
                # A scheduler started before the template was marked may still be leaving.
                if attempt == 49:
                    raise
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (pg_template,),
                )
                time.sleep(0.1)
    yield _pg_url(name)
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a fresh SQLite store file."""
    return f"sqlite:///{tmp_path / 'ioc.db'}"


@pytest.fixture(params=["sqlite", "timescale"])
def store_url(request) -> str:
    """Each store test runs against both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated store on each backend."""
    s = open_store(store_url, migrate=True)
    yield s
    s.close()


@pytest.fixture
def mqtt_broker(tmp_path):
    """A real Mosquitto with the shipped config on a free port, with its own data dir."""
    from ioc.broker import MosquittoBroker

    with MosquittoBroker(tmp_path / "mosquitto") as broker:
        yield broker


def pytest_setup_options():
    """Chromium options for dash[testing]: headless, no sandbox (root), nothing fetched from outside."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1600,1000",
    ):
        options.add_argument(arg)
    return options
