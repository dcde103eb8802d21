"""Bridges against live transports: a local HTTP server streaming the recorded multipart bodies,
a local SOAP server answering as an ONVIF PullPoint, and Frigate over the real local broker."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler

import paho.mqtt.client as mqtt
import pytest
from camera_support import FIXTURES, ONVIF_EXPECTED, http_server, site, streaming_device, wait_for
from mqtt_support import subscriber
from paho.mqtt.enums import CallbackAPIVersion

from camera_adapters.publisher import MemorySink, MqttPublisher
from camera_adapters.vendors import vendor
from camera_adapters.vendors.dahua import DahuaTranslator
from camera_adapters.vendors.frigate import FrigateTranslator
from camera_adapters.vendors.hikvision import HikvisionTranslator
from camera_adapters.vendors.onvif import OnvifTranslator
from ioc.events import parse_event, parse_status


def run_bridge(spec_key: str, url: str, translator, sink, **kw):
    stop = threading.Event()
    result: dict = {}

    def target() -> None:
        result["stats"] = vendor(spec_key).bridge(url, translator, sink, stop=stop, **kw)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return stop, thread, result


def test_hikvision_bridge_follows_the_alert_stream() -> None:
    body = (FIXTURES / "hikvision" / "alertstream.multipart").read_bytes()
    creds = base64.b64encode(b"ioc:s3cret").decode()
    device = streaming_device(
        body, "multipart/mixed; boundary=boundary", "/ISAPI/Event/notification/alertStream", creds
    )
    with http_server(device) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"  # the bridge adds the ISAPI path
        sink = MemorySink()
        tr = HikvisionTranslator(site("hik-nvr-01", "79"))
        stop, thread, result = run_bridge(
            "hikvision",
            url,
            tr,
            sink,
            user="ioc",
            password="s3cret",
            read_timeout_s=1.0,
            backoff_initial_s=0.2,
        )
        try:
            assert wait_for(lambda: len(sink.events) >= 13, 15)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    assert device.unauthorised >= 1, "the bridge answered the camera's auth challenge"
    # Received live and in a second, nothing goes quiet long enough to idle-close: the VMD
    # motion is closed by its late `inactive`, scene change stays open.
    rows = [(e.kind, e.source, e.attrs.get("state")) for e in sink.events]
    assert rows[:12] == [
        ("camera.motion", "hik-nvr-01", "opened"),
        ("security.line_crossing", "hik-nvr-01", None),
        ("security.intrusion", "hik-nvr-01-2", None),
        ("camera.covered", "hik-nvr-01", "opened"),
        ("camera.covered", "hik-nvr-01", "closed"),
        ("camera.blurred", "hik-nvr-01", "opened"),
        ("camera.blurred", "hik-nvr-01", "closed"),
        ("camera.scene_change", "hik-nvr-01", "opened"),
        ("camera.offline", "hik-nvr-01-3", "opened"),
        ("camera.offline", "hik-nvr-01-3", "closed"),
        ("security.plate_read", "hik-nvr-01", None),
        ("security.plate_read", "hik-nvr-01", None),
    ]
    assert rows[12:] == [("camera.motion", "hik-nvr-01", "closed")]
    assert [s.state for _, s in sink.statuses][:1] == ["online"]
    assert sink.statuses[-1][1].state == "offline"  # the bridge stopped
    assert result["stats"].connects >= 1


def test_dahua_bridge_reconnects_and_dedups_by_id() -> None:
    body = (FIXTURES / "dahua" / "attach.multipart").read_bytes()
    path = "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=5"
    device = streaming_device(body, "multipart/x-mixed-replace; boundary=myboundary", path)
    with http_server(device) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        sink = MemorySink()
        tr = DahuaTranslator(site("dh-ipc-01", "01"))
        stop, thread, result = run_bridge(
            "dahua", url, tr, sink, read_timeout_s=5.0, backoff_initial_s=0.2
        )
        try:
            # The device ends the stream after each replay; the bridge reconnects.
            assert wait_for(lambda: len(device.requests) >= 2 and len(sink.events) >= 18, 15)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    assert device.requests[0] == path
    kinds = [e.kind for e in sink.events[:10]]
    assert kinds == [
        "camera.motion",
        "camera.motion",
        "camera.covered",
        "security.line_crossing",
        "security.intrusion",
        "camera.covered",
        "camera.offline",
        "security.plate_read",
        "camera.scene_change",
        "camera.offline",
    ]
    # Detections carry the device's own ids: the replay after reconnecting repeats them
    # exactly, so the store's unique key drops the duplicates.
    ivs = [e.id for e in sink.events if e.kind.startswith("security.")]
    assert len(ivs) >= 5 and set(ivs) == {
        "dh-ipc-01:line_crossing:Hang_rao_phia_Bac-5",
        "dh-ipc-01:intrusion:Kho_bai-6",
        "dh-ipc-01:plate_read:10231-30A12345",
    }
    states = [s.state for _, s in sink.statuses]
    assert states[:3] == ["online", "offline", "online"]
    assert result["stats"].connects >= 2 and result["stats"].disconnects >= 1


class OnvifDevice:
    """Answers CreatePullPointSubscription, PullMessages, Renew and Unsubscribe from fixtures."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.pulls = [p.read_bytes() for p in sorted((FIXTURES / "onvif").glob("pull-[123]-*.xml"))]
        self.empty = (FIXTURES / "onvif" / "pull-4-empty.xml").read_bytes()
        self.actions: list[str] = []
        self.bad_auth = 0

    def _authorised(self, root: ET.Element) -> bool:
        wsse = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
        wsu = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}"
        token = root.find(f".//{wsse}UsernameToken")
        if token is None:
            return False
        nonce = base64.b64decode(token.findtext(f"{wsse}Nonce") or "")
        created = token.findtext(f"{wsu}Created") or ""
        digest = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()
        ).decode()
        return (
            token.findtext(f"{wsse}Username") == "admin"
            and token.findtext(f"{wsse}Password") == digest
        )

    def handler(self) -> type[BaseHTTPRequestHandler]:
        dev = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                root = ET.fromstring(data)
                action = root.findtext(".//{http://www.w3.org/2005/08/addressing}Action") or ""
                name = action.rsplit("/", 1)[-1]
                dev.actions.append(name)
                if not dev._authorised(root):
                    dev.bad_auth += 1
                    self.send_error(400, "Sender not authorized")
                    return
                port = self.server.server_address[1]
                if name == "GetCapabilities":
                    assert self.path == "/onvif/device_service"
                    body = (
                        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
                        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
                        'xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>'
                        "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events>"
                        f"<tt:XAddr>http://127.0.0.1:{port}/onvif/event_service</tt:XAddr>"
                        "<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport>"
                        "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                        "</tt:Events></tds:Capabilities></tds:GetCapabilitiesResponse>"
                        "</s:Body></s:Envelope>"
                    ).encode()
                elif name == "CreatePullPointSubscriptionRequest":
                    assert self.path == "/onvif/event_service"
                    body = (FIXTURES / "onvif" / "create-pullpoint-response.xml").read_bytes()
                    body = body.replace(
                        b"{PULL_URL}", f"http://127.0.0.1:{port}/onvif/pull/1".encode()
                    )
                elif name == "PullMessagesRequest":
                    assert self.path == "/onvif/pull/1"
                    if dev.pulls:
                        body = dev.pulls.pop(0)
                    else:
                        time.sleep(0.2)  # a long poll that times out empty
                        body = dev.empty
                else:  # Renew, Unsubscribe
                    body = (
                        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
                        b"<s:Body/></s:Envelope>"
                    )
                self.send_response(200)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _onvif_bridge(url: str, camera_id: str, password: str, **kw):
    """The ONVIF bridge of a camera in province 48, signing in as admin, into a MemorySink;
    (sink, stop, thread, result) as run_bridge gives them."""
    sink = MemorySink()
    tr = OnvifTranslator(site(camera_id, "48"))
    stop, thread, result = run_bridge("onvif", url, tr, sink, user="admin", password=password, **kw)
    return sink, stop, thread, result


