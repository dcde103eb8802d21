"""An MQTT observer for the tests, made with the product's one client set-up (ioc.broker)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ioc.broker import BrokerUrl, connect_and_wait, mqtt_client


def subscriber(
    url: str,
    topic: str,
    on_message: Callable[[Any, Any, Any], None],
    *,
    client_id: str,
    qos: int = 1,
    timeout: float = 5.0,
) -> Any:
    """A client connected to the broker at `url` and subscribed to `topic` (its SUBACK seen),
    with its network thread running; the caller stops it (loop_stop, disconnect)."""
    broker = BrokerUrl.parse(url)
    client = mqtt_client(broker, client_id)
    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    connect_and_wait(client, broker)
    client.subscribe(topic, qos=qos)
    if not subscribed.wait(timeout):
        client.loop_stop()
        client.disconnect()
        raise TimeoutError(f"no SUBACK for {topic!r} within {timeout} s")
    return client
