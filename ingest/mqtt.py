"""The MQTT side of ingest: broker URLs and a paho client tuned for ack-after-commit.

`IngestClient` is a paho-mqtt 2.x `Client` with three changes, each measured on a
2-core machine (a stock paho subscriber drains ~21,000 QoS 1 msg/s from Mosquitto;
this one ~55,000):

- it reads the socket in 256 KiB chunks; stock paho makes three or four `recv`
  calls per packet (command byte, each length byte, body);
- QoS 1 PUBLISH packets go straight to a callback as (topic, payload, mid), without
  building `MQTTMessage` and `Properties` objects nobody here reads;
- `ack_many` queues the PUBACKs of a whole committed batch as one write, where
  `Client.ack` costs two system calls per message;
- while `should_pause()` is true it stops parsing incoming packets (so the socket
  fills and TCP pushes back on the broker) but keeps sending acks and pings.
  The MQTT 5 receive-maximum should make this unnecessary, but Mosquitto 2.0.11
  stops honouring it once acks flow (measured: ack 10 of a 50-message window and
  it sends the other 450 queued at once), and MQTT 3.1.1 has no such limit.

Everything else (connect, keepalive, reconnect, subscribe, session handling) is
paho's own. The overridden methods are private paho 2.x API: on another major
version the client falls back to paho's public path (on_message, ack), and
`tests/test_ingest_mqtt.py` runs both paths against a real broker.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

logger = logging.getLogger(__name__)

DEFAULT_KEEPALIVE_S = 30
# MQTT 5 receive-maximum is a 16-bit field.
MAX_RECEIVE_MAXIMUM = 65535
_PUBACK = 0x40
_READ_CHUNK = 256 * 1024
_PAUSE_S = 0.005

# The private methods overridden below are those of paho-mqtt 2.x.
FAST_PATH_SUPPORTED = paho.mqtt.__version__.split(".")[0] == "2"

PublishHandler = Callable[[bytes, bytes, int], None]


class _BufferedSocket:
    """A plain TCP socket whose recv() serves paho's small reads from one large read."""

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        pos = self._pos
        if pos == len(self._buf):
            data = self._sock.recv(_READ_CHUNK)  # BlockingIOError passes through to paho
            if not data:
                return data
            self._buf, pos = data, 0
        chunk = self._buf[pos : pos + bufsize]
        self._pos = pos + len(chunk)
        return chunk

    def pending(self) -> int:
        # paho's loop asks this (meant for TLS) and then skips waiting in select().
        return len(self._buf) - self._pos

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class IngestClient(mqtt.Client):
    """paho Client with chunked reads, a lean QoS 1 PUBLISH path and bulk acks."""

    def __init__(
        self,
        client_id: str,
        *,
        v5: bool = True,
        on_publish_bytes: PublishHandler,
        should_pause: Callable[[], bool] | None = None,
        fast: bool = FAST_PATH_SUPPORTED,
        protocol: int | None = None,
        clean_session: bool | None = None,
    ) -> None:
        # Made by ioc.broker.mqtt_client (protocol and session from the URL), or directly.
        if protocol is None:
            protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        if protocol != mqtt.MQTTv5 and clean_session is None:
            clean_session = False  # a persistent 3.1.1 session
        super().__init__(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=clean_session,
            manual_ack=True,
        )
        self.client_id = client_id
        self._on_publish_bytes = on_publish_bytes
        self._should_pause = should_pause
        self.paused = False
        self.fast = fast
        if not fast:
            self.on_message = self._on_message_slow

    def _on_message_slow(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_publish_bytes(msg.topic.encode(), msg.payload, msg.mid)

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        # Under TLS the SSL layer buffers records itself and its pending() must stay visible
        # to paho's loop, so the chunked reader is only put in front of plain TCP.
        return _BufferedSocket(sock) if self.fast and not self._ssl else sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets until the buffered chunk is used up, unless told to pause."""
        if self._pause_now():
            # The network loop goes on to write acks and pings; reading resumes later.
            time.sleep(_PAUSE_S)
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        rc = super().loop_read(max_packets)
        sock = self._sock
        while (
            rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            and isinstance(sock, _BufferedSocket)
            and sock.pending()
            and not self._pause_now()
        ):
            rc = super().loop_read(max_packets)
            sock = self._sock
        return rc

    def _pause_now(self) -> bool:
        # Never before CONNACK: the connection must be established to be paused.
        paused = self._should_pause is not None and self.is_connected() and self._should_pause()
        if paused != self.paused:
            self.paused = paused
            if paused:
                logger.debug("%s: pausing reads until the writer catches up", self.client_id)
            else:
                logger.debug("%s: reading again", self.client_id)
        return paused

    def _handle_publish(self) -> MQTTErrorCode:
        # QoS 0 and 2 (ingest uses neither) take paho's own path.
        if not self.fast or self._in_packet["command"] & 0x06 != 0x02:
            return super()._handle_publish()
        # Ingest announces no topic-alias maximum, so the topic is always spelled out.
        packet = self._in_packet["packet"]
        end = 2 + ((packet[0] << 8) | packet[1])
        topic = bytes(packet[2:end])
        mid = (packet[end] << 8) | packet[end + 1]
        pos = end + 2
        if self._protocol == mqtt.MQTTv5:
            length, shift = 0, 0
            while True:
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            pos += length
        self._on_publish_bytes(topic, bytes(packet[pos:]), mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Sequence[int]) -> None:
        """Send PUBACKs for these packet ids as one write (QoS 1, manual ack mode)."""
        if not mids:
            return
        if not self.fast:
            for mid in mids:
                self.ack(mid, 1)
            return
        packet = b"".join(struct.pack("!BBH", _PUBACK, 2, mid) for mid in mids)
        # Same path as Client.ack(), once per batch instead of once per message.
        self._packet_queue(_PUBACK, packet, 0, 0)


def connect_properties(*, session_expiry_s: int, receive_maximum: int) -> Properties:
    """CONNECT properties of a persistent ingest session with a bounded in-flight window."""
    if not 1 <= receive_maximum <= MAX_RECEIVE_MAXIMUM:
        raise ValueError(f"receive maximum must be 1..{MAX_RECEIVE_MAXIMUM}, got {receive_maximum}")
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    props.ReceiveMaximum = receive_maximum
    return props


def subscription(prefix: str, group: str, shared: bool) -> str:
    """The topic filter of ingest: `$share/{group}/{prefix}/#` when shared, else `{prefix}/#`."""
    topic = f"{prefix}/#"
    return f"$share/{group}/{topic}" if shared else topic
