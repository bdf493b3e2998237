"""paho-mqtt 2.x clients configured the one way City Eye uses them.

Every City Eye client of the broker (feed workers, alert engine, dispatcher, simulator, the health check, the tests'
publishers) is made by new_client or probes it with connack, so TLS, client certificates and credentials
(docs/operations.md#transports) apply to all of them alike.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, overload
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from config import TLS_MQTT_SCHEMES, Settings, redact_url, settings

PLAIN_PORT = 1883
TLS_PORT = 8883
# CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3), as an operator should read them.
CONNACK_REFUSALS = {
    1: "the broker does not accept MQTT 3.1.1",
    2: "the broker rejected the client id",
    3: "the broker is unavailable",
    4: "the broker refused the user name or password",
    # Mosquitto answers a wrong password with 5 too.
    5: "the broker refused this client: not authorised (a wrong user name or password, or no account)",
}

ClientT = TypeVar("ClientT", bound=mqtt.Client)


@dataclass(frozen=True)
class Broker:
    """Where and how to reach the broker: from MQTT_URL, with MQTT_USERNAME/MQTT_PASSWORD when the URL has none."""

    url: str
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @property
    def shown(self) -> str:
        """The URL as logs and pages may show it (no password)."""
        return redact_url(self.url)

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the broker's certificate and host name (MQTT_CA_FILE, else the system's CAs); presents the
        client certificate when one is configured."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


def broker(url: str, cfg: Settings | None = None) -> Broker:
    """The broker of an mqtt://[user:password@]host[:1883] or mqtts://...[:8883] URL and the transport settings."""
    cfg = cfg or settings()
    parsed = urlsplit(url)
    if parsed.scheme not in ("mqtt", "tcp", *TLS_MQTT_SCHEMES):
        raise ValueError(f"MQTT_URL must look like mqtt://host:1883 or mqtts://host:8883, not {redact_url(url)!r}")
    tls = parsed.scheme in TLS_MQTT_SCHEMES
    username = unquote(parsed.username) if parsed.username else cfg.mqtt_username or None
    password = unquote(parsed.password) if parsed.password is not None else cfg.mqtt_password or None
    return Broker(
        url=url,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or (TLS_PORT if tls else PLAIN_PORT),
        tls=tls,
        username=username,
        password=password,
        ca_file=cfg.mqtt_ca_file,
        cert_file=cfg.mqtt_cert_file,
        key_file=cfg.mqtt_key_file,
    )


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of MQTT_URL, for client.connect on a client new_client made for the same URL."""
    found = broker(url)
    return found.host, found.port


@overload
def new_client(
    client_id: str, url: str, *, persistent: bool = ..., manual_ack: bool = ..., cfg: Settings | None = ...
) -> mqtt.Client: ...


@overload
def new_client(
    client_id: str,
    url: str,
    *,
    persistent: bool = ...,
    manual_ack: bool = ...,
    cfg: Settings | None = ...,
    client_class: type[ClientT],
) -> ClientT: ...


def new_client(
    client_id: str,
    url: str,
    *,
    persistent: bool = False,
    manual_ack: bool = False,
    cfg: Settings | None = None,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A client for the broker of `url`, with its credentials and TLS; connect it to broker_address(url).

    MQTT 3.1.1 so that every broker we support (Mosquitto, EMQX, amqtt) accepts it. A persistent client keeps its
    session (clean_session False): QoS 1 messages published while it is away are queued by the broker and
    delivered when it returns.
    """
    target = broker(url, cfg)
    client = client_class(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if target.username is not None:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set_context(target.tls_context())
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


def connack(target: Broker, timeout_s: float = 1.0) -> str | None:
    """One MQTT 3.1.1 CONNECT (clean session, the broker's credentials and TLS), then DISCONNECT: None when the
    broker accepted it, else why not in an operator's words. Raises OSError (ssl.SSLError included) when
    unreachable."""
    client_id = b"cityeye-probe"
    flags = 0x02  # clean session
    payload = len(client_id).to_bytes(2, "big") + client_id
    if target.username is not None:
        flags |= 0x80
        payload += _utf8_field(target.username)
        if target.password is not None:
            flags |= 0x40
            payload += _utf8_field(target.password)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x0a" + payload  # protocol level 4, keepalive 10 s
    packet = b"\x10" + _remaining_length(len(body)) + body
    with socket.create_connection((target.host, target.port), timeout=timeout_s) as raw:
        sock = target.tls_context().wrap_socket(raw, server_hostname=target.host) if target.tls else raw
        with sock:
            sock.sendall(packet)
            reply = _recv_exact(sock, 4)
            if reply[0] != 0x20:
                return "the broker did not answer CONNECT with CONNACK"
            if reply[3] != 0:
                return CONNACK_REFUSALS.get(reply[3], f"the broker refused the connection (code {reply[3]})")
            sock.sendall(b"\xe0\x00")
    return None


def _utf8_field(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data
