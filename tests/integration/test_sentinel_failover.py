"""Redis Sentinel failover under load: one master, one replica and three sentinels (Debian's redis-sentinel, or
redis-server --sentinel) on loopback ports; a real feed worker ingests a steady stream of readings from a real
Mosquitto; the master is SIGKILLed. The worker must write to the promoted replica within 10 s, and every reading the
broker took from the publisher must be in Redis once the worker has caught up: the broker redelivers whatever the
worker did not acknowledge, so a reading missing then is one the worker acknowledged and the failover lost.

The real web tier (gunicorn app:server) follows the sentinels too, and the test polls the wall's tick over HTTP as a
wall's page does. The banner's words are chosen in the browser (assets/wall.js freshnessProblems), from what each
tick carries: a tick answering "error" (Redis unreachable) or a board older than BOARD_LATE_AFTER_S puts the outage on
the banner. So the wall must give one of them during the gap, and within 20 s of the kill, with no restart, a current
board rolled up on the new master, after which the web tier must not fail to read Redis again."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import redis

from alerts.engine import ENGINE_PREFIX
from config import Settings
from feeds.board import read_board
from feeds.contract import Reading, encode_readings, topic
from feeds.sink import Batch, RedisSink, ReplicasBehind
from layouts import wall
from services.embedded import HOST, EmbeddedService, free_port, start_redis, system_binary
from services.web import gunicorn_command
from signs.catalogue import catalogue
from signs.keys import alert_engine_key
from signs.model import MqttSource
from signs.store import read_history, read_latest
from tests.alerting import engines_progress
from tests.processes import ChildProcess, FeedProcess, Publisher, feed_env, wait_for, wait_worker_ready
from tests.web import DISPATCH_PATH, callback_request
from views.health import BOARD_LATE_AFTER_S

pytestmark = pytest.mark.integration
MASTER_NAME = "cityeye-test"
SIGN_ID = "XY.S.M13.S45.stn:AWS07"  # 太平店自动站 1小时降水量, published by the weather feed
RATE_PER_S = 200
LOAD_S = 12.0
KILL_AFTER_S = 4.0
RECONNECT_LIMIT_S = 10.0
BANNER_CLEAR_LIMIT_S = 20.0
WALL_POLL_S = 0.25
SENTINEL_CONF = """\
port {port}
bind {host}
daemonize no
dir {data_dir}
logfile ""
sentinel monitor {master} {host} {master_port} 2
sentinel down-after-milliseconds {master} 1000
sentinel failover-timeout {master} 4000
sentinel parallel-syncs {master} 1
"""


def _sentinel_argv(conf: Path) -> list[str]:
    if sentinel := system_binary("redis-sentinel"):
        return [str(sentinel), str(conf)]
    if server := system_binary("redis-server"):
        return [str(server), str(conf), "--sentinel"]  # the file first: redis-server reads it before its options
    pytest.skip("Sentinel needs Debian's redis-sentinel or redis-server")


@dataclass
class SentinelSet:
    master: EmbeddedService
    replica: EmbeddedService
    sentinels: list[tuple[ChildProcess, int]] = field(default_factory=list)

    @property
    def addresses(self) -> str:
        return ",".join(f"{HOST}:{port}" for _, port in self.sentinels)

    def master_port(self) -> int:
        address = redis.Redis(HOST, self.sentinels[0][1]).sentinel_get_master_addr_by_name(MASTER_NAME)
        _, port = cast(tuple[str, int], address)
        return int(port)


def _port(service: EmbeddedService) -> int:
    port = urlsplit(service.url).port
    assert port is not None
    return port


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[SentinelSet]:
    """A master and its replica, in sync, without sentinels yet."""
    master = start_redis(tmp_path / "master")
    replica = start_redis(tmp_path / "replica")
    try:
        redis.Redis(HOST, _port(replica)).replicaof(HOST, _port(master))
        wait_for(partial(_replica_online, redis.Redis(HOST, _port(master))), 15, "the replica in sync")
        yield SentinelSet(master, replica)
    finally:
        replica.stop()
        master.stop()


@pytest.fixture
def sentinel_set(replicated: SentinelSet, tmp_path: Path) -> Iterator[SentinelSet]:
    """Three sentinels watching the master, each knowing its replica and the other two."""
    try:
        for n in range(3):
            port, data_dir = free_port(), tmp_path / f"sentinel{n}"
            data_dir.mkdir()
            conf = data_dir / "sentinel.conf"
            conf.write_text(SENTINEL_CONF.format(port=port, host=HOST, data_dir=data_dir, master=MASTER_NAME,
                                                 master_port=_port(replicated.master)))  # fmt: skip
            replicated.sentinels.append((ChildProcess(_sentinel_argv(conf), {}, f"sentinel-{n}"), port))
        for _, port in replicated.sentinels:
            wait_for(partial(_knows_all, redis.Redis(HOST, port)), 20, "every sentinel knowing the replica and others")
        yield replicated
    finally:
        for process, _ in replicated.sentinels:
            process.stop()


def _replica_online(master: redis.Redis) -> bool:
    replication = master.info("replication")
    return isinstance(replica := replication.get("slave0"), dict) and replica.get("state") == "online"


def _knows_all(sentinel: redis.Redis) -> bool:
    try:
        replicas = cast(list[dict[str, object]], sentinel.sentinel_slaves(MASTER_NAME))
        others = cast(list[dict[str, object]], sentinel.sentinel_sentinels(MASTER_NAME))
    except redis.ConnectionError:
        return False
    return len(replicas) == 1 and len(others) == 2


class SteadyLoad(threading.Thread):
    """RATE_PER_S readings of one sign, each with its own source time (a millisecond apart), at QoS 1."""

    def __init__(self, mqtt_url: str, start_ts: float) -> None:
        super().__init__(daemon=True)
        source = catalogue().signs[SIGN_ID].source
        assert isinstance(source, MqttSource)
        self._topic, self._field = topic(source.feed, source.adcode, source.source_id), source.field
        self._publisher = Publisher(mqtt_url)
        self.start_ts = start_ts
        self.sent = 0
        self.infos: list[object] = []

    def stamp(self, n: int) -> int:
        """The reading's source time in milliseconds: its identity in Redis."""
        return int(self.start_ts * 1000) + n

    def run(self) -> None:
        began = time.monotonic()
        infos = []
        while (elapsed := time.monotonic() - began) < LOAD_S:
            while self.sent < elapsed * RATE_PER_S:
                payload = encode_readings(self.stamp(self.sent) / 1000, {self._field: float(self.sent % 50)})
                infos.append(self._publisher.publish(self._topic, payload))
                self.sent += 1
            time.sleep(0.005)
        for info in infos:
            info.wait_for_publish(30)
        self.acknowledged = {self.stamp(n) for n, info in enumerate(infos) if info.rc == 0 and info.is_published()}
        self._publisher.close()


