"""The tuned paho client and the lean publisher against the real Mosquitto with the shipped config."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.mqtt import IngestClient, connect_properties
from ingest.publisher import FastPublisher, publish_qos1
from ioc.broker import BrokerUrl

pytestmark = pytest.mark.mqtt
SHARED = "$share/t/test/#"


class Session:
    """An IngestClient that records what it receives."""

    def __init__(
        self, url: str, client_id: str, *, fast: bool, receive_maximum: int = 20000,
        should_pause=None, topic: str = SHARED,
    ):  # fmt: skip
        self.topic = topic
        self.broker = BrokerUrl.parse(url)
        self.got: list[tuple[bytes, bytes, int]] = []
        self.generation: list[int] = []  # connection each message arrived on
        self.connects = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = IngestClient(
            client_id, on_publish_bytes=self._on, fast=fast, should_pause=should_pause
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.connect(
            self.broker.host, self.broker.port, clean_start=False,
            properties=connect_properties(session_expiry_s=300, receive_maximum=receive_maximum),
        )  # fmt: skip
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        with self.lock:
            self.connects += 1
        client.subscribe(self.topic, options=SubscribeOptions(qos=1))

    def _on(self, topic: bytes, payload: bytes, mid: int) -> None:
        with self.lock:
            self.got.append((topic, payload, mid))
            self.generation.append(self.connects)

    def ack_from(self, start: int) -> int:
        """Ack messages from index start that arrived on the current connection; new start."""
        with self.lock:
            mids = [
                mid
                for (_, _, mid), gen in zip(self.got[start:], self.generation[start:], strict=True)
                if gen == self.connects
            ]
            end = len(self.got)
        self.client.ack_many(mids)
        return end

    def wait_for(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "paho-path"])
def test_client_receives_exactly_what_was_published(mqtt_broker, fast):
    session = Session(mqtt_broker.url, f"rx-{fast}", fast=fast)
    messages = [(f"test/{i % 7}/x", bytes([i % 256]) * (i % 900) + b"\x00end") for i in range(3000)]
    assert publish_qos1(mqtt_broker.url, messages) == 3000
    # A few with PUBLISH properties, which the fast path must skip correctly.
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(mqtt_broker.host, mqtt_broker.port)
    pub.loop_start()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("site", "hà nội")
    props.MessageExpiryInterval = 3600
    for i in range(5):
        pub.publish("test/props", f"p{i}".encode() * 50, qos=1, properties=props).wait_for_publish(
            5
        )
    pub.disconnect()
    pub.loop_stop()
    session.wait_for(3005)
    session.client.ack_many([mid for _, _, mid in session.got])
    got = session.got
    session.close()
    assert sorted((t.decode(), p) for t, p, _ in got[:3000]) == sorted(messages)
    assert [p for t, p, _ in got[3000:]] == [f"p{i}".encode() * 50 for i in range(5)]


def test_acked_messages_are_not_redelivered_and_unacked_ones_are(mqtt_broker):
    first = Session(mqtt_broker.url, "rx-ack", fast=True)
    publish_qos1(mqtt_broker.url, [(f"test/{i}", f"m{i}".encode()) for i in range(200)])
    first.wait_for(200)
    acked = {p for _, p, mid in first.got[:120]}
    first.client.ack_many([mid for _, _, mid in first.got[:120]])
    time.sleep(0.3)  # let the network thread put the acks on the wire
    first.close()
    again = Session(mqtt_broker.url, "rx-ack", fast=True)
    again.wait_for(80, timeout=5)
    time.sleep(0.5)
    redelivered = {p for _, p, _ in again.got}
    again.close()
    assert len(redelivered) == 80
    assert redelivered.isdisjoint(acked)


def test_receive_maximum_bounds_the_first_window(mqtt_broker):
    session = Session(mqtt_broker.url, "rx-window", fast=True, receive_maximum=50)
    publish_qos1(mqtt_broker.url, [("test/w", b"x")] * 500)
    session.wait_for(500, timeout=1.5)
    assert len(session.got) == 50
    session.close()


def test_the_client_stops_reading_while_told_to_pause(mqtt_broker):
    # Mosquitto 2.0.11 sends everything queued once acks flow, whatever receive-maximum
    # says; the worker's own bound (stop reading the socket) must hold regardless.
    limit = {"n": 100}
    holder: list[Session] = []
    session = Session(
        mqtt_broker.url, "rx-pause", fast=True, receive_maximum=100,
        should_pause=lambda: bool(holder) and len(holder[0].got) >= limit["n"],
    )  # fmt: skip
    holder.append(session)
    payload = b"y" * 400
    publish_qos1(mqtt_broker.url, [("test/p", payload)] * 3000)
    session.wait_for(100)
    session.client.ack_many([mid for _, _, mid in session.got])
    time.sleep(1.0)
    assert len(session.got) == 100, "reads paused at the bound even after acks"
    assert session.client.paused
    limit["n"] = 3000
    done = 100
    deadline = time.monotonic() + 20
    while len(session.got) < 3000 and time.monotonic() < deadline:
        done = session.ack_from(done)
        time.sleep(0.05)
    assert len(session.got) == 3000 and not session.client.paused
    session.close()


def test_publisher_resends_what_a_restarted_broker_did_not_ack(mqtt_broker):
    # A plain subscription: Mosquitto 2.0 forgets shared ones over a restart (docs/broker.md).
    session = Session(mqtt_broker.url, "rx-restart", fast=True, topic="test/#")
    messages = [(f"test/r/{i}", f"r{i}".encode()) for i in range(20000)]
    result: list[int] = []
    with FastPublisher(mqtt_broker.url, window=500) as pub:
        thread = threading.Thread(target=lambda: result.append(pub.publish(messages)))
        thread.start()
        time.sleep(0.05)
        mqtt_broker.restart()
        thread.join(60)
        assert result == [20000]
    deadline = time.monotonic() + 20
    done = 0
    while time.monotonic() < deadline:
        # Packet ids belong to one connection: acking an older one's could ack another message.
        done = session.ack_from(done)
        with session.lock:
            payloads = {p for _, p, _ in session.got}
        if len(payloads) == 20000:
            break
        time.sleep(0.2)
    session.close()
    assert payloads == {p for _, p in messages}
