"""`ioc bench ingest` as a user runs it: its own Mosquitto, both phases, JSON figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import sql

PG_ADMIN_URL = os.environ.get("IOC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

FIELDS = {
    "raw_msgs_per_s", "pipeline_msgs_per_s", "ratio", "published", "stored", "lost",
    "duplicates", "store_url",
}  # fmt: skip


def _bench(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "ioc", "bench", "ingest", "--messages", "3000", "--json", *args],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_bench_on_sqlite_by_default():
    result = _bench()
    assert FIELDS <= result.keys()
    assert result["store_url"].startswith("sqlite:///")
    assert result["published"] == result["stored"] == result["raw_received"] == 3000
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["raw_msgs_per_s"] > 0 and result["pipeline_msgs_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["pipeline_msgs_per_s"] / result["raw_msgs_per_s"], rel=0.01
    )
    assert result["broker_config"].startswith("shipped")
    assert 350 < result["payload_bytes_avg"] < 550
    # CPU per message of every process involved; SQLite has no server to count.
    for key in (
        "raw_cpu_broker",
        "raw_cpu_subscriber",
        "pipeline_cpu_broker",
        "pipeline_cpu_workers",
    ):
        assert result[f"{key}_us_per_msg"] > 0, key
    assert result["pipeline_cpu_database_us_per_msg"] is None
    assert result["pipeline_cpu_us_per_msg"] >= result["pipeline_cpu_workers_us_per_msg"]


@pytest.mark.postgres
def test_bench_creates_the_timescaledb_database_it_is_given():
    name = f"ioc_test_bench_{uuid.uuid4().hex[:8]}"
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    url = "postgresql://{}@{}:{}/{}".format(
        info.get("user", "postgres"), info.get("host", "127.0.0.1"), info.get("port", 5432), name
    )
    try:
        first = _bench("--db-url", url, "--workers", "2")
        assert first["store_backend"] == "postgres" and first["workers"] == 2
        assert first["stored"] == 3000 and first["lost"] == 0 and first["duplicates"] == 0
        # Both workers and the PostgreSQL backends serving them are counted.
        assert first["pipeline_cpu_workers_us_per_msg"] > 0
        assert first["pipeline_cpu_database_us_per_msg"] > 0
        # A second run into the same database counts only its own rows.
        second = _bench("--db-url", url)
        assert second["stored"] == 3000 and second["lost"] == 0
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
