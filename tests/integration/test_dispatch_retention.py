"""Retention through the real dispatcher: an event closed longer ago than DISPATCH_CLOSED_KEEP_DAYS goes with its
history, photo, index entries, alert link and retained MQTT state, and the audit entries of that age; an event
closed recently and an old event still open stay, with their retained states."""

from __future__ import annotations

import time
from typing import cast

import pytest
import redis

from dispatch import hub
from dispatch.contract import state_topic
from dispatch.evidence import photo_urls, store_photo
from dispatch.library import library
from dispatch.model import Event, Location, Report, Source
from dispatch.store import district_index, event_raised_from, get_event, history, reindex
from services.embedded import EmbeddedService
from signs.keys import KEY_EVENTS_ALL, KEY_EVENTS_AUDIT, KEY_EVENTS_CLOSED
from signs.replies import stream_range
from tests.dispatching import following_states, start_dispatcher
from tests.processes import wait_for

pytestmark = pytest.mark.integration

DAY = 86_400.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _closed(client: redis.Redis, at: float, ref: str, linked: tuple[str, ...] = ()) -> Event:
    lib = library()
    report = Report("1100101", Location(township="420606003"), "test", Source.GRID, ref, "grid-1", linked=linked)
    event = hub.file_report(client, report, lib, "", at)
    hub.auto_dispatch(client, event.id, lib, at + 60)
    hub.act(client, event.id, "sign_for", lib, "handler", at + 120)
    store_photo(client, event.id, PNG, max_bytes=10_000, per_event=6, keep_s=90 * DAY)
    hub.act(client, event.id, "handle", lib, "handler", at + 600, note="done", evidence=photo_urls(client, event.id))
    return hub.act(client, event.id, "close", lib, "officer", at + 900)


def test_closed_events_past_their_keep_are_removed_with_all_they_left(
    redis_client: redis.Redis, redis_service: EmbeddedService, mqtt_service: EmbeddedService
) -> None:
    now = time.time()
    lib = library()
    # An audit entry of 40 days ago (ids are write times), before today's.
    forty_days_ago = f"{int((now - 40 * DAY) * 1000)}-0"
    redis_client.xadd(KEY_EVENTS_AUDIT, {"event_id": "E-old", "action": "closed"}, id=forty_days_ago)
    old = _closed(redis_client, now - 40 * DAY, "old", linked=("alert-1",))
    recent = _closed(redis_client, now - 3 * DAY, "recent")
    report = Report("1100101", Location(township="420606003"), "still open", Source.GRID, "open", "grid-1")
    still_open = hub.auto_dispatch(redis_client, hub.file_report(redis_client, report, lib, "", now - 40 * DAY).id,
                                   lib, now - 40 * DAY)  # fmt: skip
    assert event_raised_from(redis_client, "alert-1") == old.id and photo_urls(redis_client, old.id)
    old_photo_keys = redis_client.keys(f"ce:{{events}}:photo:{old.id}:*")
    assert len(old_photo_keys) == 1

    dispatcher = start_dispatcher(redis_service.url, mqtt_service.url, "retention", DISPATCH_CLOSED_KEEP_DAYS="30")
    try:
        wait_for(lambda: get_event(redis_client, old.id) is None, 30, "the old closed event pruned")
    finally:
        dispatcher.stop()
    assert "Traceback" not in dispatcher.log()

    assert history(redis_client, old.id) == [] and photo_urls(redis_client, old.id) == ()
    assert redis_client.exists(*old_photo_keys) == 0
    assert event_raised_from(redis_client, "alert-1") is None
    assert redis_client.zscore(KEY_EVENTS_ALL, old.id) is None
    assert redis_client.zscore(KEY_EVENTS_CLOSED, old.id) is None
    kept = {m.decode() for m in cast(list[bytes], redis_client.zrange(KEY_EVENTS_ALL, 0, -1))}
    assert kept == {recent.id, still_open.id}
    assert get_event(redis_client, recent.id) is not None and len(history(redis_client, recent.id)) == 5
    assert redis_client.zscore(district_index("420606"), still_open.id) is not None
    audited = {f[b"event_id"].decode() for _, f in stream_range(redis_client, KEY_EVENTS_AUDIT, "-", "+")}
    assert "E-old" not in audited and {old.id, recent.id, still_open.id} <= audited  # today's entries stay

    # Of this test's events, only the kept ones still have a retained state (the broker may hold earlier tests').
    ours = {state_topic(e.id) for e in (old, recent, still_open)}
    with following_states(mqtt_service.url, "t-retention-follower") as retained:
        wait_for(lambda: len(ours & set(retained)) >= 2, 10, "the retained states")
        time.sleep(0.5)
    assert ours & set(retained) == {state_topic(recent.id), state_topic(still_open.id)}


def test_events_closed_before_the_closed_index_are_indexed_and_pruned_by_their_closing(
    redis_client: redis.Redis,
) -> None:
    now = time.time()
    event = _closed(redis_client, now - 40 * DAY, "legacy")
    redis_client.delete(KEY_EVENTS_CLOSED)
    reindex(redis_client)
    assert redis_client.zscore(KEY_EVENTS_CLOSED, event.id) == event.reported_at
    reindex(redis_client)  # idempotent, and a closing time already indexed is kept over the report time
    redis_client.zadd(KEY_EVENTS_CLOSED, {event.id: event.closed_at or 0.0})
    reindex(redis_client)
    assert redis_client.zscore(KEY_EVENTS_CLOSED, event.id) == event.closed_at
