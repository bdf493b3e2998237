"""Messages a broker acknowledged and then dropped are noticed: a real Mosquitto with a small per-session queue, the
feed worker away while more is published than fits, and /healthz and the wall's board saying how many were lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

import api.signs
import views.health
from feeds.board import publish_board, read_board
from feeds.contract import BrokerCounter, encode_readings, topic
from feeds.sink import Batch, RedisSink, read_broker_drops
from services.embedded import EmbeddedService, find_broker, start_broker
from signs.catalogue import catalogue
from signs.keys import KEY_BROKER
from signs.model import MqttSource
from signs.store import read_history
from tests.processes import Publisher, feed_env, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration

QUEUE = 10
PUBLISHED = 60


@pytest.fixture
def small_queue_broker(tmp_path) -> Iterator[EmbeddedService]:
    """Mosquitto as a stock install would drop: a queue of QUEUE messages per offline session."""
    if find_broker()[1] != "mosquitto":
        pytest.skip("needs mosquitto: amqtt publishes no $SYS counters")
    broker = start_broker(tmp_path / "mosquitto", max_queued_messages=QUEUE)
    yield broker
    broker.stop()


def _healthz(client: redis.Redis, mqtt_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict]:
    monkeypatch.setattr(api.signs, "shared_redis", lambda: client)
    monkeypatch.setattr(views.health, "settings", lambda: type("S", (), {"mqtt_url": mqtt_url})())
    app = Flask(__name__)
    app.register_blueprint(api.signs.signs_blueprint)
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()


def test_messages_the_broker_dropped_show_on_health_and_the_board(
    small_queue_broker, redis_service, redis_client, feed_processes, request, monkeypatch
) -> None:
    prefix = "t-drops-" + str(time.monotonic_ns())[-6:]
    env = feed_env(redis_service.url, small_queue_broker.url, MQTT_CLIENT_PREFIX=prefix, MQTT_SHARED_GROUP="")
    worker = feed_processes(["worker", "--name", "1"], env, f"{prefix}-worker")
    wait_worker_ready(redis_client, small_queue_broker.url, f"{prefix}-1")
    # The worker has heard the broker's version and its dropped count (0, the baseline) on $SYS.
    wait_for(lambda: redis_client.hexists(KEY_BROKER, "dropped:"), what="the broker's dropped count")
    before = read_broker_drops(redis_client, time.time())
    assert before.known and before.recent == 0 and before.broker.startswith("mosquitto")
    status, body = _healthz(redis_client, small_queue_broker.url, monkeypatch)
    assert body["broker"]["ok"] is True and body["broker"]["dropped"]["recent"] == 0, body

    worker.signal(signal.SIGTERM)
    worker.process.wait(15)
    sign = next(s for s in catalogue().signs.values() if isinstance(s.source, MqttSource))
    source = sign.source
    assert isinstance(source, MqttSource)
    station = topic(source.feed, source.adcode, source.source_id)
    start = time.time() - PUBLISHED
    publisher = Publisher(small_queue_broker.url)
    try:
        publisher.publish_all([(station, encode_readings(start + i, {source.field: i})) for i in range(PUBLISHED)])
    finally:
        publisher.close()

    worker.start()

    def accounted() -> bool:
        """Every reading published either landed or was counted as dropped (the queue also held status messages)."""
        landed = len(read_history(redis_client, sign.id, start - 1))
        return landed + read_broker_drops(redis_client, time.time()).recent == PUBLISHED

    wait_for(accounted, timeout=20, what="every published reading landed or counted as dropped")
    landed = len(read_history(redis_client, sign.id, start - 1))
    drops = read_broker_drops(redis_client, time.time())
    assert 0 < landed <= QUEUE and drops.recent == drops.total == PUBLISHED - landed
    assert drops.known and drops.last_at is not None

    status, body = _healthz(redis_client, small_queue_broker.url, monkeypatch)
    assert status == 503 and body["broker"]["ok"] is False
    assert body["broker"]["dropped"]["known"] is True and body["broker"]["dropped"]["recent"] == PUBLISHED - landed

    board = publish_board(redis_client, catalogue())
    assert board.dropped == PUBLISHED - landed
    stored = read_board(redis_client)
    assert stored is not None and stored.dropped == PUBLISHED - landed


def test_a_broker_that_publishes_no_counters_leaves_drops_unknown(redis_client: redis.Redis, monkeypatch, mqtt_service):
    """What amqtt (no $SYS tree) or Mosquitto with sys_interval 0 gives: nobody can say, and the health says so."""
    drops = read_broker_drops(redis_client, time.time())
    assert not drops.known and drops.as_json()["recent"] is None
    assert publish_board(redis_client, catalogue()).dropped is None
    _, body = _healthz(redis_client, mqtt_service.url, monkeypatch)
    assert body["broker"]["dropped"]["known"] is False and body["broker"]["ok"] is True


def test_drop_counts_rise_restart_and_arrive_out_of_order_per_node(redis_client: redis.Redis) -> None:
    """The counting rules of BROKER_COUNTERS_LUA on real Redis: first count a baseline, a rise that many drops, a fall
    a broker restart, an older count (another worker's late flush) ignored, each node of a cluster on its own."""
    sink = RedisSink(redis_client, retention_days=1, deadletter_keep=10, deadletter_payload_bytes=8, readings_keep_s=60)
    now = time.time()

    def heard(*counts: tuple[str, str, float]) -> None:
        batch = Batch(receive_ts=now)
        batch.broker = [(BrokerCounter(node, "dropped", value), now + at) for node, value, at in counts]
        sink.write(batch)

    heard(("", "5", 0.0))
    assert read_broker_drops(redis_client, now + 1).total == 0
    heard(("", "8", 1.0))
    heard(("", "7", 0.5))  # heard before the 8: stale
    assert read_broker_drops(redis_client, now + 2).total == 3
    heard(("", "2", 2.0))  # the broker restarted and counts afresh
    heard(("emqx@a", "100", 2.0), ("emqx@a", "101", 3.0))
    drops = read_broker_drops(redis_client, now + 4)
    assert (drops.total, drops.recent) == (6, 6)
    assert redis_client.hget(KEY_BROKER, "dropped:emqx@a") == b"101"
