"""Machine reports over MQTT through the real dispatcher and feed worker: a tower camera's straw-burning detection
becomes an event dispatched to the township; a malformed one is dead-lettered once, with its reason; the response
clock runs out and the event escalates to the county centre, told through a robot that failed once and was retried;
every state is published retained and signed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from dispatch.contract import encode_report, intake_topic, state_topic
from dispatch.notify import read_deliveries
from dispatch.store import list_open
from feeds.contract import owned_signature_ok
from feeds.sink import read_deadletters
from services.embedded import EmbeddedService
from tests.dispatching import channels_file, following_states, receiving, start_dispatcher
from tests.processes import TEST_SIGNING_KEY, FeedProcess, Publisher, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration


def test_detections_dispatch_escalate_and_notify(
    redis_client: redis.Redis,
    redis_service: EmbeddedService,
    mqtt_service: EmbeddedService,
    publisher: Publisher,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    worker = FeedProcess(["worker", "--name", "ev"], worker_env, "dispatch-feed-worker")
    units = ["D17@420625", "CTR@420625", "D13", "D09"]
    with receiving(fail_first=1) as receiver, following_states(mqtt_service.url, "t-events-state-follower") as states:
        # 1000 times shorter limits: the 30-minute response limit runs out after 1.8 s.
        dispatcher = start_dispatcher(
            redis_service.url, mqtt_service.url, "pipeline", DISPATCH_TIME_SCALE="1000",
            DISPATCH_CHANNELS_FILE=str(channels_file(tmp_path, receiver, units)),
        )  # fmt: skip
        try:
            wait_worker_ready(redis_client, mqtt_service.url, f"{worker_env['MQTT_CLIENT_PREFIX']}-ev")
            wait_for(lambda: redis_client.keys("ce:{events}:dispatcher:*"), 30, "the dispatcher up")
            now = time.time()
            detection = encode_report(
                now, "camera", "0700101", lat=32.27, lon=111.63, township="420625101", confidence=0.93,
                snapshot_url="http://video.example/frames/1.jpg", ref="42062500001320000321",
            )  # fmt: skip
            malformed = encode_report(now, "camera", "0700101", lat=32.27, lon=111.63, confidence=3.5)
            publisher.publish_all([(intake_topic("420625", "TOWER-0321"), detection),
                                   (intake_topic("420625", "TOWER-0322"), malformed)])  # fmt: skip
            events = wait_for(lambda: list_open(redis_client), 20, "an event from the detection")
            assert len(events) == 1
            event = events[0]
            assert (event.source.value, event.source_ref, event.confidence) == ("camera", "42062500001320000321", 0.93)
            assert event.location.district == "420625" and event.location.township == "420625101"
            assert event.media == ("http://video.example/frames/1.jpg",)

            def escalated() -> list[dict[str, str]]:
                return [
                    d for d in read_deliveries(redis_client) if d["kind"] == "escalated" and d["status"] == "delivered"
                ]

            wait_for(escalated, 20, "the escalation delivered")
            stored = list_open(redis_client)[0]
            assert str(stored.unit) == "D17@420625101" and stored.status.value == "dispatched"
            assert str(stored.supervisor) == "CTR@420625" and [c.value for c in stored.overdue] == ["response"]
            # Dispatched: the township centre (through its county's channel) and both co-dispatched departments.
            assert receiver.to("D13") and receiver.to("D09")
            # Notices are delivered one by one (the refused one retried after its backoff): wait for the unit's two.
            def told_unit() -> bool:
                titles = [m["title"] for m in receiver.to("D17@420625")]
                return any("派单" in t for t in titles) and any("响应超时" in t for t in titles)

            wait_for(told_unit, 20, "the unit told of its dispatch and of its overdue response")
            assert "超时升级督办" in receiver.to("CTR@420625")[0]["title"]
            deliveries = read_deliveries(redis_client)
            assert receiver.refused == 1 and [d["status"] for d in deliveries].count("failed") == 1
            failed = next(d for d in deliveries if d["status"] == "failed")
            assert any(d["notice_id"] == failed["notice_id"] and d["status"] == "delivered" for d in deliveries)

            dead = read_deadletters(redis_client)
            assert [(d["topic"], d["reason"]) for d in dead] == [(intake_topic("420625", "TOWER-0322"), "wrong_type")]
            assert "confidence 3.5" in dead[0]["detail"]

            topic = state_topic(event.id)
            wait_for(lambda: json.loads(states.get(topic) or b"{}").get("escalations") == 1, 10, "the state published")
            assert owned_signature_ok(TEST_SIGNING_KEY.encode(), topic, states[topic])
        finally:
            dispatcher.stop()
            worker.stop()
    assert "Traceback" not in dispatcher.log()


def test_a_report_filed_while_the_dispatcher_is_away_waits_at_the_broker(
    redis_client: redis.Redis, redis_service: EmbeddedService, mqtt_service: EmbeddedService, publisher: Publisher
) -> None:
    dispatcher = start_dispatcher(redis_service.url, mqtt_service.url, "away")
    try:
        wait_for(lambda: redis_client.keys("ce:{events}:dispatcher:*"), 30, "the dispatcher up")
    finally:
        dispatcher.stop()
    hotline = encode_report(time.time(), "hotline", "1100101", township="420606001", ref="12345-20261201-0042")
    publisher.publish(intake_topic("420606", "HOTLINE"), hotline).wait_for_publish(10)
    dispatcher.start()
    try:
        events = wait_for(
            lambda: [e for e in list_open(redis_client) if e.status.value == "dispatched"], 30, "dispatched"
        )
        assert events[0].source_ref == "12345-20261201-0042" and str(events[0].unit) == "D08"
    finally:
        dispatcher.stop()
