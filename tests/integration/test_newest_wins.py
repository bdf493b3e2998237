"""The one write path of latest values, NEWEST_WINS_LUA, run by a real Redis."""

from __future__ import annotations

import pytest
import redis

from signs.keys import NEWEST_WINS_LUA

pytestmark = pytest.mark.integration

KEY = "ce:test:latest"
FIELD = "XY.T.M07.T23"


@pytest.fixture
def newest_wins(redis_client: redis.Redis) -> redis.commands.core.Script:
    redis_client.delete(KEY)
    return redis_client.register_script(NEWEST_WINS_LUA)


def write(script: redis.commands.core.Script, src_ts: float, rest: str) -> int:
    return int(script(keys=[KEY], args=[FIELD, src_ts, rest]))


def held(client: redis.Redis) -> bytes | None:
    value = client.hget(KEY, FIELD)
    return value if isinstance(value, bytes) else None


def test_an_older_or_duplicate_value_is_refused(newest_wins, redis_client: redis.Redis) -> None:
    assert write(newest_wins, 100.0, "101.0|97.5") == 1
    assert write(newest_wins, 99.0, "102.0|10.0") == 0
    assert write(newest_wins, 100.0, "103.0|97.5") == 0
    assert held(redis_client) == b"100.0|101.0|97.5"


def test_a_newer_value_replaces_the_held_one(newest_wins, redis_client: redis.Redis) -> None:
    write(newest_wins, 100.0, "101.0|97.5")
    assert write(newest_wins, 160.0, "161.0|96.0|incomplete") == 1
    assert held(redis_client) == b"160.0|161.0|96.0|incomplete"


def test_a_value_completed_at_the_same_source_time_replaces_the_incomplete_one(
    newest_wins, redis_client: redis.Redis
) -> None:
    write(newest_wins, 100.0, "101.0|40.0|incomplete")
    assert write(newest_wins, 100.0, "102.0|97.5") == 1
    assert held(redis_client) == b"100.0|102.0|97.5"


def test_an_incomplete_value_never_replaces_an_ok_one_of_the_same_source_time(
    newest_wins, redis_client: redis.Redis
) -> None:
    write(newest_wins, 100.0, "101.0|97.5")
    assert write(newest_wins, 100.0, "102.0|40.0|incomplete") == 0
    assert write(newest_wins, 100.0, "102.0|40.0|warming-up") == 0
    assert held(redis_client) == b"100.0|101.0|97.5"
