"""paho-mqtt 2.x clients configured the one way City Eye uses them."""

from __future__ import annotations

from urllib.parse import urlparse

import paho.mqtt.client as mqtt


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of an mqtt://host:port URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"MQTT_URL must look like mqtt://host:1883, not {url!r}")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


def new_client(client_id: str, *, persistent: bool = False, manual_ack: bool = False) -> mqtt.Client:
    """MQTT 3.1.1 so that every broker we support (Mosquitto, EMQX, amqtt) accepts it.

    A persistent client keeps its session (clean_session False): QoS 1 messages published while it is
    away are queued by the broker and delivered when it returns.
    """
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client
