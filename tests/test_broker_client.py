"""The one MQTT client set-up (ioc.broker.client) against a real Mosquitto."""

from __future__ import annotations

import socket
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from ioc.broker import (
    BrokerConnectError,
    BrokerUrl,
    Will,
    connect_and_wait,
    free_port,
    mqtt_client,
)


def test_protocol_and_session_follow_the_url() -> None:
    v311 = mqtt_client("mqtt://127.0.0.1:1?protocol=3.1.1", "c1", persistent=True)
    assert v311.protocol == mqtt.MQTTv311
    assert v311._clean_session is False
    v5 = mqtt_client("mqtt://127.0.0.1:1", "c2")
    assert v5.protocol == mqtt.MQTTv5
    with pytest.raises(ValueError, match="only exists inside `ioc demo`"):
        mqtt_client("embedded", "c3")


def test_unreachable_broker_is_a_clear_error() -> None:
    port = free_port()
    broker = BrokerUrl.parse(f"mqtt://127.0.0.1:{port}")
    with pytest.raises(BrokerConnectError, match=f"127.0.0.1:{port}"):
        connect_and_wait(mqtt_client(broker, "c4"), broker)
    # Retrying until the timeout names the cause too.
    with pytest.raises(BrokerConnectError, match="unreachable"):
        connect_and_wait(mqtt_client(broker, "c5"), broker, timeout=1.5, retry=True)


@pytest.mark.mqtt
@pytest.mark.parametrize("query", ["", "?protocol=3.1.1"])
def test_connects_and_the_will_fires_when_the_client_vanishes(mqtt_broker, query: str) -> None:
    broker = BrokerUrl.parse(mqtt_broker.url + query)
    topic = f"test/will/{uuid.uuid4().hex[:6]}"
    got: list[bytes] = []
    arrived = threading.Event()

    watcher = mqtt_client(broker, "watcher")
    watcher.on_message = lambda c, u, m: (got.append(m.payload), arrived.set())
    connect_and_wait(watcher, broker)
    watcher.subscribe(topic, qos=1)

    device = mqtt_client(broker, "device", will=Will(topic, b"offline"))
    on_connect_calls: list[int] = []
    device.on_connect = lambda *a: on_connect_calls.append(1)
    connect_and_wait(device, broker)
    assert on_connect_calls == [1]  # the caller's on_connect still runs
    try:
        # Vanish without DISCONNECT: shut the socket under paho.
        sock = device.socket()
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)
        assert arrived.wait(20), "the broker did not publish the last will"
        assert got == [b"offline"]
    finally:
        device.loop_stop()
        watcher.disconnect()
        watcher.loop_stop()
