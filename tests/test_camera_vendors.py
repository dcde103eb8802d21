"""Each recorded vendor stream translates to exactly the expected canonical events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from camera_support import FIXTURES, ONVIF_EXPECTED, site

from camera_adapters.multipart import MultipartReader, Part, boundary_of
from camera_adapters.snapshots import SnapshotStore
from camera_adapters.vendors import translate_all, vendor, vendor_keys
from camera_adapters.vendors.dahua import DahuaTranslator, parse_events
from camera_adapters.vendors.frigate import FrigateTranslator
from camera_adapters.vendors.hikvision import HikvisionTranslator
from camera_adapters.vendors.onvif import OnvifTranslator, topic_path
from ioc.events import Event, parse_event


def _t(hms: str) -> datetime:
    """A time on 2025-07-01 in UTC, 'HH:MM:SS(.fff)'."""
    return datetime.fromisoformat(f"2025-07-01T{hms}+00:00")


def _rows(events: list[Event]) -> list[tuple[str, str, str | None, datetime]]:
    return [(e.kind, e.source, e.attrs.get("state"), e.ts) for e in events]


def _valid_on_the_wire(events: list[Event]) -> None:
    for e in events:
        assert parse_event(e.to_json(), e.topic()) == e


# --- multipart ------------------------------------------------------------------------------


def test_multipart_reader_is_indifferent_to_how_bytes_arrive() -> None:
    data = (FIXTURES / "hikvision" / "alertstream.multipart").read_bytes()
    whole = MultipartReader("boundary").feed(data)
    trickle = MultipartReader("boundary")
    parts = [p for i in range(0, len(data), 7) for p in trickle.feed(data[i : i + 7])]
    assert parts == whole
    assert len(whole) == 25  # 23 alerts + 2 plate pictures
    assert [p.content_type for p in whole].count("image/jpeg") == 2
    assert whole[19].filename == "licensePlatePicture.jpg"


def test_multipart_reader_copes_with_real_world_framing() -> None:
    # No Content-Length, junk before the first part, four-dash delimiters, a final delimiter.
    body = (
        b"garbage\r\n----myboundary\r\nContent-Type: text/plain\r\n\r\n"
        b"Code=VideoMotion;action=Start;index=0\r\n"
        b"--myboundary\r\nContent-Type: text/plain\r\n\r\nHeartbeat\r\n--myboundary--\r\n"
    )
    reader = MultipartReader("--myboundary")
    parts = reader.feed(body)
    assert [p.body for p in parts] == [b"Code=VideoMotion;action=Start;index=0", b"Heartbeat"]
    assert reader.skipped_bytes == len(b"garbage\r\n")
    assert boundary_of('multipart/mixed; boundary="boundary"') == "boundary"
    with pytest.raises(ValueError):
        boundary_of("text/plain")


# --- registry -------------------------------------------------------------------------------


def test_vendors_are_chosen_by_key() -> None:
    assert vendor_keys() == ["dahua", "frigate", "hikvision", "onvif"]
    assert vendor("Hikvision").translator is HikvisionTranslator
    assert vendor("onvif").translator is OnvifTranslator
    with pytest.raises(KeyError, match="unknown vendor 'axis'"):
        vendor("axis")


# --- Hikvision --------------------------------------------------------------------------------

HIK_EXPECTED = [
    ("camera.motion", "hik-nvr-01", "opened", _t("01:30:05")),
    ("security.line_crossing", "hik-nvr-01", None, _t("01:30:08")),
    ("security.intrusion", "hik-nvr-01-2", None, _t("01:30:11")),
    ("camera.covered", "hik-nvr-01", "opened", _t("01:30:12")),
    # VMD never said inactive in time: closed after 10 quiet seconds, dated at its last active.
    ("camera.motion", "hik-nvr-01", "closed", _t("01:30:07")),
    ("camera.covered", "hik-nvr-01", "closed", _t("01:30:20")),
    ("camera.blurred", "hik-nvr-01", "opened", _t("01:30:21")),
    ("camera.blurred", "hik-nvr-01", "closed", _t("01:30:25")),
    ("camera.scene_change", "hik-nvr-01", "opened", _t("01:30:26")),
    ("camera.offline", "hik-nvr-01-3", "opened", _t("01:30:30")),
    ("camera.scene_change", "hik-nvr-01", "closed", _t("01:30:26")),
    ("camera.offline", "hik-nvr-01-3", "closed", _t("01:30:40")),
    ("security.plate_read", "hik-nvr-01", None, _t("01:30:41")),
    ("security.plate_read", "hik-nvr-01", None, _t("01:30:43")),
]


def test_hikvision_alert_stream(tmp_path) -> None:
    store = SnapshotStore(tmp_path)
    tr = HikvisionTranslator(site("hik-nvr-01", "79"), snapshots=store)
    spec = vendor("hikvision")
    events = translate_all(tr, spec.read_file(FIXTURES / "hikvision" / "alertstream.multipart"))
    assert _rows(events) == HIK_EXPECTED
    _valid_on_the_wire(events)
    by_kind = {e.kind: e for e in events}
    line = by_kind["security.line_crossing"]
    assert line.attrs == {
        "camera": "hik-nvr-01",
        "zone": "region 1",
        "vendor": "hikvision",
        "vendor_event": "linedetection/human",
    }
    assert line.severity == 3
    plate, listed = (e for e in events if e.kind == "security.plate_read")
    assert plate.id == "hik-nvr-01:plate_read:6f2a3c40-1b7e-4d21-9a55-0c1d2e3f4a51"
    assert plate.attrs["plate"] == "51F12345" and plate.attrs["confidence"] == 0.96
    assert plate.attrs["direction"] == "in" and plate.attrs["vehicle_type"] == "car"
    assert plate.attrs["watchlist"] is False and plate.severity == 1
    assert listed.attrs["watchlist"] is True and listed.severity == 3
    assert listed.attrs["vehicle_type"] == "truck" and "snapshot" not in listed.attrs
    # The plate close-up (the first picture after the alert) is stored and referenced.
    ref = plate.attrs["snapshot"]
    parts = MultipartReader("boundary").feed(
        (FIXTURES / "hikvision" / "alertstream.multipart").read_bytes()
    )
    picture = next(p.body for p in parts if p.filename == "licensePlatePicture.jpg")
    assert ref["sha256"] == hashlib.sha256(picture).hexdigest()
    assert store.resolve(ref["path"]).read_bytes() == picture
    assert (ref["width"], ref["height"]) == (160, 48)
    assert tr.stats.heartbeats == 2
    assert tr.stats.ignored == {"ANPR without plate": 1, "IO": 1}
    assert tr.stats.invalid == []


def test_hikvision_ids_are_stable_across_reconnects() -> None:
    def run() -> list[str]:
        tr = HikvisionTranslator(site("hik-nvr-01", "79"))
        spec = vendor("hikvision")
        return [
            e.id
            for e in translate_all(
                tr, spec.read_file(FIXTURES / "hikvision" / "alertstream.multipart")
            )
        ]

    assert run() == run()


def test_hikvision_single_alert_and_bad_input() -> None:
    tr = HikvisionTranslator(site("hik-ipc-07", "79"), device_tz="Asia/Ho_Chi_Minh")
    xml = (FIXTURES / "hikvision" / "11-defocus-active.xml").read_bytes()
    no_offset = xml.replace(b"+07:00", b"")  # device time without offset: the device's zone
    (event,) = tr.feed(no_offset, _t("01:30:21"))
    assert event.kind == "camera.blurred" and event.ts == _t("01:30:21")
    assert tr.feed(b"<EventNotificationAlert><unclosed>", _t("01:31:00")) == []
    assert tr.feed(Part({"content-type": "text/plain"}, b"hello"), _t("01:31:00")) == []
    assert len(tr.stats.invalid) == 1 and tr.stats.ignored["not xml"] == 1


# --- Dahua --------------------------------------------------------------------------------------


def test_dahua_attach_stream() -> None:
    tr = DahuaTranslator(site("dh-ipc-01", "01"))
    parts = list(vendor("dahua").read_file(FIXTURES / "dahua" / "attach.multipart"))
    assert len(parts) == 15
    t0 = _t("01:31:00")
    # The stream carries no time except IVS data; say each part arrived a second apart.
    events = translate_all(tr, [(p, t0 + timedelta(seconds=i)) for i, (p, _) in enumerate(parts)])
    s = lambda n: t0 + timedelta(seconds=n)  # noqa: E731
    assert _rows(events) == [
        ("camera.motion", "dh-ipc-01", "opened", s(1)),
        ("camera.motion", "dh-ipc-01", "closed", s(2)),
        ("camera.covered", "dh-ipc-01-2", "opened", s(3)),
        ("security.line_crossing", "dh-ipc-01", None, _t("01:31:10.296")),
        ("security.intrusion", "dh-ipc-01", None, _t("01:31:20.010")),
        ("camera.covered", "dh-ipc-01-2", "closed", s(8)),
        ("camera.offline", "dh-ipc-01-3", "opened", s(9)),
        ("security.plate_read", "dh-ipc-01", None, _t("01:31:30.520")),
        ("camera.scene_change", "dh-ipc-01-4", "opened", s(12)),
        ("camera.offline", "dh-ipc-01-3", "closed", s(13)),
        # Still open when the recording ends: closed by the quiet period, at its last report.
        ("camera.scene_change", "dh-ipc-01-4", "closed", s(12)),
    ]
    _valid_on_the_wire(events)
    line = next(e for e in events if e.kind == "security.line_crossing")
    assert line.id == "dh-ipc-01:line_crossing:Hang_rao_phia_Bac-5"
    assert line.attrs["zone"] == "Hang rao phia Bac"
    assert line.attrs["vendor_event"] == "CrossLineDetection/Human/LeftToRight"
    plate = next(e for e in events if e.kind == "security.plate_read")
    assert plate.attrs["plate"] == "30A12345" and plate.attrs["vehicle_type"] == "motorbike"
    assert tr.stats.heartbeats == 3 and tr.stats.ignored == {"NewFile": 1}


def test_dahua_event_lines() -> None:
    assert parse_events("Code=VideoLoss;action=Start;index=5") == [("VideoLoss", "Start", 5, None)]
    (code, action, index, data) = parse_events(
        'Code=VideoAbnormalDetection;action=Start;index=0;data={"Type": "Defocus"}'
    )[0]
    assert (code, action, index, data) == (
        "VideoAbnormalDetection",
        "Start",
        0,
        {"Type": "Defocus"},
    )
    tr = DahuaTranslator(site("dh-ipc-02", "01"))
    (event,) = tr.feed(
        'Code=VideoAbnormalDetection;action=Start;index=0;data={"Type": "Defocus"}', _t("02:00:00")
    )
    assert event.kind == "camera.blurred"
    assert event.attrs["vendor_event"] == "VideoAbnormalDetection/Defocus"


# --- ONVIF --------------------------------------------------------------------------------------


def onvif_files() -> list:
    return sorted((FIXTURES / "onvif").glob("pull-*.xml"))


def test_onvif_pull_messages() -> None:
    tr = OnvifTranslator(site("onvif-cam-01", "48"))
    events = []
    for path in onvif_files():
        events += tr.feed(path.read_bytes(), _t("01:31:00"))
    assert [
        (e.kind, e.attrs.get("state"), e.ts.strftime("%H:%M:%S")) for e in events
    ] == ONVIF_EXPECTED
    assert {e.source for e in events} == {"onvif-cam-01"}
    _valid_on_the_wire(events)
    tamper = events[5]
    assert tamper.attrs["vendor_event"] == "RuleEngine/TamperDetector/Tamper"
    assert events[2].attrs["vendor_event"] == "VideoSource/ImageTooBlurry/AnalyticsService"
    line = events[13]
    assert line.attrs["zone"] == "Cong chinh" and line.id.startswith("onvif-cam-01:line_crossing:")
    assert tr.stats.heartbeats == 1  # the empty PullMessagesResponse
    assert tr.stats.ignored == {"tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1": 1}


def test_onvif_topic_prefixes_resolve_by_namespace() -> None:
    onvif = {"tns1": "http://www.onvif.org/ver10/topics", "x": "http://www.onvif.org/ver10/topics"}
    assert topic_path("tns1:VideoSource/MotionAlarm", onvif) == "videosource/motionalarm"
    assert topic_path("x:VideoSource/SignalLoss", onvif) == "videosource/signalloss"
    assert topic_path("tnsaxis:VideoSource/MotionAlarm", {"tnsaxis": "http://www.axis.com"}) is None


def test_onvif_tokens_map_to_cameras() -> None:
    tr = OnvifTranslator(site("onvif-enc-01", "48", channels={"VideoSourceToken": "cam-gate"}))
    events = tr.feed((FIXTURES / "onvif" / "pull-1-initialized.xml").read_bytes(), _t("01:31:00"))
    assert [(e.source, e.kind, e.attrs["state"]) for e in events] == [
        ("cam-gate", "camera.motion", "opened")
    ]


# --- Frigate -------------------------------------------------------------------------------------


def test_frigate_mqtt_messages() -> None:
    tr = FrigateTranslator(site("frigate-01", "79"))
    messages = list(vendor("frigate").read_file(FIXTURES / "frigate" / "mqtt-messages.jsonl"))
    events = translate_all(tr, messages)
    assert _rows(events) == [
        ("security.intrusion", "frigate-01-cong_truong", None, _t("01:30:01.100")),
        ("security.plate_read", "frigate-01-cong_truong", None, _t("01:30:05.200")),
        ("camera.offline", "frigate-01-nha_xe", "opened", _t("01:30:15")),
        ("camera.offline", "frigate-01-nha_xe", "closed", _t("01:31:15")),
        ("camera.offline", "frigate-01", "opened", _t("01:31:30")),
    ]
    _valid_on_the_wire(events)
    alert, plate = events[:2]
    assert alert.id == "frigate-01-cong_truong:intrusion:1751333401.100000-r9x8y7"
    assert alert.attrs["incident"] == "frigate-review-1751333401.100000-r9x8y7"
    assert alert.attrs["zone"] == "san_truong" and alert.attrs["object_count"] == 1
    assert alert.attrs["vendor_event"] == "review/alert:person"
    assert plate.attrs["plate"] == "51F12345" and plate.attrs["confidence"] == 0.934
    assert plate.attrs["vehicle_type"] == "car" and plate.attrs["zone"] == "san_truong"
    statuses = [(p, s.source, s.state) for s, p in tr.drain_statuses()]
    assert statuses == [("79", "frigate-01", "online"), ("79", "frigate-01", "offline")]
    assert tr.stats.invalid == []


def test_frigate_bad_payloads_are_counted_not_fatal() -> None:
    tr = FrigateTranslator(site("frigate-01", "79"))
    now = _t("03:00:00")
    assert tr.feed(("frigate/events", b"{not json"), now) == []
    assert tr.feed(("frigate/reviews", b"[1, 2]"), now) == []
    assert tr.feed(("frigate/available", b"maybe"), now) == []
    assert len(tr.stats.invalid) == 2 and tr.stats.ignored["available=maybe"] == 1


def test_frigate_camera_names_become_valid_source_ids() -> None:
    tr = FrigateTranslator(site("frigate-01", "79", channels={"Cổng chính": "cam-cong-chinh"}))
    assert tr.camera_source("Cổng chính") == "cam-cong-chinh"
    assert tr.camera_source("bãi xe/2") == "frigate-01-b_i_xe_2"


def test_translation_drops_what_the_schema_rejects() -> None:
    tr = DahuaTranslator(site("dh-ipc-01", "01"))
    # A plate longer than any real plate is cut to 16; an empty one is ignored, never raised.
    body = 'Code=TrafficJunction;action=Pulse;index=0;data={"TrafficCar": {"PlateNumber": "X"}}'
    assert tr.feed(body, datetime.now(UTC)) == []
    assert tr.stats.ignored["TrafficJunction without plate"] == 1
