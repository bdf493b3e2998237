"""The lease (ops/lease.py) on a real Redis: one holder at a time, renewal only of one's own value, fencing tokens
that grow with every acquisition, and a fenced write refused once the lease has changed hands."""

from __future__ import annotations

import time

import pytest
import redis

from ops.lease import Lease, LeaseLost, read_lease
from signs.keys import lease_key

TTL_S = 0.5


def test_one_holder_at_a_time_and_the_standby_takes_over_after_expiry(redis_client: redis.Redis) -> None:
    first = Lease(redis_client, "job", "a", TTL_S)
    second = Lease(redis_client, "job", "b", TTL_S)
    assert first.hold() and not second.hold()
    assert read_lease(redis_client, "job") == ("a", first.token)
    assert first.hold(), "the holder renews its own lease"
    time.sleep(TTL_S * 1.2)  # "a" stops renewing, as a killed process does
    assert not first.held, "a holder counts itself inactive once its lease's time has passed"
    assert second.hold()
    assert second.token > first.token
    assert not first.hold(), "the old holder cannot extend its successor's lease"
    assert read_lease(redis_client, "job") == ("b", second.token)


def test_renewal_keeps_the_lease_past_its_ttl(redis_client: redis.Redis) -> None:
    holder = Lease(redis_client, "job", "a", TTL_S)
    other = Lease(redis_client, "job", "b", TTL_S)
    deadline = time.monotonic() + TTL_S * 3
    while time.monotonic() < deadline:
        assert holder.hold()
        assert not other.hold()
        time.sleep(TTL_S / 4)
    assert 0 < redis_client.pttl(lease_key("job")) <= TTL_S * 1000


def test_the_same_holder_after_expiry_gets_a_new_token(redis_client: redis.Redis) -> None:
    lease = Lease(redis_client, "job", "a", TTL_S)
    assert lease.hold()
    before = lease.token
    redis_client.delete(lease_key("job"))  # as if it expired while the holder was paused
    assert lease.hold()
    assert lease.token == before + 1 and lease.acquisitions == 2


def test_release_frees_only_ones_own_lease(redis_client: redis.Redis) -> None:
    first = Lease(redis_client, "job", "a", 5.0)
    second = Lease(redis_client, "job", "b", 5.0)
    assert first.hold()
    second.release()  # holds nothing: must not free first's
    assert read_lease(redis_client, "job") == ("a", first.token)
    first.release()
    assert read_lease(redis_client, "job") is None and not first.held
    assert second.hold()


def test_a_fenced_write_fails_once_the_lease_changed_hands(redis_client: redis.Redis) -> None:
    stale = Lease(redis_client, "job", "a", TTL_S)
    assert stale.hold()
    with redis_client.pipeline() as pipe:
        stale.guard(pipe)
        pipe.multi()
        pipe.set("written-by-a", "1")
        pipe.execute()
    assert redis_client.get("written-by-a") == b"1"
    redis_client.delete(lease_key("job"))
    successor = Lease(redis_client, "job", "b", 5.0)
    assert successor.hold()
    stale._valid_until = time.monotonic() + 60  # a holder whose own clock still says it holds the lease
    with redis_client.pipeline() as pipe, pytest.raises(LeaseLost):
        stale.guard(pipe)


def test_a_lease_changing_hands_between_guard_and_exec_aborts_the_write(redis_client: redis.Redis) -> None:
    holder = Lease(redis_client, "job", "a", 5.0)
    assert holder.hold()
    with redis_client.pipeline() as pipe:
        holder.guard(pipe)
        redis_client.delete(lease_key("job"))  # taken away while the transaction is being prepared
        pipe.multi()
        pipe.set("late-write", "1")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert redis_client.get("late-write") is None