def test_onvif_bridge_pulls_messages_with_ws_security() -> None:
    device = OnvifDevice("mat-khau")
    with http_server(device.handler()) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"  # the device; events are found
        sink, stop, thread, _ = _onvif_bridge(
            url, "onvif-cam-01", "mat-khau", pull_timeout_s=1, termination_s=2
        )
        try:
            assert wait_for(lambda: len(sink.events) >= len(ONVIF_EXPECTED), 15)
            assert wait_for(lambda: "RenewRequest" in device.actions, 5)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    got = [(e.kind, e.attrs.get("state"), e.ts.strftime("%H:%M:%S")) for e in sink.events]
    assert got == ONVIF_EXPECTED
    assert device.bad_auth == 0
    assert device.actions[:2] == ["GetCapabilities", "CreatePullPointSubscriptionRequest"]
    assert device.actions[-1] == "UnsubscribeRequest"
    assert [s.state for _, s in sink.statuses] == ["online", "offline"]


def test_onvif_bridge_reports_a_wrong_password() -> None:
    device = OnvifDevice("right")
    with http_server(device.handler()) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/onvif/event_service"
        sink, stop, thread, result = _onvif_bridge(
            url, "onvif-cam-02", "wrong", backoff_initial_s=0.1, backoff_max_s=0.2
        )
        try:
            assert wait_for(lambda: device.bad_auth >= 3, 10)
        finally:
            stop.set()
            thread.join(10)
    assert sink.events == []
    assert "Sender not authorized" in result["stats"].errors[0]
    assert [s.state for _, s in sink.statuses] == ["offline"]


