"""Fixtures for the tests that run City Eye's real processes (helpers live in tests/processes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from services.embedded import EmbeddedService
from tests.processes import FeedProcess, Publisher, feed_env
from tests.web import production_app


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
def worker_env(
    redis_service: EmbeddedService, mqtt_service: EmbeddedService, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Environment for workers of this test: a client-id prefix of its own, so sessions never mix."""
    prefix = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return feed_env(redis_service.url, mqtt_service.url, MQTT_CLIENT_PREFIX=prefix, MQTT_SHARED_GROUP="")


@pytest.fixture(scope="module")
def web_server(
    redis_service: EmbeddedService, mqtt_service: EmbeddedService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The whole web app (app.server: every endpoint, the request guard, the Dash pages) in production mode on
    the session's Redis and broker, for Flask's test client (tests.web)."""
    with production_app(redis_service.url, mqtt_service.url, tmp_path_factory.mktemp("web")) as server:
        yield server
