"""Fixtures for the tests that run City Eye's real processes (helpers live in tests/processes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from services.embedded import EmbeddedService
from tests.processes import FeedProcess, Publisher, feed_env


@pytest.fixture
def publisher(mqtt_service: EmbeddedService) -> Iterator[Publisher]:
    pub = Publisher(mqtt_service.url)
    yield pub
    pub.close()


@pytest.fixture
def feed_processes() -> Iterator[Callable[..., FeedProcess]]:
    """Factory for feed children; all are stopped at the end of the test."""
    started: list[FeedProcess] = []

    def start(args: list[str], env: dict[str, str], log_name: str) -> FeedProcess:
        process = FeedProcess(args, env, log_name)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def worker_env(redis_service: EmbeddedService, mqtt_service: EmbeddedService, request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for workers of this test: a client-id prefix of its own, so sessions never mix."""
    prefix = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return feed_env(redis_service.url, mqtt_service.url, MQTT_CLIENT_PREFIX=prefix, MQTT_SHARED_GROUP="")
