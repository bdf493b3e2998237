"""No singleton process, with real processes: two alert engines and two roll-ups run at once, one of each active by
its lease; SIGKILL the active one and the other takes over within 5 s; across the handover of the alert engine no
alert is raised twice or lost, and the roll-up's board never pauses longer than a lease."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from functools import partial

import pytest
import redis

from alerts import store
from alerts.engine import ALERTS_JOB, ENGINE_PREFIX
from alerts.model import Event, RuleKind
from alerts.rules import value_rule
from feeds.board import read_board
from feeds.rollup import ROLLUP_JOB
from ops.lease import read_lease
from signs.catalogue import catalogue
from signs.keys import KEY_READINGS, alert_engine_key, pack_landed
from signs.model import MqttSource, Sign
from tests.alerting import red_value
from tests.processes import ChildProcess, wait_for

LEASE_TTL_S = 3.0
TAKEOVER_LIMIT_S = 5.0
SIGNS = 300


class Pair:
    """Two copies of one City Eye process, each known by the pid in its lease holder's name."""

    def __init__(self, argv: list[list[str]], env: dict[str, str], log_prefix: str) -> None:
        self.children = [ChildProcess(args, env, f"{log_prefix}-{i}") for i, args in enumerate(argv, start=1)]

    def by_pid(self, pid: int) -> ChildProcess:
        [child] = [c for c in self.children if c.process is not None and c.process.pid == pid]
        return child

    def stop(self) -> None:
        for child in self.children:
            child.stop()


def holder_pid(client: redis.Redis, job: str) -> int | None:
    lease = read_lease(client, job)
    return int(lease[0].rsplit("-", 1)[1]) if lease else None


def kill_active_and_time_takeover(client: redis.Redis, pair: Pair, job: str) -> tuple[float, int, int]:
    """SIGKILL the lease holder; (seconds until another holds the lease, killed pid, new pid)."""
    killed = wait_for(lambda: holder_pid(client, job), 20, f"a holder of the {job} lease")
    pair.by_pid(killed).kill()
    killed_at = time.monotonic()
    successor = wait_for(lambda: (pid := holder_pid(client, job)) and pid != killed and pid, 15, "a successor")
    return time.monotonic() - killed_at, killed, successor


def breachable(count: int) -> list[Sign]:
    """MQTT-sourced signs under the threshold rule with a red bound: one red reading raises one alert."""
    signs = [
        sign
        for sign in catalogue().signs.values()
        if isinstance(sign.source, MqttSource) and value_rule(sign) is RuleKind.THRESHOLD and sign.thresholds[3]
    ]
    assert len(signs) >= count
    return signs[:count]


@pytest.fixture
def lease_env(worker_env: dict[str, str]) -> dict[str, str]:
    return {**worker_env, "LEASE_TTL_S": str(LEASE_TTL_S)}


@pytest.fixture
def engines(lease_env: dict[str, str], redis_client: redis.Redis) -> Iterator[Pair]:
    # One entry per read, so that the active engine is mid-stream when it is killed.
    env = {**lease_env, "ALERT_READ_COUNT": "1"}
    pair = Pair([[sys.executable, "-m", "alerts", "run", "--name", n] for n in ("a", "b")], env, "lease-alerts")
    for name in ("a", "b"):
        wait_for(partial(redis_client.get, alert_engine_key(f"{ENGINE_PREFIX}-{name}")), 30, f"engine {name}")
    yield pair
    pair.stop()


def test_the_standby_engine_takes_over_within_5_s_and_no_alert_is_raised_twice_or_lost(
    engines: Pair, redis_client: redis.Redis
) -> None:
    signs = breachable(SIGNS)
    start = time.time() - 60

    def inject(batch: list[Sign]) -> None:
        with redis_client.pipeline(transaction=False) as pipe:
            for sign in batch:
                pipe.xadd(KEY_READINGS, {"r": pack_landed([(sign.id, start, red_value(sign))])})
            pipe.execute()

    inject(signs[: SIGNS // 2])
    wait_for(lambda: len(store.list_active(redis_client)) >= 20, 20, "the active engine to be mid-stream")
    takeover_s, killed, successor = kill_active_and_time_takeover(redis_client, engines, ALERTS_JOB)
    inject(signs[SIGNS // 2 :])  # readings landing while and after the engines hand over

    wait_for(lambda: len(store.list_active(redis_client)) == SIGNS, 30, "every sign's alert")
    time.sleep(LEASE_TTL_S)  # a late duplicate would show by now
    raised = [t.alert_id for t in store.read_audit(redis_client, count=100_000) if t.event is Event.RAISED]
    print(f"\nalert engine takeover: {takeover_s:.2f} s (pid {killed} killed, pid {successor} took over)")
    assert takeover_s < TAKEOVER_LIMIT_S
    assert len(raised) == len(set(raised)) == SIGNS, "an alert raised twice or lost across the handover"
    assert sorted(a.sign_id for a in store.list_active(redis_client)) == sorted(s.id for s in signs)
    pending = redis_client.xpending(KEY_READINGS, "alerts")
    assert pending["pending"] == 0, "entries left unacknowledged after the handover"


def test_the_standby_roll_up_takes_over_within_5_s_and_the_board_never_pauses_longer_than_a_lease(
    lease_env: dict[str, str], redis_client: redis.Redis
) -> None:
    pair = Pair([[sys.executable, "-m", "feeds", "rollup"]] * 2, lease_env, "lease-rollup")
    try:
        wait_for(lambda: read_board(redis_client), 60, "the first board")
        seen: list[float] = []

        def board_at() -> float:
            board = read_board(redis_client)
            assert board is not None
            if not seen or board.at != seen[-1]:
                seen.append(board.at)
            return board.at

        for _ in range(20):  # a few ticks of the first holder
            board_at()
            time.sleep(0.05)
        takeover_s, killed, successor = kill_active_and_time_takeover(redis_client, pair, ROLLUP_JOB)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # the new holder's ticks
            board_at()
            time.sleep(0.05)
        gaps = [later - earlier for earlier, later in zip(seen, seen[1:], strict=False)]
        print(
            f"\nroll-up takeover: {takeover_s:.2f} s (pid {killed} killed, pid {successor} took over); "
            f"longest pause between boards {max(gaps):.2f} s over {len(seen)} boards"
        )
        assert takeover_s < TAKEOVER_LIMIT_S
        assert max(gaps) <= LEASE_TTL_S * 1.25 + 1.0, "the board paused longer than a lease"
        assert seen[-1] > time.time() - 2, "the successor does not publish the board"
    finally:
        pair.stop()
