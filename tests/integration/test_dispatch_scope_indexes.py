"""The per-scope indexes of open events in a real Redis: whatever steps an event goes through (dispatch, escalation,
return and dispatch by hand to another department, closing), each scope's inbox read from its index lists exactly
the open events the scope's rule lets it see, and no index keeps an event that left it."""

from __future__ import annotations

import time
from typing import cast

import pytest
import redis

from auth.scope import EventScope
from dispatch import hub
from dispatch.library import library
from dispatch.model import Location, Report, Source
from dispatch.store import district_index, list_open, list_open_in, reindex, scope_indexes
from views.events import scoped_open_events

pytestmark = pytest.mark.integration

PLACES = [Location(township="420606003"), Location(township="420625101"), Location(lat=32.05, lon=112.14)]
TYPES = ["1100101", "0700101", "1100101"]


def _scopes(client: redis.Redis) -> list[EventScope]:
    """Every department, county and district any open event touches, and a few that none does."""
    units = {u for e in list_open(client) for u in (e.unit, *e.co_units, e.supervisor) if u is not None}
    departments = {u.department for u in units} | {"D05"}
    counties = {u.county for u in units if u.county} | {"420682"}
    scopes = [EventScope(d) for d in departments] + [EventScope(d, c) for d in departments for c in counties]
    return scopes + [EventScope(district=c) for c in counties | {"420602"}]


def _assert_each_scope_sees_exactly_its_own(client: redis.Redis) -> None:
    everything = list_open(client)
    for scope in _scopes(client):
        expected = [e.id for e in everything if scope.sees(e)]
        assert [e.id for e in scoped_open_events(client, scope)] == expected, scope
    # No index keeps what left its scope or closed (the reads would hide it, at a cost).
    for raw in cast(list[bytes], list(client.scan_iter("ce:{events}:open:*"))):
        key = raw.decode()
        members = {m.decode() for m in cast(list[bytes], client.zrange(key, 0, -1))}
        assert members == {e.id for e in everything if key in scope_indexes(e)}, key


def test_each_scope_reads_exactly_its_open_events_through_every_step(redis_client: redis.Redis) -> None:
    lib = library()
    now = time.time()
    ids = []
    for i, (place, type_code) in enumerate(zip(PLACES, TYPES, strict=True)):
        report = Report(type_code, place, "test", Source.GRID, f"ref-{i}", "grid-1")
        event = hub.file_report(redis_client, report, lib, "420606" if place.lat else "", now + i)
        ids.append(event.id)
    _assert_each_scope_sees_exactly_its_own(redis_client)  # reported: only the districts see them
    for event_id in ids:
        hub.auto_dispatch(redis_client, event_id, lib, now + 10)
    _assert_each_scope_sees_exactly_its_own(redis_client)
    first = hub.act(redis_client, ids[0], "escalate", lib, "officer", now + 20, note="slow")
    assert first.supervisor is not None
    _assert_each_scope_sees_exactly_its_own(redis_client)
    hub.act(redis_client, ids[1], "return", lib, "handler", now + 30, note="not ours")
    moved = hub.dispatch_by_hand(redis_client, ids[1], lib, "D05", "officer", "to parks", now + 40)
    assert moved.unit is not None and moved.unit.department == "D05"
    _assert_each_scope_sees_exactly_its_own(redis_client)
    hub.act(redis_client, ids[2], "sign_for", lib, "handler", now + 50)
    hub.act(redis_client, ids[2], "handle", lib, "handler", now + 60, note="done", evidence=("http://x/1.jpg",))
    hub.act(redis_client, ids[2], "close", lib, "officer", now + 70)
    _assert_each_scope_sees_exactly_its_own(redis_client)
    assert ids[2] not in {e.id for s in _scopes(redis_client) for e in scoped_open_events(redis_client, s)}


def test_open_events_stored_before_the_indexes_are_indexed_again(redis_client: redis.Redis) -> None:
    lib = library()
    report = Report("1100101", PLACES[0], "test", Source.GRID, "ref", "grid-1")
    event = hub.auto_dispatch(redis_client, hub.file_report(redis_client, report, lib, "", time.time()).id, lib,
                              time.time())  # fmt: skip
    for key in redis_client.scan_iter("ce:{events}:open:*"):
        redis_client.delete(key)
    assert list_open_in(redis_client, district_index(event.location.district)) == []
    assert reindex(redis_client) == 1
    assert redis_client.zscore(district_index(event.location.district), event.id) == event.reported_at
    _assert_each_scope_sees_exactly_its_own(redis_client)
