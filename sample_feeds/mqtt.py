"""Broker URLs and connected paho clients for replay and record."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ioc.broker import BrokerUrl

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
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{client_id_prefix}-{uuid.uuid4().hex[:8]}",
        protocol=address.protocol,
        **({} if address.mqtt5 else {"clean_session": True}),
    )
    if address.url is not None:
        address.url.configure(client)  # credentials and TLS
    elif address.username:
        client.username_pw_set(address.username, address.password)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    conn = Connection(client)
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            failure.append(str(reason_code))
        else:
            conn.receive_maximum = getattr(properties, "ReceiveMaximum", None)
            logger.debug("connected to %s (receive maximum %s)", address, conn.receive_maximum)
        connected.set()

    def on_disconnect(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("disconnected from %s: %s; reconnecting", address, reason_code)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(address.host, address.port, keepalive=30)
    except OSError as exc:
        raise BrokerError(f"cannot connect to {address}: {exc}") from None
    if threaded:
        client.loop_start()
        connected.wait(CONNECT_TIMEOUT_S)
    else:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not connected.is_set() and time.monotonic() < deadline:
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    if not connected.is_set() or failure:
        client.loop_stop()
        reason = failure[0] if failure else f"no CONNACK within {CONNECT_TIMEOUT_S:.0f} s"
        raise BrokerError(f"cannot connect to {address}: {reason}")
    return conn
