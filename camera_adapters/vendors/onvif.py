"""ONVIF events: wsnt:NotificationMessage from a PullPoint subscription (Profile S/T/M).

A message names its topic (e.g. `tns1:VideoSource/MotionAlarm`) and carries
`tt:Message` with `UtcTime`, a `PropertyOperation` (Initialized, Changed,
Deleted), `tt:Source` items (which video source, which rule) and `tt:Data` items
(the state). Property events say the current state, so "Initialized ... false"
is nothing and "Changed ... true" opens. The bridge creates a PullPoint
subscription with WS-UsernameToken (PasswordDigest) and long-polls PullMessages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from camera_adapters.vendors import Translator, VendorSpec, register
from ioc.events import Event

logger = logging.getLogger(__name__)

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tt": "http://www.onvif.org/ver10/schema",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "wsa": "http://www.w3.org/2005/08/addressing",
}
ONVIF_TOPICS = "http://www.onvif.org/ver10/topics"

# Topic path (after the tns1: prefix, lower case) -> (kind, stateful?)
TOPICS: dict[str, tuple[str, bool]] = {
    "videosource/motionalarm": ("camera.motion", True),
    "ruleengine/cellmotiondetector/motion": ("camera.motion", True),
    "ruleengine/motionregiondetector/motion": ("camera.motion", True),
    "videosource/imagetooblurry": ("camera.blurred", True),
    "videosource/imagetoodark": ("camera.covered", True),
    "videosource/imagetoobright": ("camera.too_bright", True),
    "videosource/globalscenechange": ("camera.scene_change", True),
    "videosource/signalloss": ("camera.offline", True),
    "ruleengine/tamperdetector/tamper": ("camera.covered", True),
    "ruleengine/linedetector/crossed": ("security.line_crossing", False),
    "ruleengine/fielddetector/objectsinside": ("security.intrusion", True),
    "ruleengine/loiteringdetector/objectisloitering": ("security.loitering", True),
}
STATE_ITEMS = ("State", "IsMotion", "IsTamper", "IsInside", "IsLoitering")
SOURCE_ITEMS = ("Source", "VideoSourceToken", "VideoSourceConfigurationToken", "InputToken")


def _parse(data: bytes) -> tuple[ET.Element, dict[str, str]]:
    """The document and every namespace prefix it declares (topics use them in text)."""
    prefixes: dict[str, str] = {}
    root = None
    for event, item in ET.iterparse(io.BytesIO(data), events=("start-ns", "start")):
        if event == "start-ns":
            prefix, uri = item  # type: ignore[misc]
            prefixes.setdefault(prefix, uri)
        elif root is None:
            root = item  # type: ignore[assignment]
    assert root is not None
    return root, prefixes


def topic_path(topic: str, prefixes: dict[str, str]) -> str | None:
    """`tns1:VideoSource/MotionAlarm` -> `videosource/motionalarm` if tns1 is ONVIF's namespace."""
    topic = topic.strip()
    if ":" in topic:
        prefix, path = topic.split(":", 1)
        if prefixes.get(prefix, ONVIF_TOPICS if prefix == "tns1" else "") != ONVIF_TOPICS:
            return None  # a vendor topic (tnsaxis:, tnshik: ...)
    else:
        path = topic
    return path.strip("/").lower()


def _match(path: str) -> tuple[str, bool] | None:
    """The mapping for a topic path, allowing sub-topics such as /AnalyticsService."""
    parts = path.split("/")
    for n in range(len(parts), 0, -1):
        hit = TOPICS.get("/".join(parts[:n]))
        if hit:
            return hit
    return None


