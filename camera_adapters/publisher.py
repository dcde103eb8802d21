"""Where canonical events go: the MQTT broker (QoS 1), stdout, or a list in tests.

The MQTT publisher keeps a retained `DeviceStatus` per device at
`{prefix}/{province}/status/{source}` and registers an offline status as its last
will, so the dashboard shows a camera as unmonitored when its adapter dies.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Protocol

import paho.mqtt.client as mqtt

from ioc.broker import BrokerConnectError, BrokerUrl, Will, connect_and_wait, mqtt_client
from ioc.events import TOPIC_PREFIX, DeviceStatus, Event

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    """Anything that takes canonical events and device statuses."""

    def publish(self, event: Event) -> None:
        """Send one canonical event."""

    def status(self, status: DeviceStatus, province: str) -> None:
        """Send a device's (retained) status."""

    def close(self) -> None:
        """Flush and release the connection."""


def device_status(
    source: str,
    state: str,
    *,
    ts: datetime | None = None,
    name: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> DeviceStatus:
    """A camera's status message."""
    return DeviceStatus(
        source=source,
        state=state,
        ts=ts or datetime.now(UTC),
        domain="camera",
        name=name,
        lat=lat,
        lon=lon,
    )


class MemorySink:
    """Collects everything (tests, `translate`)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.statuses: list[tuple[str, DeviceStatus]] = []
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        """Keep the event."""
        with self._lock:
            self.events.append(event)

    def status(self, status: DeviceStatus, province: str) -> None:
        """Keep the status with its province."""
        with self._lock:
            self.statuses.append((province, status))

    def close(self) -> None:
        """Nothing to release."""


class StreamSink:
    """One line per message, `topic payload`, like `mosquitto_sub -v` (for --stdout)."""

    def __init__(self, stream: IO[str] | None = None, prefix: str = TOPIC_PREFIX) -> None:
        self.stream = stream or sys.stdout
        self.prefix = prefix
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        """Print `topic payload`."""
        with self._lock:
            print(event.topic(self.prefix), event.to_json().decode(), file=self.stream, flush=True)

    def status(self, status: DeviceStatus, province: str) -> None:
        """Print the status topic and payload."""
        with self._lock:
            payload = status.model_dump_json(exclude_none=True)
            print(status.topic(province, self.prefix), payload, file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release."""


class MqttPublisher:
    """Publishes events at QoS 1 and retained statuses, with an offline last will."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        will: tuple[DeviceStatus, str] | None = None,
        prefix: str = TOPIC_PREFIX,
        connect_timeout_s: float = 10.0,
    ) -> None:
        broker = BrokerUrl.parse(url)
        self.prefix = prefix
        self.will = will
        last_will = None
        if will is not None:
            status, province = will
            last_will = Will(
                status.topic(province, prefix), status.model_dump_json(exclude_none=True)
            )
        self.client = mqtt_client(broker, client_id, will=last_will)
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        try:
            connect_and_wait(self.client, broker, timeout=connect_timeout_s, retry=True)
        except BrokerConnectError as exc:
            raise ConnectionError(
                f"no MQTT broker answered at {broker.host}:{broker.port}: {exc}"
            ) from None

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker refused connection: %s", reason_code)
            return
        logger.info("connected to broker")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("disconnected from broker (%s); paho reconnects", reason_code)

    def _track(self, info: mqtt.MQTTMessageInfo) -> None:
        with self._lock:
            self._pending = [m for m in self._pending if not m.is_published()]
            self._pending.append(info)

    def publish(self, event: Event) -> None:
        """QoS 1; paho queues while the broker is away and sends on reconnect."""
        self._track(self.client.publish(event.topic(self.prefix), event.to_json(), qos=1))

    def status(self, status: DeviceStatus, province: str) -> None:
        """Retained, so a dashboard that connects later still sees the last state."""
        payload = status.model_dump_json(exclude_none=True)
        self._track(
            self.client.publish(status.topic(province, self.prefix), payload, qos=1, retain=True)
        )

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every message so far is acknowledged by the broker."""
        with self._lock:
            pending = list(self._pending)
        deadline = time.monotonic() + timeout_s
        for info in pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                info.wait_for_publish(left)
            except (RuntimeError, ValueError):
                return False
            if not info.is_published():
                return False
        return True

    def close(self) -> None:
        """Flush, then disconnect cleanly (a clean disconnect does not fire the will)."""
        if not self.flush():
            logger.warning("some messages were not acknowledged before shutdown")
        self.client.disconnect()
        self.client.loop_stop()
