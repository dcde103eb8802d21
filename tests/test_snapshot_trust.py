"""A device cannot make the web app serve a file that is not its snapshot.

The attack: a `camera.snapshot` event whose `snapshot.path` names the data
directory's secrets (`secret_key`, the SQLite store, demo credentials) by an
absolute path or `..`. It is refused at ingest (dead letter with a reason) and,
should such a row reach the store another way, refused again when served.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

import pytest
from dash_support import PASSWORD, add_user, ev, write_jpeg

from bench.harness_ingest import WorkerProcess
from ingest.publisher import FastPublisher
from ioc.events import Event, InvalidMessage, parse_event
from ioc.settings import ConfigError, load_settings
from ioc.snapshots import check_snapshot_path
from ioc.store import open_store

TRAVERSALS = [
    ("/work/.ioc-data/secret_key", "absolute"),
    ("../secret_key", ".."),
    ("../ioc.db", ".."),
    ("cam-1/../../demo-credentials.txt", ".."),
    ("secret_key", ".jpg"),
    ("cam-1/picture.png", ".jpg"),
    (".hidden/x.jpg", "unsafe"),
    ("cam-1//x.jpg", "empty"),
    ("C:/Windows/x.jpg", "absolute"),
    ("cam-1\\..\\x.jpg", "POSIX"),
]


def snapshot_payload(event_id: str, path: str, *, source: str = "cam-evil") -> dict:
    return {
        "id": event_id,
        "ts": datetime.now(UTC).isoformat(),
        "source": source,
        "kind": "camera.snapshot",
        "severity": 0,
        "province": "68",
        "lat": 11.94,
        "lon": 108.44,
        "attrs": {"reason": "manual", "snapshot": {"path": path, "sha256": "0" * 64, "size": 8}},
    }


@pytest.mark.parametrize(("path", "why"), TRAVERSALS)
def test_unsafe_snapshot_paths_are_refused_at_the_edge_with_a_reason(path, why):
    payload = json.dumps(snapshot_payload("evil-1", path)).encode()
    with pytest.raises(InvalidMessage) as refused:
        parse_event(payload, "ioc/v1/68/camera/cam-evil/snapshot")
    assert "snapshot" in str(refused.value) and why in str(refused.value), str(refused.value)


def test_safe_snapshot_paths_as_camera_adapters_write_them_pass():
    assert check_snapshot_path("cam-1/20261203/021500.123-interval.jpg")
    assert check_snapshot_path("bus-07:front/x.JPEG")


def test_snapshot_url_must_be_plain_http():
    bad = snapshot_payload("evil-url", "x.jpg")
    bad["attrs"]["snapshot"] = {"url": "javascript:alert(1)", "sha256": "0" * 64, "size": 8}
    with pytest.raises(InvalidMessage, match="http"):
        parse_event(json.dumps(bad).encode(), "ioc/v1/68/camera/cam-evil/snapshot")


@pytest.mark.mqtt
def test_ingest_dead_letters_traversal_events_and_stores_the_good_one(
    mqtt_broker, store_url, tmp_path
):
    wire = [
        (
            "ioc/v1/68/camera/cam-evil/snapshot",
            json.dumps(snapshot_payload(f"evil-{i}", path)).encode(),
        )
        for i, (path, _why) in enumerate(TRAVERSALS)
    ]
    good = snapshot_payload("good-1", "cam-evil/20261203/x.jpg")
    wire.append(("ioc/v1/68/camera/cam-evil/snapshot", json.dumps(good).encode()))
    worker = WorkerProcess(
        db_url=store_url,
        mqtt_url=mqtt_broker.url,
        workers=1,
        name="snap-trust",
        args=["--heartbeat", "0.5", "--batch-ms", "50"],
        log_path=tmp_path / "ingest.log",
    ).start()
    try:
        worker.wait_ready()
        with FastPublisher(mqtt_broker.url, client_id="test-snap-evil") as pub:
            assert pub.publish(wire) == len(wire)
        worker.wait_until(lambda m: m.get("ioc_ingest_acked_total", 0) >= len(wire), timeout=60)
    finally:
        assert worker.terminate() == 0
    store = open_store(store_url)
    try:
        assert store.count_events() == 1 and store.get_event("good-1") is not None
        letters = store.dead_letters(limit=100)
        assert len(letters) == len(TRAVERSALS)
        assert all("snapshot" in d.reason for d in letters), [d.reason for d in letters]
    finally:
        store.close()


# --- serving ---------------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path):
    data = tmp_path / "data"
    settings = load_settings(data_dir=str(data), db_url=f"sqlite:///{data / 'ioc.db'}")
    data.mkdir()
    settings.session_secret()  # the secret a traversal would steal lives in data_dir
    store = open_store(settings.db_url, migrate=True)
    add_user(store, "op68", "operator", "68")
    from dashboards.app import create_app

    app = create_app(settings)
    client = app.server.test_client()
    r = client.post("/auth/login", data={"username": "op68", "password": PASSWORD})
    assert r.status_code == 303
    yield client, store, data
    store.close()
    app.server.extensions["ioc"].close()


def stored_snapshot(store, source: str, path: str, ref: dict) -> Event:
    """Write a snapshot event as ingest would, bypassing validation only where asked."""
    event = ev(
        "camera.snapshot",
        source=source,
        severity=0,
        attrs={
            "reason": "manual",
            "snapshot": {"path": "placeholder.jpg", "sha256": "0" * 64, "size": 1},
        },
    )
    attrs = {"reason": "manual", "snapshot": {"path": path, **ref}}
    forged = Event.model_construct(**{**event.__dict__, "attrs": attrs})
    store.write_batch([forged])
    return forged


def test_a_matching_jpeg_under_the_snapshot_root_is_served(web):
    client, store, data = web
    ref = write_jpeg(data / "snapshots" / "cam-1" / "a.jpg", "cam-1")
    event = stored_snapshot(store, "cam-1", "cam-1/a.jpg", ref)
    r = client.get(f"/snapshots/event/{event.id}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert hashlib.sha256(r.data).hexdigest() == ref["sha256"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_serving_refuses_what_ingest_would_have_refused(web):
    client, store, data = web
    secret = (data / "secret_key").read_bytes()
    ref = {"sha256": hashlib.sha256(secret).hexdigest(), "size": len(secret)}
    for path in ("../secret_key", str(data / "secret_key"), "../ioc.db"):
        event = stored_snapshot(store, "cam-2", path, ref)
        assert client.get(f"/snapshots/event/{event.id}").status_code == 404, path
    # A row whose reference lost its hash or size is a 404, not a server error.
    for partial in ({"size": ref["size"]}, {"sha256": ref["sha256"]}, {"sha256": 1, "size": "8"}):
        event = stored_snapshot(store, "cam-2", "cam-2/a.jpg", partial)
        assert client.get(f"/snapshots/event/{event.id}").status_code == 404, partial


def test_a_symlink_out_of_the_root_is_not_followed(web, tmp_path):
    client, store, data = web
    outside = tmp_path / "outside.jpg"
    ref = write_jpeg(outside, "outside")  # a real JPEG with a matching hash, but elsewhere
    link = data / "snapshots" / "cam-3" / "link.jpg"
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    event = stored_snapshot(store, "cam-3", "cam-3/link.jpg", ref)
    assert client.get(f"/snapshots/event/{event.id}").status_code == 404


def test_a_file_whose_bytes_do_not_match_the_reference_is_not_served(web):
    client, store, data = web
    ref = write_jpeg(data / "snapshots" / "cam-4" / "a.jpg", "cam-4")
    wrong = stored_snapshot(store, "cam-4", "cam-4/a.jpg", {**ref, "sha256": "f" * 64})
    assert client.get(f"/snapshots/event/{wrong.id}").status_code == 404
    # A non-JPEG named .jpg, even with its own hash, is refused too.
    text = b"not a picture at all"
    (data / "snapshots" / "cam-4" / "b.jpg").write_bytes(text)
    fake = stored_snapshot(
        store,
        "cam-4",
        "cam-4/b.jpg",
        {"sha256": hashlib.sha256(text).hexdigest(), "size": len(text)},
    )
    assert client.get(f"/snapshots/event/{fake.id}").status_code == 404


def test_a_snapshot_root_that_would_hold_secrets_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="snapshot_dir"):
        load_settings(data_dir=str(tmp_path / "data"), snapshot_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="snapshot_dir"):
        load_settings(
            data_dir=str(tmp_path / "data"),
            snapshot_dir=str(tmp_path / "shots"),
            db_url=f"sqlite:///{tmp_path / 'shots' / 'ioc.db'}",
        )
    ok = load_settings(data_dir=str(tmp_path / "data"), snapshot_dir=str(tmp_path / "shots"))
    assert ok.snapshot_root == (tmp_path / "shots").resolve()
