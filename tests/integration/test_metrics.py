"""What an operator scrapes, read with prometheus-client's own parser: a real feed worker's counters move with the
messages it takes, the web tier's request latency is counted once per request across gunicorn's workers under its
route template, and /readyz says whether this instance can serve."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from feeds.board import publish_board
from feeds.contract import Reason, encode_readings, topic
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from signs.catalogue import catalogue
from signs.model import MqttSource, Sign
from tests.processes import ChildProcess, FeedProcess, Publisher, feed_env, wait_for, wait_worker_ready
from views.health import readiness

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics answer by (name, labels)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def mqtt_sign() -> Sign:
    return next(s for s in catalogue().signs.values() if isinstance(s.source, MqttSource))


def test_a_feed_workers_counters_move_with_the_messages_it_takes(
    feed_processes: Callable[..., FeedProcess],
    worker_env: dict[str, str],
    redis_client: redis.Redis,
    publisher: Publisher,
) -> None:
    port = free_port()
    env = {**worker_env, "METRICS_PORT": str(port)}
    sign = mqtt_sign()
    source = sign.source
    assert isinstance(source, MqttSource)
    # Only the sign's feed: the session's broker may still hold other tests' retained states, which a worker of the
    # whole tree would count as received while this test counts.
    feed_processes(["worker", "--name", "1", "--feeds", source.feed], env, f"{worker_env['MQTT_CLIENT_PREFIX']}-worker")
    wait_worker_ready(redis_client, worker_env["MQTT_URL"], f"{worker_env['MQTT_CLIENT_PREFIX']}-1")
    url = f"http://127.0.0.1:{port}/metrics"
    before = scrape(url)
    assert value(before, "cityeye_broker_connected") == 1.0

    where = topic(source.feed, source.adcode, source.source_id)
    readings = [(where, encode_readings(time.time() - 10 + i, {source.field: 1.0 + i})) for i in range(10)]
    publisher.publish_all([*readings, (where, b"{not json")])

    def moved(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    def counted() -> Samples | None:
        samples = scrape(url)
        return samples if moved(samples, "cityeye_ingest_messages_written_total") >= 11 else None

    after = wait_for(counted, 15, "the eleven messages written")
    assert moved(after, "cityeye_ingest_messages_received_total") == 11
    assert moved(after, "cityeye_ingest_messages_written_total") == 11
    assert moved(after, "cityeye_ingest_messages_deadlettered_total", reason=Reason.MALFORMED_JSON.value) == 1
    assert moved(after, "cityeye_ingest_batch_size_sum") == 11
    assert moved(after, "cityeye_ingest_batch_size_count") >= 1
    assert value(after, "cityeye_ingest_flush_seconds_count") == value(after, "cityeye_ingest_batch_size_count")


def test_the_web_tiers_requests_are_counted_once_across_its_workers_by_route_template(
    redis_service: EmbeddedService, mqtt_service: EmbeddedService, tmp_path: Path
) -> None:
    port, metrics_dir = free_port(), tmp_path / "metrics"
    metrics_dir.mkdir()
    env = feed_env(
        redis_service.url,
        mqtt_service.url,
        RUN_DIR=str(tmp_path / "run"),
        ENVIRONMENT="development",
        WEB_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    cfg = Settings(redis_url=redis_service.url, mqtt_url=mqtt_service.url, web_workers=2)
    web = ChildProcess(gunicorn_command(cfg, port), env, "metrics-web")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/metrics"), 90, "the web tier")
        sign = mqtt_sign()
        for _ in range(20):
            assert _answers(f"{base}/api/v1/signs/{sign.id}") in (200, 404)
        samples = scrape(base + "/metrics")
        route = "/api/v1/signs/<sign_id>"
        counts = {
            labels: n
            for (name, labels), n in samples.items()
            if name == "cityeye_http_request_duration_seconds_count" and ("route", route) in labels
        }
        assert sum(counts.values()) == 20, counts
        assert not any(sign.id in dict(labels)["route"] for _, labels in samples if "route" in dict(labels))
        assert len(list(metrics_dir.glob("histogram_*.db"))) >= 1
    finally:
        web.stop()


def _answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_readyz_says_whether_this_instance_can_serve(web_server: Flask, redis_client: redis.Redis) -> None:
    client = web_server.test_client()
    not_yet = client.get("/readyz")
    assert not_yet.status_code == 503
    assert not_yet.json is not None and not_yet.json["board"]["ok"] is False and not_yet.json["redis"]["ok"] is True

    publish_board(redis_client, catalogue())
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json is not None and ready.json["catalogue"]["signs"] == len(catalogue().signs)


def test_an_instance_without_redis_is_not_ready() -> None:
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=1)
    doc = readiness(unreachable, time.time())
    assert doc["ok"] is False and doc["redis"]["ok"] is False and doc["board"]["ok"] is False

