"""Nobody but City Eye publishes on the topics it owns: an anonymous client's fake alert state, deleted alert state
and fake worker status are dead-lettered as forbidden_topic, and the true retained states are put back, so that a
follower subscribing afterwards sees what Redis holds."""

from __future__ import annotations

import json
import sys
import time

import pytest

from alerts import store
from alerts.model import alert_topic, retained_payload
from feeds.contract import Reason, encode_readings, owned_signature_ok, sign_owned, topic, worker_status_topic
from feeds.mqtt import broker_address, new_client
from feeds.sink import read_deadletter_counts, read_deadletters
from signs.model import MqttSource
from tests.integration.test_alerts import RetainedWatcher, _breachable, _red_value
from tests.processes import TEST_SIGNING_KEY, ChildProcess, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration
KEY = TEST_SIGNING_KEY.encode()


def _intrude(mqtt_url: str, topic_name: str, payload: bytes) -> None:
    """One retained publish by an anonymous client that holds no key, acknowledged by the broker."""
    host, port = broker_address(mqtt_url)
    intruder = new_client(f"intruder-{time.monotonic_ns()}", mqtt_url)
    intruder.connect(host, port)
    intruder.loop_start()
    try:
        intruder.publish(topic_name, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        intruder.loop_stop()
        intruder.disconnect()


def _forbidden(redis_client) -> int:
    return read_deadletter_counts(redis_client).get(Reason.FORBIDDEN_TOPIC.value, 0)


def test_forged_alert_states_and_worker_status_are_refused_and_repaired(
    feed_processes, worker_env, redis_client, publisher
) -> None:
    prefix, mqtt_url = worker_env["MQTT_CLIENT_PREFIX"], worker_env["MQTT_URL"]
    worker_id = f"{prefix}-1"
    feed_processes(["worker", "--name", "1"], worker_env, f"{prefix}-worker")
    wait_worker_ready(redis_client, mqtt_url, worker_id)
    engine = ChildProcess([sys.executable, "-m", "alerts", "run", "--name", "1"], worker_env, f"{prefix}-alerts")
    watcher = RetainedWatcher(mqtt_url)
    try:
        [sign] = _breachable(1)
        source = sign.source
        assert isinstance(source, MqttSource)
        station = topic(source.feed, source.adcode, source.source_id)
        publisher.publish_all([(station, encode_readings(time.time() - 1, {source.field: _red_value(sign)}))])
        [alert] = wait_for(lambda: store.list_active(redis_client), 30, "the alert in Redis")
        real = alert_topic(alert.id)
        true_state = sign_owned(KEY, real, retained_payload(alert))
        wait_for(lambda: watcher.payloads.get(real) == true_state, 20, "the engine's signed retained state")
        assert owned_signature_ok(KEY, real, true_state)

        # A fake state of the real alert ("resolved"), from a client without the key: refused by the worker,
        # and the engine puts the true one back for every follower.
        fake = json.loads(true_state)
        fake.update(status="resolved", open=False, sig="0" * 64)
        _intrude(mqtt_url, real, json.dumps(fake).encode())
        wait_for(lambda: _forbidden(redis_client) == 1, what="the fake state dead-lettered")
        wait_for(lambda: watcher.payloads.get(real) == true_state, 10, "the true state restored")

        # An empty retained payload deletes the retained state: only the engine can tell it is forged.
        _intrude(mqtt_url, real, b"")
        wait_for(lambda: _forbidden(redis_client) == 2, what="the deletion dead-lettered by the engine")
        wait_for(lambda: watcher.payloads.get(real) == true_state, 10, "the true state restored again")

        # A fake alert nobody raised: refused, and its retained copy deleted.
        forged = alert_topic("threshold-forged-0000")
        _intrude(mqtt_url, forged, b'{"id": "threshold-forged-0000", "level": "red", "status": "raised", "open": true}')
        wait_for(lambda: _forbidden(redis_client) == 3, what="the fake alert dead-lettered")
        wait_for(lambda: watcher.payloads.get(forged) == b"", 10, "the fake alert deleted")

        # A fake "offline" of a running worker: refused, and the worker says it is online again.
        status = worker_status_topic(worker_id)
        _intrude(mqtt_url, status, b'{"state": "offline"}')
        wait_for(lambda: _forbidden(redis_client) == 4, what="the fake status dead-lettered")
    finally:
        watcher.close()
        engine.stop()

    records = [r for r in read_deadletters(redis_client, count=20) if r["reason"] == Reason.FORBIDDEN_TOPIC.value]
    assert sorted(r["topic"] for r in records) == sorted([real, real, forged, status])
    assert store.list_active(redis_client)[0].status.value == "raised"

    # A follower subscribing now receives exactly the truth, signed: the open alert, no fake one, the worker online.
    follower = RetainedWatcher(mqtt_url)
    status_follower = new_client(f"t-status-follower-{time.monotonic_ns()}", mqtt_url)
    heard: dict[str, bytes] = {}
    status_follower.on_message = lambda _c, _u, m: heard.__setitem__(m.topic, bytes(m.payload))
    status_follower.on_connect = lambda c, *_: c.subscribe(status, qos=1)
    status_follower.connect(*broker_address(mqtt_url))
    status_follower.loop_start()
    try:
        wait_for(lambda: follower.payloads.get(real) == true_state, 10, "the true state for a new follower")
        assert forged not in follower.payloads
        wait_for(lambda: status in heard, 10, "the worker's retained status")
        assert json.loads(heard[status])["state"] == "online" and owned_signature_ok(KEY, status, heard[status])
    finally:
        status_follower.loop_stop()
        status_follower.disconnect()
        follower.close()
