"""Poison messages through the real broker to a real feed worker: each is dead-lettered with its reason and
acknowledged, the worker stays up (same pid) and ingests what follows, and a restart is handed none of them again."""

from __future__ import annotations

import json
import signal
import time

import pytest
import redis

from feeds.contract import Reason, Rejected, encode_readings, topic
from feeds.sink import Batch, RedisSink, read_deadletter_counts, read_deadletters
from signs.catalogue import catalogue
from signs.keys import KEY_DEADLETTER, worker_key
from signs.model import MqttSource
from signs.replies import stream_range
from signs.store import read_latest
from tests.processes import stored_latest, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration


def _weather_sign():
    for sign in catalogue().signs.values():
        if isinstance(sign.source, MqttSource) and sign.source.feed == "weather":
            return sign
    raise AssertionError("no weather sign")


def _poison(station: str, field: str, now: float) -> list[tuple[str, bytes, Reason]]:
    """Each class the review found, and its neighbours, with the reason it must be dead-lettered under."""
    f = field.encode()
    deep = b"[" * 1000 + b"]" * 1000
    return [
        # The 59-byte payload: invalid UTF-8 (a UTF-16 surrogate encoded as UTF-8) in a field name.
        (station, b'{"ts":%.6f,"readings":{"waterDepth\xed\xa0\x80":84.38}}' % now, Reason.INVALID_UTF8),
        # A station sending its SenML unit in GBK.
        (station, b'[{"n":"%s","u":"%s","v":3.5}]' % (f, "毫米".encode("gbk")), Reason.INVALID_UTF8),
        # A 2 KB record carrying a 1000-deep array in a field the contract skips.
        (station, b'[{"n":"%s","v":1,"x":%s}]' % (f, deep), Reason.TOO_DEEP),
        # The same depth hidden behind "]" in strings, past the byte scan: the decoder's guard answers.
        (station, b'[{"n":"%s","v":1,"x":%s1%s}]' % (f, b'["]",' * 1200, b"]" * 1200), Reason.TOO_DEEP),
        (station, b'{"ts":%d,"readings":{"%s":%s}}' % (now, f, b"1" + b"0" * 400), Reason.NOT_FINITE),
        (station, b'{"ts":%d,"readings":{"\\ud800":1}}' % now, Reason.MALFORMED_JSON),
        (station, b"\xff\xfe\x00{\x80", Reason.MALFORMED_JSON),
        # Two values in one record (RFC 8428 allows one): the whole pack is refused.
        (station, b'[{"n":"%s","v":1,"vs":"1"}]' % f, Reason.WRONG_TYPE),
    ]


def test_poison_messages_are_dead_lettered_and_never_stop_or_return_to_the_worker(
    feed_processes, worker_env, redis_client, publisher
) -> None:
    prefix = worker_env["MQTT_CLIENT_PREFIX"]
    worker_id = f"{prefix}-1"
    worker = feed_processes(["worker", "--name", "1"], worker_env, f"{prefix}-worker-1")
    wait_worker_ready(redis_client, worker_env["MQTT_URL"], worker_id)
    pid = worker.process.pid
    sign = _weather_sign()
    station = topic(sign.source.feed, sign.source.adcode, sign.source.source_id)
    now = time.time()
    poison = _poison(station, sign.source.field, now)

    publisher.publish_all([(t, p) for t, p, _ in poison] + [(station, encode_readings(now, {sign.source.field: 7.5}))])
    wait_for(lambda: read_latest(redis_client, sign.id), what="the valid reading published after the poison")
    assert stored_latest(redis_client, sign.id).value == 7.5
    assert worker.process.poll() is None and worker.process.pid == pid
    assert json.loads(redis_client.get(worker_key(worker_id)))["pid"] == pid

    expected: dict[str, int] = {}
    for _, _, reason in poison:
        expected[reason.value] = expected.get(reason.value, 0) + 1
    wait_for(lambda: read_deadletter_counts(redis_client) == expected, what="one dead letter per poison message")
    records = read_deadletters(redis_client, count=50)
    assert sorted(r["reason"] for r in records) == sorted(r.value for _, _, r in poison)
    assert {r["bytes"] for r in records} == {str(len(p)) for _, p, _ in poison}
    assert "internal_error" not in expected and "Traceback" not in worker.log()

    # Restarted, the worker is handed none of them again: they were acknowledged with the batch that held them.
    worker.signal(signal.SIGTERM)
    worker.process.wait(15)
    worker.start()
    wait_worker_ready(redis_client, worker_env["MQTT_URL"], worker_id)
    publisher.publish_all([(station, encode_readings(time.time(), {sign.source.field: 8.5}))])
    wait_for(lambda: stored_latest(redis_client, sign.id).value == 8.5, what="a reading after the restart")
    time.sleep(0.5)
    assert read_deadletter_counts(redis_client) == expected


def test_a_dead_letter_record_of_text_redis_cannot_encode_is_still_written(redis_client: redis.Redis) -> None:
    """redis-py encodes str as strict UTF-8: a lone surrogate in a topic or detail must not fail the batch."""
    sink = RedisSink(
        redis_client, retention_days=1, deadletter_keep=100, deadletter_payload_bytes=8, readings_keep_s=60
    )
    batch = Batch(receive_ts=time.time())
    rejected = Rejected(Reason.WRONG_TYPE, "field '\ud800'")
    batch.rejected.append(("cityeye/v1/\udcff/x", b"\xed\xa0\x80\xff" * 4, rejected))
    sink.write(batch)
    (record,) = read_deadletters(redis_client)
    assert record["topic"] == "cityeye/v1/\\udcff/x"
    assert record["detail"] == "field '\\ud800'"
    assert record["bytes"] == "16"
    assert stream_range(redis_client, KEY_DEADLETTER)[0][1][b"payload"] == b"\xed\xa0\x80\xff" * 2