@dataclass(frozen=True)
class WallAnswer:
    """One tick as the wall took it: when (server time), the web tier's error if it could not read Redis, and the
    time of the board the wall shows (the newest board any tick brought; an unchanged tick brings none)."""

    at: float
    error: str | None
    board_at: float | None

    @property
    def current(self) -> bool:
        """Whether the banner shows no outage: the tick read Redis and the board is not late."""
        return self.error is None and self.board_at is not None and self.at - self.board_at <= BOARD_LATE_AFTER_S


def wall_tick(base_url: str, held: dict[str, object]) -> dict[str, Any] | None:
    """The wall's tick callback as its page posts it, holding what the page holds; None when nothing answered."""
    body = callback_request(f"{wall.CHANGES}.data", {f"{wall.TICK}.n_intervals": 1, **held})
    request = urllib.request.Request(
        base_url + DISPATCH_PATH, json.dumps(body).encode(), {"Content-Type": "application/json", "Origin": base_url}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return cast(dict[str, Any], json.loads(response.read())["response"][wall.CHANGES]["data"])
    except OSError:
        return None


class WallWatch(threading.Thread):
    """A wall polling the web tier every WALL_POLL_S, keeping the board sequence and the alert and event audit ids
    it was given as the page's stores do, so that it gets only what changed."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.answers: list[WallAnswer] = []
        self.stopping = threading.Event()
        self._held: dict[str, object] = {}
        self._board_at: float | None = None

    def run(self) -> None:
        while not self.stopping.is_set():
            self.answers.append(self._poll())
            self.stopping.wait(WALL_POLL_S)

    def _poll(self) -> WallAnswer:
        tick = wall_tick(self.base_url, self._held)
        if tick is None:
            return WallAnswer(time.time(), "no answer", self._board_at)
        if "error" in tick:
            return WallAnswer(tick["now"], tick["error"], self._board_at)
        self._board_at = tick.get("at", self._board_at)
        self._held[f"{wall.SEQ}.data"] = tick["seq"]
        if "alerts" in tick:
            self._held[f"{wall.ALERTS_SEEN}.data"] = tick["alerts"]["audit"]
        if "events" in tick:
            self._held[f"{wall.EVENTS_SEEN}.data"] = tick["events"]["audit"]
        return WallAnswer(tick["now"], None, self._board_at)

    def first(self, after: float, predicate: Callable[[WallAnswer], bool]) -> WallAnswer | None:
        return next((a for a in list(self.answers) if a.at > after and predicate(a)), None)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10 + WALL_POLL_S)


def test_every_process_follows_the_master_through_a_failover_the_wall_saying_so_and_no_acknowledged_reading_lost(
    sentinel_set: SentinelSet, mqtt_service: EmbeddedService, tmp_path: Path
) -> None:
    old_master = redis.Redis(HOST, _port(sentinel_set.master))
    env = feed_env(
        sentinel_set.master.url, mqtt_service.url, REDIS_SENTINELS=sentinel_set.addresses,
        REDIS_SENTINEL_MASTER=MASTER_NAME, MQTT_CLIENT_PREFIX=f"t-sentinel-{time.monotonic_ns()}",
        MQTT_SHARED_GROUP="",
    )  # fmt: skip
    web_port = free_port()
    web_url = f"http://{HOST}:{web_port}"
    web_env = {**env, "RUN_DIR": str(tmp_path / "run")}
    processes = [
        ChildProcess(gunicorn_command(Settings(web_workers=2), port=web_port), web_env, "sentinel-web"),
        FeedProcess(["worker", "--name", "1", "--feeds", "weather"], env, "sentinel-worker"),
        FeedProcess(["rollup"], env, "sentinel-rollup"),
        ChildProcess([sys.executable, "-m", "alerts", "run", "--name", "a"], env, "sentinel-alerts"),
    ]
    watch = WallWatch(web_url)
    try:
        wait_worker_ready(old_master, mqtt_service.url, f"{env['MQTT_CLIENT_PREFIX']}-1")
        wait_for(lambda: read_board(old_master), 60, "the roll-up's first board")
        wait_for(lambda: old_master.get(alert_engine_key(f"{ENGINE_PREFIX}-a")), 60, "the alert engine")
        wait_for(lambda: wall_tick(web_url, {}), 90, "the web tier answering the wall's tick")
        watch.start()
        wait_for(lambda: watch.answers and watch.answers[-1].current, 20, "the wall showing a current board")
        load = SteadyLoad(mqtt_service.url, start_ts=float(int(time.time()) - 120))
        load.start()
        time.sleep(KILL_AFTER_S)
        assert sentinel_set.master.process is not None
        sentinel_set.master.process.kill()
        killed_at, sent_at_kill = time.time(), load.sent
        promoted_s = _seconds_until(partial(_moved, sentinel_set), killed_at, "the sentinels promoting the replica")
        new_master = redis.Redis(HOST, sentinel_set.master_port())
        # Each process is back when the new master holds what it did after the kill.
        after_kill_ms = load.stamp(sent_at_kill)
        back_s = {
            "worker": _seconds_until(lambda: _newest_ms(new_master) > after_kill_ms, killed_at, "the worker"),
            "roll-up": _seconds_until(lambda: _board_at(new_master) > killed_at, killed_at, "the roll-up"),
            "alert engine": _seconds_until(
                lambda: engines_progress(new_master)[0] > killed_at * 1000, killed_at, "the alert engine"
            ),
        }
        load.join(LOAD_S + 40)
        assert not load.is_alive()
        lost = wait_for_catch_up(new_master, load)
        gap, web_back, cleared = _banner_through_the_gap(watch, killed_at)
        print(
            f"\nSentinel failover: master killed after {sent_at_kill} readings; replica promoted {promoted_s:.1f} s "
            f"later; writing to the new master after the kill: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in back_s.items())
            + f"; {load.sent} readings published, {len(load.acknowledged)} taken by the broker, {len(lost)} lost"
            f"\nThe wall: its banner showed the gap {gap.at - killed_at:.1f} s after the kill "
            f"({gap.error or f'board {gap.at - (gap.board_at or 0):.1f} s old'}), the web tier read the new master "
            f"{web_back.at - killed_at:.1f} s after it, the banner cleared {cleared.at - killed_at:.1f} s after it"
        )
        assert web_back.at - killed_at <= RECONNECT_LIMIT_S, "the web tier reading the new master"
        assert not lost, f"{len(lost)} acknowledged readings lost in the failover"
        for process in processes:
            assert process.process is not None and process.process.poll() is None, f"{process.argv} died"
    finally:
        if watch.is_alive():
            watch.stop()
        for process in processes:
            process.stop()


def _banner_through_the_gap(watch: WallWatch, killed_at: float) -> tuple[WallAnswer, WallAnswer, WallAnswer]:
    """The wall's first answer after the kill that put the outage on its banner, its first answer read from Redis
    after its last error, and its first current answer showing a board rolled up after the kill (so on the new
    master: the old one is dead). The watch stops there; once clear, the web tier must not fail to read Redis again.
    """

    def cleared() -> WallAnswer | None:
        return watch.first(killed_at, lambda a: a.current and (a.board_at or 0) > killed_at)

    clear = wait_for(cleared, max(0.0, killed_at + BANNER_CLEAR_LIMIT_S - time.time()), "the wall's banner clearing")
    watch.stop()
    gap = watch.first(killed_at, lambda a: not a.current)
    assert gap is not None and gap.at < clear.at, "the wall kept presenting the old board as live through the gap"
    last_error = max((a.at for a in watch.answers if killed_at < a.at < clear.at and a.error), default=killed_at)
    web_back = watch.first(last_error, lambda a: a.error is None)
    assert web_back is not None
    assert not [a.error for a in watch.answers if a.at > clear.at and a.error], "the web tier failing once clear"
    return gap, web_back, clear


def _seconds_until(predicate: Callable[[], object], killed_at: float, what: str) -> float:
    """Seconds from the kill until the predicate holds; at most RECONNECT_LIMIT_S."""
    wait_for(predicate, max(0.0, killed_at + RECONNECT_LIMIT_S - time.time()), f"{what} on the new master")
    return time.time() - killed_at


def _board_at(client: redis.Redis) -> float:
    board = read_board(client)
    return board.at if board else 0.0


def _moved(sentinel_set: SentinelSet) -> bool:
    try:
        return sentinel_set.master_port() == _port(sentinel_set.replica)
    except redis.ConnectionError:
        return False


def _newest_ms(client: redis.Redis) -> int:
    latest = read_latest(client, SIGN_ID)
    return round(latest.source_ts * 1000) if latest else 0


def _stored(client: redis.Redis, load: SteadyLoad) -> set[int]:
    points = read_history(client, SIGN_ID, load.start_ts - 1, load.start_ts + LOAD_S * 2)
    return {round(ts * 1000) for ts in points["ts"]}


def wait_for_catch_up(client: redis.Redis, load: SteadyLoad, settle_s: float = 10.0) -> set[int]:
    """The acknowledged readings still missing once the worker has had settle_s to take the broker's redeliveries."""
    deadline = time.time() + settle_s
    missing = load.acknowledged - _stored(client, load)
    while missing and time.time() < deadline:
        time.sleep(0.2)
        missing = load.acknowledged - _stored(client, load)
    return missing


def test_a_sink_waiting_for_replicas_writes_a_batch_only_they_hold_too(replicated: SentinelSet) -> None:
    master, replica = redis.Redis(HOST, _port(replicated.master)), redis.Redis(HOST, _port(replicated.replica))
    measured = time.time() - 60

    def sink(wait_replicas: int) -> RedisSink:
        return RedisSink(
            master, retention_days=1, deadletter_keep=100, deadletter_payload_bytes=64, readings_keep_s=600,
            wait_replicas=wait_replicas, wait_timeout_ms=200,
        )  # fmt: skip

    sink(1).write(Batch(readings=[Reading(SIGN_ID, 3.5, measured)], receive_ts=measured + 1, messages=1))
    # WAIT returned: the replica holds the batch already, not some moments later.
    latest = read_latest(replica, SIGN_ID)
    assert latest is not None and latest.value == 3.5

    # Two replicas asked of a master with one: the batch is on the master, but the sink says it may not be
    # acknowledged (the worker holds it and writes it again).
    started = time.monotonic()
    with pytest.raises(ReplicasBehind, match="1 of 2 replicas"):
        sink(2).write(Batch(readings=[Reading(SIGN_ID, 4.5, measured + 1)], receive_ts=measured + 2, messages=1))
    assert time.monotonic() - started >= 0.2
