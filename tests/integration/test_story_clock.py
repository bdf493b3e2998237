"""A story told at its own hour through the real processes (simulator -> broker -> feed worker -> Redis -> roll-up ->
alert engine), its readings stamped by the wall clock: the hour-of-week signs are judged at the story's hour. The
story is set twelve hours away from the real one (a night story by day, a day story by night, with --start), so a
value normal at its story hour would page at the real one; the engine raises nothing on it, the board colours it by
the story hour, the wall says the data is simulated with the story time, and the clock goes when the simulator stops.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
import redis

from alerts.store import list_recent
from feeds.board import read_board
from feeds.contract import SIMULATOR_STATUS_TOPIC, owned_signature_ok
from feeds.mqtt import broker_address
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.citytime import city_iso, city_time
from signs.keys import Latest
from signs.model import BoundsKind, Level, value_level
from signs.store import read_all_latest
from signs.storyclock import read_story_clock
from tests.alerting import engines_progress
from tests.processes import TEST_SIGNING_KEY, ChildProcess, FeedProcess, wait_for
from views.wall import wall_tick

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEED = 10.0
RUN_S = 60.0  # at most, for each step


def _story_start(now: float) -> float:
    """Yesterday 03:00 (a night's counts and fleets, which the day's bounds find far too low) unless it is the small
    hours now, then yesterday 14:00 (a day's counts since midnight, which the night's bounds find far too high)."""
    hour = 3 if city_time(now).hour >= 6 else 14
    return city_time(now - 86_400.0).replace(hour=hour, minute=0, second=0, microsecond=0).timestamp()


def _retained_status(mqtt_url: str) -> bytes:
    host, port = broker_address(mqtt_url)
    got: list[bytes] = []
    seen = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-story-status-{time.monotonic_ns()}")

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        seen.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(SIMULATOR_STATUS_TOPIC, qos=1)
    client.connect(host, port)
    client.loop_start()
    try:
        assert seen.wait(10.0), "no retained simulator status"
    finally:
        client.loop_stop()
        client.disconnect()
    return got[-1]


def test_a_story_is_judged_and_shown_at_its_own_hour(
    redis_client: redis.Redis, worker_env: dict[str, str], mqtt_service: EmbeddedService
) -> None:
    cat = catalogue()
    env = {**worker_env, "ALERT_NODATA_MIN_S": "1e9"}
    processes: list[ChildProcess] = [
        FeedProcess(["worker", "--name", "story-1"], env, "story-clock-worker"),
        FeedProcess(["rollup"], env, "story-clock-rollup"),
        ChildProcess([sys.executable, "-m", "alerts", "run"], env, "story-clock-alerts"),
    ]
    start = _story_start(time.time())
    simulator = FeedProcess(
        ["simulate", "--scenario", "rainstorm", "--start", city_iso(start), "--speed", f"{SPEED:g}", "--no-cameras"],
        env,
        "story-clock-simulator",
    )
    try:
        clock = wait_for(lambda: read_story_clock(redis_client), 60, "the simulator's story clock in Redis")
        assert clock.story == "rainstorm" and clock.speed == SPEED and clock.stamps == "real"
        assert clock.story_start == pytest.approx(start)
        status = _retained_status(mqtt_service.url)
        assert owned_signature_ok(TEST_SIGNING_KEY.encode(), SIMULATOR_STATUS_TOPIC, status)
        assert json.loads(status)["state"] == "online" and json.loads(status)["story"] == "rainstorm"

        def levels(sign_id: str, value: Latest) -> tuple[Level, Level]:
            sign = cat.signs[sign_id]
            at_real_hour = value_level(sign, value.value, value.source_ts)
            return at_real_hour, value_level(sign, value.value, value.source_ts, clock)

        def paged_by_the_real_hour_only() -> dict[str, Latest]:
            """Hour-of-week values in Redis that the real hour would page on and their story hour finds normal."""
            return {
                i: v
                for i, v in read_all_latest(redis_client).items()
                if i in cat.signs and cat.signs[i].bounds is BoundsKind.HOUR_OF_WEEK
                and levels(i, v)[0] >= Level.YELLOW and levels(i, v)[1] == Level.NORMAL
            }  # fmt: skip

        # Until the story's first reports have landed that the two hours judge apart (else nothing is tested), and
        # the alert engine has judged every reading landed by then; their levels need no more than one reading.
        landed = wait_for(paged_by_the_real_hour_only, RUN_S, "values that only the real hour would page on")
        judged_ms = 1000 * max(v.receive_ts for v in landed.values())

        def judged() -> bool:
            read_ms, pending = engines_progress(redis_client)
            return read_ms > judged_ms and pending == 0

        wait_for(judged, RUN_S, "the alert engine to judge them")
        paged_by_the_real_hour = set(paged_by_the_real_hour_only())
        assert paged_by_the_real_hour
        now = time.time()
        wait_for(lambda: (b := read_board(redis_client)) and b.at > now, RUN_S, "a board rolled up after them")
        raised = {a.sign_id for a in list_recent(redis_client, limit=100_000)}
        assert raised & paged_by_the_real_hour == set(), "a value normal at its story hour raised an alert"

        board = read_board(redis_client)
        assert board is not None
        for sign_id in paged_by_the_real_hour:
            value, level, source_ts = board.signs[sign_id][:3]
            assert level == value_level(cat.signs[sign_id], value, source_ts, clock)

        notice = wall_tick(redis_client, 0, None, [], now)["simulated"]
        assert notice["story"] is True and notice["text"][0].startswith("模拟 · 故事时间 ")
        assert notice["text"][1].startswith("Simulated · story time ")
    finally:
        simulator.stop()
        for process in processes:
            process.stop()
    assert read_story_clock(redis_client) is None, "the story clock outlived the simulator"
    assert json.loads(_retained_status(mqtt_service.url))["state"] == "offline"
