"""The one MQTT client set-up of the product: broker URLs, and paho clients made from them.

Every MQTT user (ingest workers, camera publishers and bridges, replay and record,
the benchmark publishers, the broker helpers) gets its client here, so the URL
forms, MQTT 3.1.1/5 choice, credentials, TLS, last will, session kind, reconnect
backoff and "connect and wait, or say clearly why not" behave the same everywhere.

URL: mqtt[s]://[user[:password]@]host[:port][?protocol=3.1.1][&cafile=path]. 'embedded'
is a settings value that only `ioc demo` turns into a URL; anywhere else it is an error
that says so.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties

logger = logging.getLogger(__name__)

DEFAULT_MQTT_PORT = 1883
DEFAULT_MQTTS_PORT = 8883
DEFAULT_KEEPALIVE_S = 30
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_RECONNECT = (1, 30)  # paho's reconnect backoff, seconds: first delay, cap
# MQTT 3.1.1 allows 23 characters; Mosquitto and most brokers accept more, paho 64.
MAX_CLIENT_ID = 64


class BrokerConnectError(ConnectionError):
    """The broker could not be reached, or refused us, within the connect timeout."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where and how to connect: mqtt[s]://[user[:password]@]host[:port][?protocol=3.1.1][&cafile=path]."""

    host: str
    port: int = DEFAULT_MQTT_PORT
    v5: bool = True
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """Parse a broker URL; ValueError says what is wrong with it."""
        if url == "embedded":
            raise ValueError(
                "the broker URL is 'embedded', which only exists inside `ioc demo`: start a "
                "broker with `ioc broker` (or use the one `ioc demo` prints) and pass its URL "
                "with --mqtt-url mqtt://host:port"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ValueError(
                f"unsupported broker URL {url!r}: use mqtt://host:port or mqtts://host:port"
            )
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        query = parse_qs(parts.query)
        protocol = query.get("protocol", ["5"])[-1]
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"unsupported MQTT protocol {protocol!r} in {url!r}: use 5 or 3.1.1")
        tls = parts.scheme in ("mqtts", "ssl")
        ca_file = query.get("cafile", [None])[-1]
        if ca_file is not None and not tls:
            raise ValueError(f"cafile in {url!r} needs TLS: use mqtts://")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"CA file {ca_file!r} of broker URL does not exist")
        try:
            port = parts.port or (DEFAULT_MQTTS_PORT if tls else DEFAULT_MQTT_PORT)
        except ValueError as exc:
            raise ValueError(f"bad port in {url!r}: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            v5=protocol == "5",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=ca_file,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context (system CAs, or only ca_file if given); None without TLS."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def configure(self, client: Any) -> None:
        """Give a paho client this URL's credentials and TLS settings."""
        if self.username:
            client.username_pw_set(self.username, self.password)
        context = self.ssl_context()
        if context is not None:
            client.tls_set_context(context)

    def __str__(self) -> str:
        query = [] if self.v5 else ["protocol=3.1.1"]
        if self.ca_file:
            query.append(f"cafile={self.ca_file}")
        suffix = "?" + "&".join(query) if query else ""
        user = f"{self.username}@" if self.username else ""  # never the password
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{user}{self.host}:{self.port}{suffix}"


@dataclass(frozen=True, slots=True)
class Will:
    """A last will: published by the broker if the client vanishes without DISCONNECT."""

    topic: str
    payload: bytes | str
    qos: int = 1
    retain: bool = True


def mqtt_client(
    broker: BrokerUrl | str,
    client_id: str,
    *,
    persistent: bool = False,
    will: Will | None = None,
    manual_ack: bool = False,
    reconnect: tuple[int, int] = DEFAULT_RECONNECT,
    client_class: type[mqtt.Client] = mqtt.Client,
    **kwargs: Any,
) -> mqtt.Client:
    """A paho 2.x client for this broker: protocol, credentials, TLS, will and backoff set.

    persistent: the broker keeps the session (and its QoS 1 queue) while we are away:
    clean_session=False on 3.1.1; on MQTT 5 pass `persistent=True` to `connect_and_wait`
    or `connect_kwargs` too (clean start is a CONNECT flag there). Extra keyword
    arguments go to `client_class` (a subclass such as ingest's IngestClient).
    """
    b = BrokerUrl.parse(broker) if isinstance(broker, str) else broker
    if b.v5:
        kwargs.setdefault("protocol", mqtt.MQTTv5)
    else:
        kwargs.setdefault("protocol", mqtt.MQTTv311)
        kwargs.setdefault("clean_session", not persistent)
    if client_class is mqtt.Client:
        kwargs.setdefault("callback_api_version", CallbackAPIVersion.VERSION2)
        client = client_class(client_id=client_id[:MAX_CLIENT_ID], manual_ack=manual_ack, **kwargs)
    else:  # a subclass with its own constructor (it decides about manual acks)
        client = client_class(client_id[:MAX_CLIENT_ID], **kwargs)
    b.configure(client)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(*reconnect)
    return client


def connect_kwargs(
    broker: BrokerUrl,
    *,
    keepalive: int = DEFAULT_KEEPALIVE_S,
    persistent: bool = False,
    properties: Properties | None = None,
) -> dict[str, Any]:
    """Arguments for paho's connect()/connect_async(): clean start and properties on MQTT 5."""
    args: dict[str, Any] = {"host": broker.host, "port": broker.port, "keepalive": keepalive}
    if broker.v5:
        args["clean_start"] = not persistent
        if properties is not None:
            args["properties"] = properties
    return args


def connect_and_wait(
    client: mqtt.Client,
    broker: BrokerUrl,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    keepalive: int = DEFAULT_KEEPALIVE_S,
    persistent: bool = False,
    properties: Properties | None = None,
    threaded: bool = True,
    retry: bool = False,
) -> Any:
    """Connect, wait for the CONNACK, return its properties (MQTT 5) or None.

    threaded: paho's network thread runs afterwards (loop_start); else the caller runs
    client.loop() itself. retry (threaded only): an unreachable broker is retried with
    the client's backoff until the timeout, instead of failing at once. Raises
    BrokerConnectError naming the broker and the reason (unreachable, refused with its
    reason code, or no CONNACK in time). The client's own on_connect, if set, is called too.
    """
    done = threading.Event()
    result: dict[str, Any] = {}
    user_on_connect = client.on_connect
    user_on_connect_fail = client.on_connect_fail

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            result.setdefault("refused", f"refused: {reason}")
        else:
            result["properties"] = props
        done.set()
        if user_on_connect is not None:
            user_on_connect(c, userdata, flags, reason, props)

    def on_connect_fail(c: mqtt.Client, userdata: Any) -> None:
        result["unreachable"] = "unreachable (connection refused or timed out)"
        if user_on_connect_fail is not None:
            user_on_connect_fail(c, userdata)

    client.on_connect = on_connect
    client.on_connect_fail = on_connect_fail
    args = connect_kwargs(broker, keepalive=keepalive, persistent=persistent, properties=properties)
    try:
        if threaded and retry:
            client.connect_async(**args)
            client.loop_start()
        else:
            try:
                client.connect(**args)
            except (OSError, ssl.SSLError) as exc:
                raise BrokerConnectError(f"cannot connect to MQTT broker {broker}: {exc}") from None
            if threaded:
                client.loop_start()
        if threaded:
            done.wait(timeout)
        else:
            deadline = time.monotonic() + timeout
            while not done.is_set() and time.monotonic() < deadline:
                if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                    break
        if "refused" in result or not done.is_set():
            if threaded:
                client.loop_stop()
            reason = (
                result.get("refused")
                or result.get("unreachable")
                or f"no CONNACK within {timeout:.0f} s"
            )
            raise BrokerConnectError(f"cannot connect to MQTT broker {broker}: {reason}")
    finally:
        client.on_connect = user_on_connect
        client.on_connect_fail = user_on_connect_fail
    return result.get("properties")
