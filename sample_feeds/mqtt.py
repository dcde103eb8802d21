"""Broker URLs and connected paho clients for replay and record."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from ioc.broker import BrokerConnectError, BrokerUrl, connect_and_wait, mqtt_client

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


class BrokerError(RuntimeError):
    """The broker URL is unusable or the broker cannot be reached."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and how to connect: mqtt://[user[:password]@]host[:port][?protocol=3.1.1]."""

    host: str
    port: int
    protocol: MQTTProtocolVersion
    username: str | None = None
    password: str | None = None
    url: BrokerUrl | None = None

    @property
    def mqtt5(self) -> bool:
        return self.protocol == MQTTProtocolVersion.MQTTv5

    def __str__(self) -> str:
        if self.url is not None:
            return str(self.url)  # scheme, user and CA file, never the password
        suffix = "" if self.mqtt5 else "?protocol=3.1.1"
        return f"mqtt://{self.host}:{self.port}{suffix}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL with the shared ioc.broker parser; errors become BrokerError."""
    try:
        b = BrokerUrl.parse(url)
    except ValueError as exc:
        raise BrokerError(str(exc)) from None
    protocol = MQTTProtocolVersion.MQTTv5 if b.v5 else MQTTProtocolVersion.MQTTv311
    return BrokerAddress(b.host, b.port, protocol, b.username, b.password, b)


@dataclass
class Connection:
    """A connected paho client and the broker's receive maximum (None if it set none)."""

    client: mqtt.Client
    receive_maximum: int | None = None

    def close(self) -> None:
        """Disconnect (flushing what is queued) and stop the network thread if any."""
        self.client.disconnect()
        self.client.loop_stop()


def connect(address: BrokerAddress, client_id_prefix: str, *, threaded: bool = True) -> Connection:
    """A paho client connected to the broker; threaded: with paho's network thread running.

    Without the thread the caller must run `client.loop()` itself, often enough for
    keepalive and acknowledgements.

    paho's own in-flight limit is switched off: with it on, every acknowledgement scans
    all messages in flight, which caps a fast replay at a few thousand messages per
    second. Callers bound what they have in flight themselves, to at most
    `receive_maximum` (exceeding the broker's receive maximum gets us disconnected).
    """
    broker = address.url or BrokerUrl(
        address.host, address.port, address.mqtt5, address.username, address.password
    )
    client = mqtt_client(broker, f"{client_id_prefix}-{uuid.uuid4().hex[:8]}", reconnect=(1, 10))
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    conn = Connection(client)

    def on_disconnect(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("disconnected from %s: %s; reconnecting", address, reason_code)

    client.on_disconnect = on_disconnect
    try:
        props = connect_and_wait(client, broker, timeout=CONNECT_TIMEOUT_S, threaded=threaded)
    except BrokerConnectError as exc:
        raise BrokerError(str(exc)) from None
    conn.receive_maximum = getattr(props, "ReceiveMaximum", None)
    logger.debug("connected to %s (receive maximum %s)", address, conn.receive_maximum)
    return conn