def _items(el: ET.Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {i.get("Name", ""): i.get("Value", "") for i in el.iter(f"{{{NS['tt']}}}SimpleItem")}


class OnvifTranslator(Translator):
    """NotificationMessages (in any SOAP envelope, or alone) to canonical events."""

    vendor = "onvif"

    def feed(self, message: bytes | str, received_at: datetime) -> list[Event]:
        """A PullMessagesResponse, a Notify, or a single NotificationMessage document."""
        data = message.encode() if isinstance(message, str) else message
        self.stats.messages += 1
        self._last_seen = received_at
        try:
            root, prefixes = _parse(data)
        except ET.ParseError as exc:
            self.stats.invalid.append(f"bad XML: {exc}")
            return []
        fault = root.find(".//s:Fault", NS)
        if fault is not None:
            self.stats.invalid.append("SOAP fault")
            return []
        msgs = (
            [root]
            if root.tag == f"{{{NS['wsnt']}}}NotificationMessage"
            else list(root.iter(f"{{{NS['wsnt']}}}NotificationMessage"))
        )
        if not msgs:
            self.stats.heartbeats += 1  # an empty PullMessagesResponse: the device is alive
        out: list[Event] = []
        for msg in msgs:
            out += self._message(msg, prefixes, received_at)
        return out

    def _message(
        self, msg: ET.Element, prefixes: dict[str, str], received_at: datetime
    ) -> list[Event]:
        topic_el = msg.find("wsnt:Topic", NS)
        body = msg.find("wsnt:Message/tt:Message", NS)
        topic = (topic_el.text or "") if topic_el is not None else ""
        path = topic_path(topic, prefixes)
        hit = _match(path) if path else None
        if hit is None or body is None:
            self.stats.ignored[topic or "no topic"] += 1
            return []
        kind, stateful = hit
        ts = self.device_time(body.get("UtcTime"), received_at)
        operation = body.get("PropertyOperation", "Changed")
        source_items = _items(body.find("tt:Source", NS))
        data = _items(body.find("tt:Data", NS))
        token = next((source_items[k] for k in SOURCE_ITEMS if source_items.get(k)), None)
        source = self.site.channels.get(token, self.site.source) if token else self.site.source
        rule = source_items.get("Rule", "")
        vendor_event = topic.split(":", 1)[-1][:128]
        raw = next((data[k] for k in STATE_ITEMS if k in data), None)
        active = (raw or "").strip().lower() in ("true", "1") and operation != "Deleted"
        key = f"{token or ''}/{rule}"
        if kind.startswith("camera."):
            return self.condition(source, kind, active, ts, received_at, vendor_event, key=key)
        attrs = {"zone": rule or None}
        if not stateful:
            obj = data.get("ObjectId")
            return self.detection(
                source,
                kind,
                ts,
                received_at,
                vendor_event,
                attrs,
                key=key,
                vendor_key=f"{rule}-{obj}-{ts:%Y%m%dT%H%M%S}" if obj else None,
                episode=False,
            )
        if not active:
            self.end_detection(source, kind, key)
            return []
        return self.detection(source, kind, ts, received_at, vendor_event, attrs, key=key)

    def tick(self, now: datetime) -> list[Event]:
        """ONVIF property events state every change; silence means no change, not an end."""
        return []


def read_file(path: Path) -> Iterator[tuple[bytes, datetime | None]]:
    """A recorded PullMessagesResponse or Notify envelope."""
    yield Path(path).read_bytes(), None


# --- the PullPoint client -----------------------------------------------------------------


class SoapFault(Exception):
    """The device answered with a SOAP fault."""


def _security(user: str | None, password: str | None) -> str:
    if not user:
        return ""
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    digest = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + (password or "").encode()).digest()
    ).decode()
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    profile = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    enc = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"
    return (
        f'<Security s:mustUnderstand="1" xmlns="{wsse}"><UsernameToken>'
        f"<Username>{_esc(user)}</Username>"
        f'<Password Type="{profile}#PasswordDigest">{digest}</Password>'
        f'<Nonce EncodingType="{enc}#Base64Binary">{base64.b64encode(nonce).decode()}</Nonce>'
        f'<Created xmlns="{wsu}">{created}</Created>'
        "</UsernameToken></Security>"
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class PullPointClient:
    """CreatePullPointSubscription, PullMessages, Renew, Unsubscribe over plain HTTP(S)."""

    def __init__(self, url: str, user: str | None = None, password: str | None = None) -> None:
        parsed = urlparse(url)
        if not parsed.path or parsed.path == "/":
            url = url.rstrip("/") + "/onvif/device_service"
        self.url = url
        self.user = user
        self.password = password
        self.events_url: str | None = None
        self.pull_url: str | None = None

    def call(self, url: str, action: str, body: str, timeout: float = 15.0) -> bytes:
        """POST one SOAP 1.2 request; raises SoapFault or OSError."""
        envelope = (
            f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["wsa"]}"><s:Header>'
            f"{_security(self.user, self.password)}"
            f'<a:Action s:mustUnderstand="1">{action}</a:Action>'
            f'<a:To s:mustUnderstand="1">{_esc(url)}</a:To>'
            f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
        req = urllib.request.Request(
            url,
            data=envelope.encode(),
            headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read()[:2000].decode("utf-8", "replace")
            raise SoapFault(f"HTTP {exc.code} for {action.rsplit('/', 1)[-1]}: {text}") from None
        if b"Fault" in data:
            root = ET.fromstring(data)
            fault = root.find(".//s:Fault", NS)
            if fault is not None:
                reason = "".join(fault.itertext()).strip()[:300]
                raise SoapFault(f"{action.rsplit('/', 1)[-1]}: {reason}")
        return data

    def discover(self) -> str:
        """The event service address (asks the device service when given one)."""
        if self.events_url:
            return self.events_url
        if not self.url.rstrip("/").endswith("device_service"):
            self.events_url = self.url
            return self.url
        data = self.call(
            self.url,
            "http://www.onvif.org/ver10/device/wsdl/GetCapabilities",
            f'<GetCapabilities xmlns="{NS["tds"]}"><Category>Events</Category></GetCapabilities>',
        )
        xaddr = ET.fromstring(data).find(".//tt:Events/tt:XAddr", NS)
        if xaddr is None or not (xaddr.text or "").strip():
            raise SoapFault("device has no event service")
        self.events_url = xaddr.text.strip()
        return self.events_url

    def subscribe(self, termination_s: int = 60) -> str:
        """Create a PullPoint; returns its address."""
        data = self.call(
            self.discover(),
            "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest",
            f'<CreatePullPointSubscription xmlns="{NS["tev"]}">'
            f"<InitialTerminationTime>PT{termination_s}S</InitialTerminationTime>"
            "</CreatePullPointSubscription>",
        )
        addr = ET.fromstring(data).find(".//tev:SubscriptionReference/wsa:Address", NS)
        if addr is None or not (addr.text or "").strip():
            raise SoapFault("CreatePullPointSubscription returned no address")
        self.pull_url = addr.text.strip()
        return self.pull_url

    def pull(self, timeout_s: int = 10, limit: int = 100) -> bytes:
        """Long-poll for messages; returns the PullMessagesResponse envelope."""
        assert self.pull_url is not None
        return self.call(
            self.pull_url,
            "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
            f'<PullMessages xmlns="{NS["tev"]}"><Timeout>PT{timeout_s}S</Timeout>'
            f"<MessageLimit>{limit}</MessageLimit></PullMessages>",
            timeout=timeout_s + 10,
        )

    def renew(self, termination_s: int = 60) -> None:
        """Extend the subscription."""
        assert self.pull_url is not None
        self.call(
            self.pull_url,
            "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
            f'<Renew xmlns="{NS["wsnt"]}"><TerminationTime>PT{termination_s}S</TerminationTime></Renew>',
        )

    def unsubscribe(self) -> None:
        """Drop the subscription (best effort: it expires anyway)."""
        if self.pull_url is None:
            return
        try:
            self.call(
                self.pull_url,
                "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
                f'<Unsubscribe xmlns="{NS["wsnt"]}"/>',
                timeout=5,
            )
        except (SoapFault, OSError) as exc:
            logger.debug("unsubscribe failed: %s", exc)
        self.pull_url = None


def bridge(
    url: str,
    translator: Translator,
    sink: Any,
    *,
    user: str | None = None,
    password: str | None = None,
    stop: threading.Event | None = None,
    pull_timeout_s: int = 10,
    termination_s: int = 60,
    backoff_initial_s: float = 1.0,
    backoff_max_s: float = 60.0,
) -> Any:
    """Subscribe to a device's events and publish what it says, resubscribing on errors."""
    from camera_adapters.bridge import BridgeRun

    run = BridgeRun(translator, sink, stop)
    client = PullPointClient(url, user, password)
    delay = backoff_initial_s
    with run:
        while not run.stopped:
            try:
                client.subscribe(termination_s)
                run.connected()
                renew_at = time.monotonic() + termination_s / 2
                delay = backoff_initial_s
                while not run.stopped:
                    data = client.pull(pull_timeout_s)
                    run.received(data)
                    if time.monotonic() >= renew_at:
                        client.renew(termination_s)
                        renew_at = time.monotonic() + termination_s / 2
            except (SoapFault, OSError, ET.ParseError) as exc:
                run.disconnected(str(exc))
            finally:
                if run.stopped:
                    client.unsubscribe()
            if run.wait(delay):
                break
            delay = min(delay * 2, backoff_max_s)
    return run.stats


SPEC = register(
    VendorSpec(
        key="onvif",
        title="ONVIF PullPoint events",
        translator=OnvifTranslator,
        read_file=read_file,
        bridge=bridge,
        mapping=(
            ("tns1:VideoSource/MotionAlarm, RuleEngine/CellMotionDetector/Motion", "camera.motion"),
            ("tns1:VideoSource/ImageTooBlurry/*", "camera.blurred"),
            ("tns1:VideoSource/ImageTooDark/*", "camera.covered"),
            ("tns1:VideoSource/ImageTooBright/*", "camera.too_bright"),
            ("tns1:VideoSource/GlobalSceneChange/*", "camera.scene_change"),
            ("tns1:VideoSource/SignalLoss", "camera.offline"),
            ("tns1:RuleEngine/TamperDetector/Tamper", "camera.covered"),
            ("tns1:RuleEngine/LineDetector/Crossed", "security.line_crossing"),
            ("tns1:RuleEngine/FieldDetector/ObjectsInside", "security.intrusion"),
            ("tns1:RuleEngine/LoiteringDetector/ObjectIsLoitering", "security.loitering"),
        ),
    )
)
