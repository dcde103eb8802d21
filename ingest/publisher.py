"""A lean QoS 1 publisher for benchmarks and fault tests.

It pipelines PUBLISH packets over one MQTT 3.1.1 connection with a window of
unacknowledged messages and counts PUBACKs, so it costs a few microseconds per
message and leaves the CPU to the broker and the subscriber being measured (a
paho publisher needs a core of its own for ~8,000 msg/s here). After a lost
connection it reconnects and resends what was not acknowledged, as QoS 1 requires.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import struct
import time
from collections.abc import Sequence

from ioc.broker import BrokerUrl, connect_and_wait, mqtt_client

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 2000
_PUBACK = 0x40
_CONNACK = 0x20


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def connect_packet(
    client_id: str,
    keepalive: int = 60,
    clean: bool = True,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """An MQTT 3.1.1 CONNECT packet, with username and password if given."""
    flags = 0x02 if clean else 0x00
    if username is not None:
        flags |= 0x80
        if password is not None:
            flags |= 0x40
    body = _string(b"MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    body += _string(client_id.encode())
    if username is not None:
        body += _string(username.encode())
        if password is not None:
            body += _string(password.encode())
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(
    topic: bytes, payload: bytes, mid: int, *, retain: bool = False, dup: bool = False
) -> bytes:
    """An MQTT QoS 1 PUBLISH packet (3.1.1 framing)."""
    header = 0x32 | (0x01 if retain else 0) | (0x08 if dup else 0)
    body_len = 2 + len(topic) + 2 + len(payload)
    return (
        bytes([header])
        + _remaining_length(body_len)
        + _string(topic)
        + struct.pack("!H", mid)
        + payload
    )


class PublishError(Exception):
    """The broker could not be reached (or kept refusing) within the timeout."""


class FastPublisher:
    """Publishes a sequence of (topic, payload) at QoS 1 and returns once all are acknowledged."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str = "ioc-fast-publisher",
        window: int = DEFAULT_WINDOW,
        reconnect_timeout_s: float = 60.0,
    ) -> None:
        self.broker = BrokerUrl.parse(url)
        self.client_id = client_id
        self.window = max(1, min(window, 65000))
        self.reconnect_timeout_s = reconnect_timeout_s
        self.reconnects = 0
        self._sock: socket.socket | None = None

    def _connect(self) -> None:
        deadline = time.monotonic() + self.reconnect_timeout_s
        while True:
            sock: socket.socket | None = None
            try:
                sock = socket.create_connection((self.broker.host, self.broker.port), timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                context = self.broker.ssl_context()
                if context is not None:
                    sock = context.wrap_socket(sock, server_hostname=self.broker.host)
                sock.sendall(
                    connect_packet(
                        self.client_id, username=self.broker.username, password=self.broker.password
                    )
                )
                connack = b""
                while len(connack) < 4:
                    chunk = sock.recv(4 - len(connack))
                    if not chunk:
                        raise ConnectionError("broker closed the connection before CONNACK")
                    connack += chunk
                if connack[0] == _CONNACK and connack[3] in (4, 5):
                    # Bad credentials or not authorised: retrying cannot help.
                    raise PublishError(f"broker {self.broker} refused the credentials")
                if connack[0] != _CONNACK or connack[3] != 0:
                    raise ConnectionError(f"broker refused the connection: {connack!r}")
                self._sock = sock
                return
            except ssl.SSLCertVerificationError as exc:
                sock.close()  # type: ignore[union-attr]
                raise PublishError(f"broker {self.broker} certificate not trusted: {exc}") from exc
            except OSError as exc:
                # A broker restarting can accept and then drop the connection: close our end.
                if sock is not None:
                    sock.close()
                if time.monotonic() > deadline:
                    raise PublishError(f"cannot connect to {self.broker}: {exc}") from exc
                time.sleep(0.2)
            except PublishError:
                sock.close()  # type: ignore[union-attr]
                raise

    def close(self) -> None:
        """Send DISCONNECT and close."""
        if self._sock is not None:
            try:
                self._sock.sendall(b"\xe0\x00")
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    def publish(
        self, messages: Sequence[tuple[str | bytes, bytes]], *, retain: bool = False
    ) -> int:
        """Publish all messages at QoS 1; return how many the broker acknowledged (all of them)."""
        topics = [t.encode() if isinstance(t, str) else t for t, _ in messages]
        n = len(messages)
        inflight: dict[int, int] = {}  # packet id -> message index
        next_index = 0
        next_mid = 1
        acked = 0
        buf = bytearray()
        if self._sock is None:
            self._connect()
        while acked < n:
            try:
                if self._sock is None:
                    self._connect()
                    # QoS 1: everything not acknowledged is sent again, flagged as a duplicate.
                    # Inside the try: the new connection may fail too, and is retried the same way.
                    resend = bytearray()
                    for mid, index in inflight.items():
                        resend += publish_packet(
                            topics[index], messages[index][1], mid, retain=retain, dup=True
                        )
                    if resend:
                        self._sock.sendall(resend)  # type: ignore[union-attr]
                sock = self._sock
                assert sock is not None
                out = bytearray()
                while next_index < n and len(inflight) < self.window and len(out) < 262144:
                    while next_mid in inflight:
                        next_mid = next_mid % 65535 + 1
                    out += publish_packet(
                        topics[next_index], messages[next_index][1], next_mid, retain=retain
                    )
                    inflight[next_mid] = next_index
                    next_index += 1
                    next_mid = next_mid % 65535 + 1
                if out:
                    sock.sendall(out)
                must_wait = next_index >= n or len(inflight) >= self.window
                readable, _, _ = select.select([sock], [], [], 10.0 if must_wait else 0)
                if not readable:
                    if must_wait:
                        raise ConnectionError("no PUBACK from the broker for 10 s")
                    continue
                data = sock.recv(262144)
                if not data:
                    raise ConnectionError("broker closed the connection")
                buf += data
                acked += self._consume_acks(buf, inflight)
            except OSError as exc:
                self.reconnects += 1
                logger.info("publisher lost the broker (%s); reconnecting", exc)
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
                buf.clear()
        return acked

    @staticmethod
    def _consume_acks(buf: bytearray, inflight: dict[int, int]) -> int:
        acked = 0
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            header = buf[pos]
            length, shift, i = 0, 0, pos + 1
            complete = False
            while i < end:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    complete = True
                    break
            if not complete or i + length > end:
                break
            if header & 0xF0 == _PUBACK and length >= 2:
                mid = (buf[i] << 8) | buf[i + 1]
                if inflight.pop(mid, None) is not None:
                    acked += 1
            pos = i + length
        del buf[:pos]
        return acked

    def __enter__(self) -> FastPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_qos1(
    url: str,
    messages: Sequence[tuple[str | bytes, bytes]],
    *,
    client_id: str = "ioc-fast-publisher",
    retain: bool = False,
    window: int = DEFAULT_WINDOW,
) -> int:
    """Publish messages at QoS 1 over one connection; return the number acknowledged."""
    with FastPublisher(url, client_id=client_id, window=window) as pub:
        return pub.publish(messages, retain=retain)


def publish_with_paho(
    url: str,
    messages: Sequence[tuple[str | bytes, bytes]],
    *,
    client_id: str = "ioc-paho-publisher",
    window: int = 1000,
) -> int:
    """Publish at QoS 1 with a stock paho-mqtt client (the way most devices and tools do)."""
    import paho.mqtt.client as mqtt

    broker = BrokerUrl.parse(url)
    client = mqtt_client(broker, client_id)
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    acked = 0

    def on_publish(
        c: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        nonlocal acked
        acked += 1

    client.on_publish = on_publish
    connect_and_wait(client, broker)
    try:
        info = None
        for sent, (topic, payload) in enumerate(messages):
            # paho queues without limit but packet ids wrap at 65,535: stay well below.
            while sent - acked >= 50000:
                time.sleep(0.001)
            info = client.publish(
                topic if isinstance(topic, str) else topic.decode(), payload, qos=1
            )
        if info is not None:
            info.wait_for_publish(120)
        deadline = time.monotonic() + 120
        while acked < len(messages) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    return acked