@pytest.mark.mqtt
def test_frigate_bridge_against_the_real_broker(mqtt_broker) -> None:
    received: list[tuple[str, bytes, bool]] = []
    sub = subscriber(
        mqtt_broker.url,
        "ioc/v1/#",
        lambda c, u, m: received.append((m.topic, m.payload, m.retain)),
        client_id="test-ioc-sub",
    )

    sink = MqttPublisher(mqtt_broker.url, "test-frigate-bridge-out")
    tr = FrigateTranslator(site("frigate-01", "79"))
    ready = threading.Event()
    stop, thread, result = run_bridge("frigate", mqtt_broker.url, tr, sink, ready=ready)
    frigate = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="frigate")
    try:
        assert ready.wait(10), "the bridge subscribed to Frigate's topics"
        frigate.connect("127.0.0.1", mqtt_broker.port)
        frigate.loop_start()
        lines = (FIXTURES / "frigate" / "mqtt-messages.jsonl").read_text().splitlines()
        for line in lines:
            rec = json.loads(line)
            payload = (
                rec["payload"] if isinstance(rec["payload"], str) else json.dumps(rec["payload"])
            )
            frigate.publish(rec["topic"], payload, qos=1).wait_for_publish(5)
        events = lambda: [m for m in received if "/status/" not in m[0]]  # noqa: E731
        assert wait_for(lambda: len(events()) >= 5, 10)
    finally:
        stop.set()
        thread.join(10)
        sink.close()
        frigate.loop_stop()
        frigate.disconnect()
    # Until the bridge's own "offline" (sent as it stops) has reached the subscriber.
    wait_for(lambda: len([t for t, _, _ in received if "/status/" in t]) >= 4, 10)
    sub.loop_stop()
    sub.disconnect()
    parsed = [parse_event(payload, topic) for topic, payload, _ in events()]
    assert [(e.kind, e.source, e.attrs.get("state")) for e in parsed] == [
        ("security.intrusion", "frigate-01-cong_truong", None),
        ("security.plate_read", "frigate-01-cong_truong", None),
        ("camera.offline", "frigate-01-nha_xe", "opened"),
        ("camera.offline", "frigate-01-nha_xe", "closed"),
        ("camera.offline", "frigate-01", "opened"),
    ]
    assert parsed[0].topic() == "ioc/v1/79/security/frigate-01-cong_truong/intrusion"
    statuses = [
        (parse_status(p, t).state, retained) for t, p, retained in received if "/status/" in t
    ]
    # Bridge connected, Frigate online, Frigate offline (its own last message), bridge stopped.
    assert [s for s, _ in statuses] == ["online", "online", "offline", "offline"]
    assert all(t == "ioc/v1/79/status/frigate-01" for t, _, _ in received if "/status/" in t)
