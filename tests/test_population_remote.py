"""The HTTP adapter against a local fake server speaking docs/population-api.md."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fakes.population_server import FakePopulationServer, Fault

from ioc.population import DirectoryError, LookupService, SyntheticRegistry, open_directory
from ioc.population.models import IdQuery, NameQuery
from ioc.population.remote import RemoteDirectory
from ioc.settings import ConfigError, load_settings


@pytest.fixture(scope="module")
def registry() -> SyntheticRegistry:
    return SyntheticRegistry()


@pytest.fixture
def server(registry):
    with FakePopulationServer(registry=registry, token="s3cret") as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def remote(server, registry, sleeps) -> RemoteDirectory:
    return RemoteDirectory(
        server.url, token="s3cret", timeout_s=2, retries=2, geo=registry.geo, sleep=sleeps.append
    )


CONTEXT = {"purpose": "search_rescue", "case_number": "SC-1", "requested_by": "test"}


def sample(registry):
    commune = registry.geo.communes_of("68")[4]
    return registry.residents(commune.code)[3]


def by_id(remote: RemoteDirectory, national_id: str):
    return remote.find(IdQuery(national_id), context=CONTEXT)


def test_lookups_match_the_registry(remote, server, registry):
    p = sample(registry)
    assert by_id(remote, p.national_id) == [p.__class__(**{**_fields(p), "household_id": ""})]
    by_name = remote.find(
        NameQuery(p.commune_code, p.full_name, p.birth_date.year), context=CONTEXT
    )
    assert p.national_id in [q.national_id for q in by_name]
    assert by_id(remote, "000999990000") == []
    assert remote.health()["status"] == "ok"
    sent = server.received[0]
    assert sent.method == "POST" and sent.path == "/v1/persons/search"
    assert sent.headers["authorization"] == "Bearer s3cret"
    assert sent.headers["x-request-id"] == sent.body["request_id"]
    assert sent.body["query"] == {"national_id": p.national_id}


def _fields(p):
    return {name: getattr(p, name) for name in p.__slots__}


def test_purpose_case_and_requester_travel_with_the_request(server, registry, store):
    p = sample(registry)
    remote = RemoteDirectory(server.url, token="s3cret", geo=registry.geo)
    user = store.add_user("op", "not-a-hash", "operator", "68")
    out = LookupService(store, remote).lookup(
        user, purpose="search_rescue", case_number="SC-9", national_id=p.national_id
    )
    assert len(out.results) == 1 and out.results[0].masked
    body = server.received[-1].body
    assert (body["purpose"], body["case_number"], body["requested_by"]) == (
        "search_rescue",
        "SC-9",
        "op",
    )
    row = store.audit_entries(action="lookup")[0]
    # Both sides' logs can be joined on the request id.
    assert row.details["request_id"] == body["request_id"]
    assert row.details["directory"] == "remote"


def test_retries_5xx_with_backoff_then_succeeds(remote, server, registry, sleeps):
    server.faults.extend([Fault(status=503), Fault(status=502)])
    p = sample(registry)
    assert len(by_id(remote, p.national_id)) == 1
    assert len(server.received) == 3
    assert sleeps == [0.5, 1.0]
    # The same request id on every attempt, so the service can deduplicate.
    assert len({r.body["request_id"] for r in server.received}) == 1


def test_honours_retry_after_on_429(remote, server, registry, sleeps):
    server.faults.append(Fault(status=429, retry_after="3"))
    assert by_id(remote, sample(registry).national_id)
    assert sleeps == [3.0]


def test_gives_up_after_retries(remote, server, registry, sleeps):
    server.faults.extend([Fault(status=500)] * 3)
    with pytest.raises(DirectoryError, match="after 3 attempts: HTTP 500"):
        by_id(remote, sample(registry).national_id)
    assert len(server.received) == 3 and sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(remote, server, registry, status):
    server.faults.append(Fault(status=status))
    with pytest.raises(DirectoryError, match=f"refused \\({status}\\)"):
        by_id(remote, sample(registry).national_id)
    assert len(server.received) == 1


def test_wrong_token_is_refused(server, registry):
    remote = RemoteDirectory(server.url, token="wrong", geo=registry.geo)
    with pytest.raises(DirectoryError, match="401"):
        by_id(remote, sample(registry).national_id)


def test_lookup_without_purpose_is_refused_by_the_service(remote, registry):
    with pytest.raises(DirectoryError, match="400.*purpose is required"):
        remote.find_by_id(sample(registry).national_id)


def test_timeout_per_attempt(server, registry, sleeps):
    server.faults.extend([Fault(delay_s=1.0), Fault(delay_s=1.0)])
    remote = RemoteDirectory(
        server.url, token="s3cret", timeout_s=0.2, retries=1, geo=registry.geo, sleep=sleeps.append
    )
    started = time.monotonic()
    with pytest.raises(DirectoryError, match="after 2 attempts: unreachable"):
        by_id(remote, sample(registry).national_id)
    assert time.monotonic() - started < 1.5
    assert sleeps == [0.5]


def test_unreachable_service(registry, sleeps):
    with FakePopulationServer(registry=registry) as fake:
        url = fake.url
    remote = RemoteDirectory(url, retries=1, geo=registry.geo, sleep=sleeps.append)
    with pytest.raises(DirectoryError, match="unreachable"):
        by_id(remote, "000250841067")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"request_id": "x", "results": []}',  # another request's answer
        b'{"results": [{"national_id": "1"}]}',
        b'{"request_id": "REQ", "results": [{"national_id": "000250841067", "full_name": "A",'
        b' "sex": "X", "birth_date": "1980-01-01", "commune_code": "25084", "household_size": 1}]}',
    ],
)
def test_malformed_replies_fail(remote, server, registry, body):
    server.faults.append(Fault(status=200, body=body))
    with pytest.raises(DirectoryError):
        by_id(remote, sample(registry).national_id)
    assert len(server.received) == 1


def test_redirects_are_not_followed(registry):
    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            hits.append(self.headers.get("Authorization"))
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:9/v1/persons/search")
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        remote = RemoteDirectory(
            f"http://127.0.0.1:{httpd.server_address[1]}", token="t", geo=registry.geo
        )
        with pytest.raises(DirectoryError, match="307"):
            by_id(remote, "000250841067")
        assert hits == ["Bearer t"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_configuration_is_validated():
    for url in ("ftp://x", "localhost:8080", ""):
        with pytest.raises(ValueError):
            RemoteDirectory(url)
    with pytest.raises(ValueError):
        RemoteDirectory("http://x", timeout_s=0)


def test_open_directory_picks_by_settings(server, monkeypatch):
    monkeypatch.setenv("IOC_POPULATION_URL", server.url)
    monkeypatch.setenv("IOC_POPULATION_TOKEN", "s3cret")
    monkeypatch.setenv("IOC_POPULATION_TIMEOUT_S", "1.5")
    monkeypatch.setenv("IOC_POPULATION_RETRIES", "4")
    settings = load_settings()
    assert "s3cret" not in repr(settings)
    d = open_directory(settings)
    assert isinstance(d, RemoteDirectory)
    assert (d.base_url, d.timeout_s, d.retries, d.token) == (server.url, 1.5, 4, "s3cret")
    assert d.health()["status"] == "ok"
    monkeypatch.delenv("IOC_POPULATION_URL")
    assert isinstance(open_directory(load_settings()), SyntheticRegistry)
    monkeypatch.setenv("IOC_POPULATION_URL", "ftp://example")
    with pytest.raises(ConfigError):
        load_settings()


def test_documented_example_matches_the_registry(registry):
    """The examples in docs/population-api.md are real records of the shipped registry."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "population-api.md").read_text()
    block = doc.split('"results": [', 1)[1].split("]", 1)[0]
    example = json.loads(block)
    (found,) = registry.find_by_id(example["national_id"])
    assert {
        "national_id": found.national_id,
        "full_name": found.full_name,
        "sex": found.sex,
        "birth_date": found.birth_date.isoformat(),
        "commune_code": found.commune_code,
        "household_size": found.household_size,
    } == example
