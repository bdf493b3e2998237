"""Two dispatchers run hot at once, with real processes on the real broker and Redis: a stream of machine reports
reaches both, the one holding the "events" lease is SIGKILLed mid-stream, the other takes the tick over within 5 s,
and every report the broker acknowledged is filed exactly once as one event, a malformed one dead-lettered once.

Through a shared subscription (DISPATCH_SHARED_GROUP) the broker gives each report to one of them, and Mosquitto
keeps giving the killed one its share, queued in its session until it returns: those reports arrive once it is
restarted under the same name. Through plain subscriptions each hears every report and the report's identity files
it once: the survivor alone files every report, and the killed one's queued copies, once it is back, are duplicates.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
import time
from collections import Counter

import pytest
import redis

from dispatch.contract import encode_report, intake_topic
from dispatch.dispatcher import EVENTS_JOB
from dispatch.store import list_reported
from feeds.sink import read_deadletters
from services.embedded import EmbeddedService
from signs.keys import dispatcher_key
from tests.integration.test_failover_lease import TAKEOVER_LIMIT_S, Pair, kill_active_and_time_takeover
from tests.processes import ChildProcess, Publisher, feed_env, wait_for

pytestmark = pytest.mark.integration

REPORTS = 200
RATE_PER_S = 100.0  # the stream lasts about 2 s, and the kill falls in its middle
MALFORMED = REPORTS // 2  # this one's confidence is out of range
LEASE_TTL_S = "3"
TOPIC = intake_topic("420606", "HOTLINE-HOT-PAIR")


def report(index: int) -> bytes:
    """A 12345 ticket of its own ref."""
    confidence = 3.5 if index == MALFORMED else None
    return encode_report(time.time(), "hotline", "1100101", township="420606001", ref=f"HOT-{index:04d}",
                         confidence=confidence)  # fmt: skip


def figures(client: redis.Redis, dispatcher_id: str) -> dict[str, int]:
    """A dispatcher's counts as its newest heartbeat gives them (a killed one's last stays 15 s)."""
    raw = client.get(dispatcher_key(dispatcher_id))
    return json.loads(raw) if raw else {}


def handled(counts: dict[str, int]) -> int:
    return counts.get("filed", 0) + counts.get("duplicates", 0) + counts.get("rejected", 0)


def filed_refs(client: redis.Redis) -> Counter[str]:
    return Counter(e.source_ref for e in list_reported(client, 0, time.time() + 60, 100_000))


def name_of(child: ChildProcess) -> str:
    return child.argv[-1]


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "plain"])
def test_two_dispatchers_hot_file_every_report_once_across_a_sigkill(
    shared: bool,
    redis_client: redis.Redis,
    redis_service: EmbeddedService,
    mqtt_service: EmbeddedService,
    publisher: Publisher,
) -> None:
    if shared and mqtt_service.kind == "amqtt":
        pytest.skip("amqtt has no shared subscriptions")
    run = secrets.token_hex(3)  # sessions and group of this run's own on the session's broker
    names = [f"hot-{run}-a", f"hot-{run}-b"]
    env = feed_env(
        redis_service.url, mqtt_service.url, DISPATCH_TICK_S="0.1", LEASE_TTL_S=LEASE_TTL_S,
        DISPATCH_SHARED_GROUP=f"hot-{run}" if shared else "",
    )  # fmt: skip
    pair = Pair([[sys.executable, "-m", "dispatch", "run", "--name", n] for n in names], env, f"hot-pair-{run}")
    ids = {name: f"cityeye-dispatch-{name}" for name in names}
    try:
        payloads: dict[int, bytes] = {}
        started: list[float] = []  # when each report's publish began, in order

        def publish(index: int) -> None:
            payloads[index] = report(index)
            started.append(time.monotonic())
            publisher.publish(TOPIC, payloads[index]).wait_for_publish(30)

        def both_ready() -> bool:  # each has handled a report (a shared subscription alternates between them)
            publish(len(started))
            return all(handled(figures(redis_client, i)) for i in ids.values())

        wait_for(lambda: all(figures(redis_client, i) for i in ids.values()), 60, "both dispatchers up")
        wait_for(both_ready, 30, "both dispatchers subscribed")
        first = len(started)

        def stream() -> None:
            for index in range(first, REPORTS):
                publish(index)
                time.sleep(1 / RATE_PER_S)

        streaming = threading.Thread(target=stream)
        streaming.start()
        wait_for(lambda: len(started) >= (first + REPORTS) // 2, 30, "the stream's middle")
        before = {name: figures(redis_client, i) for name, i in ids.items()}
        takeover_s, killed_pid, _ = kill_active_and_time_takeover(redis_client, pair, EVENTS_JOB)
        killed_at = time.monotonic() - takeover_s
        killed = pair.by_pid(killed_pid)
        killed_name = name_of(killed)
        [survivor] = [n for n in names if n != killed_name]
        killed_last = figures(redis_client, ids[killed_name])
        streaming.join(60)
        assert len(payloads) == REPORTS
        # Published once the killed one was dead: in its session's queue (plain), or a share of them (shared).
        queued = sum(1 for at in started if at >= killed_at)

        wanted = {f"HOT-{i:04d}" for i in range(REPORTS) if i != MALFORMED}
        if shared:

            def quiet() -> int | None:  # the survivor done with its share: no new event for a second
                count = len(filed_refs(redis_client))
                time.sleep(1.0)
                return count if count == len(filed_refs(redis_client)) else None

            waiting = len(wanted) - wait_for(quiet, 20, "the survivor done with its share")
        else:
            wait_for(lambda: wanted <= set(filed_refs(redis_client)), 20, "every report filed by the survivor")
            waiting = len(wanted - set(filed_refs(redis_client)))
        killed.start()  # the same name: its persistent session, and what the broker queued in it
        assert killed.process is not None
        restarted_pid = killed.process.pid

        def restarted() -> dict[str, int] | None:
            counts = figures(redis_client, ids[killed_name])
            return counts if counts.get("pid") == restarted_pid else None

        if not shared:
            wait_for(lambda: handled(restarted() or {}) >= queued, 30, "the restarted one through its queue")
        wait_for(lambda: wanted <= set(filed_refs(redis_client)), 30, "every report filed")
        wait_for(restarted, 30, "the restarted one's heartbeat")

        # Some reports again, byte for byte, as a redelivery or a field system's resend carries them: no new event.
        again = list(range(first, first + 20))

        def duplicates() -> int:
            return sum(figures(redis_client, i).get("duplicates", 0) for i in ids.values())

        before_again = duplicates()
        publisher.publish_all([(TOPIC, payloads[i]) for i in again])
        copies = len(again) * (1 if shared else len(names))  # without a group each dispatcher hears each copy
        wait_for(lambda: duplicates() >= before_again + copies, 20, "the copies refused as duplicates")

        refs = filed_refs(redis_client)
        after = {name: figures(redis_client, i) for name, i in ids.items()}
        twice = sorted(ref for ref, n in refs.items() if n > 1)
        lost = sorted(wanted - set(refs))
        dead = [d for d in read_deadletters(redis_client, count=1000) if d["topic"] == TOPIC]
        filed_before = ", ".join(f"{n} {before[n].get('filed', 0)}" for n in names)
        filed_after = ", ".join(
            f"{n} {after[n].get('filed', 0)} (duplicates {after[n].get('duplicates', 0)})" for n in names
        )
        print(
            f"\n{'shared' if shared else 'plain'} subscriptions: {REPORTS} reports sent (+{len(again)} again), "
            f"{len(refs)} events; filed before the kill: {filed_before}; {killed_name} SIGKILLed having filed "
            f"{killed_last.get('filed', 0)}, {queued} reports published after; tick taken over in {takeover_s:.2f} s; "
            f"{waiting} waited for the killed one until its restart; filed then: {filed_after} ({killed_name} since "
            f"its restart); filed twice {len(twice)}, lost {len(lost)}, dead-lettered {len(dead)}"
        )
        assert takeover_s < TAKEOVER_LIMIT_S
        assert not twice and not lost, f"twice {twice[:5]}, lost {lost[:5]}"
        assert len(refs) == len(wanted)
        assert [d["reason"] for d in dead] == ["wrong_type"], "the malformed report dead-lettered once"
        assert before[survivor].get("filed", 0) > 0 and before[killed_name].get("filed", 0) > 0, "both filed"
        if not shared:
            assert waiting == 0, "without a shared subscription the survivor files every report itself"
    finally:
        for child in pair.children:  # both told at once, then waited for
            if child.process is not None and child.process.poll() is None:
                child.signal(signal.SIGTERM)
        pair.stop()
    for child in pair.children:
        assert "Traceback" not in child.log()
