"""Shared fixtures: stores on both backends, against real servers.

Each test is marked with the services it needs (postgres, mqtt, browser), derived from
the fixtures it uses, so `-m "not postgres"` deselects every test that touches one.
A test whose service is missing is skipped with the reason, or fails under
`--require-services` (what `make test` passes: there every service is provisioned).
"""

from __future__ import annotations

import functools
import os
import shutil
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from ioc.store import Store, open_store

PG_ADMIN_URL = os.environ.get("IOC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# Marker -> fixtures that need that service; a test using any of them (directly or through
# another fixture) gets the marker. The timescale param of store_url is marked where it is
# declared, since it reaches pg_url only at run time.
SERVICE_FIXTURES: dict[str, frozenset[str]] = {
    "postgres": frozenset({"pg_template", "pg_url", "throwaway_pg"}),
    "mqtt": frozenset({"mqtt_broker", "secure_broker"}),
    "browser": frozenset({"dash_br", "dash_duo", "dash_duo_mp", "dashr", "dashjl"}),
    "rabbitmq": frozenset({"cluster"}),  # tests/test_ingest_cluster.py
}
SERVICE_HINTS = {
    "postgres": "PostgreSQL with TimescaleDB",
    "mqtt": "the mosquitto binary",
    "browser": "Chromium and chromedriver",
    "rabbitmq": "Debian's rabbitmq-server",
}
_REAL_HASHER = pytest.StashKey[object]()
CHROME_BINARIES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """--require-services: a missing service fails the tests that need it instead of skipping."""
    parser.addoption(
        "--require-services",
        action="store_true",
        default=False,
        help="fail (not skip) tests whose PostgreSQL/TimescaleDB, mosquitto or Chromium is "
        "missing; `make test` passes it",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Argon2 at its lowest cost in this process (the `ioc` subprocesses keep the real one)."""
    from argon2 import PasswordHasher

    import ioc.auth

    # The production cost (3 passes over 64 MiB) was most of the CPU of the web tests; the
    # flows under test are the same at any cost, and no test is about the cost itself.
    config.stash[_REAL_HASHER] = ioc.auth._hasher
    ioc.auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the production hasher back."""
    import ioc.auth

    if _REAL_HASHER in config.stash:
        ioc.auth._hasher = config.stash[_REAL_HASHER]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the service markers implied by each test's fixture closure."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in SERVICE_FIXTURES.items():
            if used & fixtures and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@functools.cache
def service_problem(service: str) -> str | None:
    """Why `service` is unusable here, or None if it is available (checked once a session)."""
    if service == "postgres":
        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                ).fetchone()
        except psycopg.Error as exc:
            return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).strip()}"
        if row is None:
            return f"the TimescaleDB extension is not installed on {PG_ADMIN_URL}"
        return None
    if service == "mqtt":
        # The same lookup as ioc.broker.MosquittoBroker.
        if shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin"):
            return None
        return "mosquitto is not installed"
    if service == "browser":
        chrome = os.environ.get("DASH_TEST_CHROMEPATH") or next(
            filter(None, map(shutil.which, CHROME_BINARIES)), None
        )
        if not chrome:
            return f"no Chromium/Chrome found (looked for {', '.join(CHROME_BINARIES)})"
        if not shutil.which("chromedriver"):
            return "chromedriver is not on PATH"
        return None
    if service == "rabbitmq":
        # Debian's layout, as tests/cluster_support.py starts it.
        if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
            return "rabbitmq-server is not installed (/usr/lib/rabbitmq/bin)"
        if not shutil.which("erl"):
            return "Erlang (erl) is not on PATH"
        return None
    raise ValueError(f"unknown service {service!r}")


def require_service(config: pytest.Config, service: str) -> None:
    """Skip the current test if `service` is missing; fail instead under --require-services."""
    problem = service_problem(service)
    if problem is None:
        return
    if config.getoption("--require-services"):
        pytest.fail(
            f"{service}: {problem}; --require-services is set (run scripts/provision.sh "
            f"to install {SERVICE_HINTS[service]})",
            pytrace=False,
        )
    pytest.skip(f"{service} unavailable: {problem}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Check the services a test is marked with before any of its fixtures start."""
    for service in SERVICE_FIXTURES:
        if item.get_closest_marker(service) is not None:
            require_service(item.config, service)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say up front which services are missing and what that means for this run."""
    missing = [f"{s} ({p})" for s in SERVICE_FIXTURES if (p := service_problem(s)) is not None]
    if not missing:
        return ["services: " + ", ".join(SERVICE_FIXTURES) + " available"]
    then = "fail" if config.getoption("--require-services") else "are skipped"
    return [f"services missing, their tests {then}: " + "; ".join(missing)]


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
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database used as the template of each test's fresh database."""
    require_service(request.config, "postgres")
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


@pytest.fixture(params=["sqlite", pytest.param("timescale", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
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
def mqtt_broker(request: pytest.FixtureRequest, tmp_path):
    """A real Mosquitto with the shipped config on a free port, with its own data dir."""
    from ioc.broker import MosquittoBroker

    require_service(request.config, "mqtt")
    with MosquittoBroker(tmp_path / "mosquitto") as broker:
        yield broker


def pytest_setup_options():
    """Chromium options for dash[testing]: headless, no sandbox (root), nothing fetched from outside."""
    from bench.harness_web import chrome_options

    return chrome_options(1600, 1000, hide_scrollbars=False)
