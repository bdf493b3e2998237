"""Events in Redis (key families in signs/keys.py). Every write of an event is one WATCH/MULTI transaction on its key:
two officers racing to act on the same event cannot both succeed, the loser sees the winner's state and is refused
by the lifecycle. Each transaction writes the event, its history, its audit entry, its indexes and the notices the
step calls for, together or not at all."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.client import Pipeline

from alerts.store import transact, watch
from dispatch.lifecycle import LifecycleError, pending_dues
from dispatch.model import Event, Transition
from dispatch.notify import Notice, queue_notice
from signs.keys import (
    EVENTS_INTAKE_GROUP,
    EVENTS_INTAKE_KEEP,
    KEY_EVENTS_ALL,
    KEY_EVENTS_AUDIT,
    KEY_EVENTS_CLOSED,
    KEY_EVENTS_CLOSED_REBUILD,
    KEY_EVENTS_DUE,
    KEY_EVENTS_FROM,
    KEY_EVENTS_INTAKE,
    KEY_EVENTS_OPEN,
    event_filed_key,
    event_history_key,
    event_key,
    event_photo_key,
    event_photos_key,
    events_open_of_key,
)
from signs.replies import StreamEntry, stream_range

Step = Callable[[Event], tuple[Event, Transition]]
Notices = Callable[[Event, Transition], list[Notice]]


class UnknownEvent(KeyError):
    pass


class AlreadyFiled(LifecycleError):
    """The report was filed before, as `event_id` ("" when it was dead-lettered)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"the report is already event {event_id}" if event_id else "the report was dead-lettered")
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class ReportIdentity:
    """A machine report's identity (dispatch.contract.report_identity) and how long its filing is remembered."""

    digest: str
    keep_s: float


def next_due(event: Event) -> float | None:
    """When the event's next running clock runs out that has not yet been escalated; None when none runs."""
    dues = pending_dues(event)
    return dues[0][0] if dues else None


def department_index(department: str, county: str = "") -> str:
    """The index of open events one of whose units (lead, co-dispatched, supervising) is the department's, in the
    county when given."""
    return events_open_of_key(f"{department}@{county}" if county else department)


def district_index(adcode: str) -> str:
    """The index of open events located in the district."""
    return events_open_of_key(f"district:{adcode}")


def scope_indexes(event: Event) -> set[str]:
    """Every per-scope index of open events the event belongs in while open."""
    keys = {district_index(event.location.district)} if event.location.district else set()
    for unit in (event.unit, *event.co_units, event.supervisor):
        if unit is not None:
            keys.add(department_index(unit.department))
            if unit.county:
                keys.add(department_index(unit.department, unit.county))
    return keys


def _queue_indexes(pipe: Pipeline, event: Event, before: Event | None) -> None:
    current = scope_indexes(event) if event.status.is_open else set()
    for key in (scope_indexes(before) if before else set()) - current:
        pipe.zrem(key, event.id)
    for key in current:
        pipe.zadd(key, {event.id: event.reported_at})
    if event.status.is_open:
        pipe.zadd(KEY_EVENTS_OPEN, {event.id: event.reported_at})
    else:
        pipe.zrem(KEY_EVENTS_OPEN, event.id)
        pipe.zadd(KEY_EVENTS_CLOSED, {event.id: event.closed_at or event.updated_at})


def _queue(
    pipe: Pipeline, event: Event, transition: Transition, notices: list[Notice], before: Event | None = None
) -> None:
    """The writes of one step from `before` (None for a new event), queued after pipe.multi()."""
    pipe.set(event_key(event.id), json.dumps(event.as_json(), ensure_ascii=False))
    pipe.rpush(event_history_key(event.id), json.dumps(transition.fields(), ensure_ascii=False))
    # xadd is typed with an invariant dict of every encodable type; these fields are plain text.
    pipe.xadd(KEY_EVENTS_AUDIT, cast(dict[Any, Any], transition.fields()))
    pipe.zadd(KEY_EVENTS_ALL, {event.id: event.reported_at})
    _queue_indexes(pipe, event, before)
    due = next_due(event)
    if due is None:
        pipe.zrem(KEY_EVENTS_DUE, event.id)
    else:
        pipe.zadd(KEY_EVENTS_DUE, {event.id: due})
    for notice in notices:
        queue_notice(pipe, notice)


def create(client: redis.Redis, event: Event, transition: Transition, identity: ReportIdentity | None = None) -> None:
    """A reported event, its place in the dispatcher's intake, the links back from the alerts it came from and, for a
    machine report, its identity. Nothing is written when one of those alerts already has an event (LifecycleError)
    or the report was filed before (AlreadyFiled): both are checked in the transaction, so an officer and the alert
    rules racing for one alert make one event, and so do two dispatchers filing one report, or one filing it again
    after it died before acknowledging it."""

    def attempt(pipe: Pipeline) -> None:
        if event.linked:
            watch(pipe, KEY_EVENTS_FROM)
            existing = cast(list[bytes | None], pipe.hmget(KEY_EVENTS_FROM, list(event.linked)))
            taken = [(linked, raw.decode()) for linked, raw in zip(event.linked, existing, strict=True) if raw]
            if taken:
                pipe.reset()
                raise LifecycleError(f"{taken[0][0]} is already event {taken[0][1]}")
        if identity is not None:
            filed = event_filed_key(identity.digest)
            watch(pipe, filed)
            earlier = cast(bytes | None, pipe.get(filed))
            if earlier is not None:
                pipe.reset()
                raise AlreadyFiled(earlier.decode())
        pipe.multi()
        _queue(pipe, event, transition, [])
        for linked in event.linked:
            pipe.hset(KEY_EVENTS_FROM, linked, event.id)
        if identity is not None:
            pipe.set(event_filed_key(identity.digest), event.id, px=int(identity.keep_s * 1000))
        pipe.xadd(KEY_EVENTS_INTAKE, {"event_id": event.id}, maxlen=EVENTS_INTAKE_KEEP, approximate=True)

    transact(client, attempt)


def claim_dead_letter(client: redis.Redis, identity: ReportIdentity) -> bool:
    """Whether a refused report is to be dead-lettered here: true for the first copy to claim its identity (SET NX,
    "" in place of an event id). The dead-letter record lives in another hash tag, so claim and record are two
    writes: a dispatcher dying between them loses the record, and the report's redelivery counts as a duplicate."""
    return bool(client.set(event_filed_key(identity.digest), "", nx=True, px=int(identity.keep_s * 1000)))


def apply(client: redis.Redis, event_id: str, step: Step, notices: Notices | None = None) -> tuple[Event, Transition]:
    """Run one lifecycle step on the stored event, atomically. The step's LifecycleError propagates, and nothing is
    written; UnknownEvent when there is no such event."""

    def attempt(pipe: Pipeline) -> tuple[Event, Transition]:
        key = event_key(event_id)
        watch(pipe, key)
        raw = cast(bytes | None, pipe.get(key))
        if raw is None:
            pipe.reset()
            raise UnknownEvent(event_id)
        before = Event.from_json(json.loads(raw))
        try:
            after, transition = step(before)
        except Exception:
            pipe.reset()
            raise
        pipe.multi()
        _queue(pipe, after, transition, notices(after, transition) if notices else [], before)
        return after, transition

    return transact(client, attempt)


def ensure_intake_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(KEY_EVENTS_INTAKE, EVENTS_INTAKE_GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def get_event(client: redis.Redis, event_id: str) -> Event | None:
    raw = cast(bytes | None, client.get(event_key(event_id)))
    return Event.from_json(json.loads(raw)) if raw else None


def get_events(client: redis.Redis, event_ids: Sequence[str]) -> list[Event]:
    """The events that exist, in the order asked."""
    if not event_ids:
        return []
    raws = cast(list[bytes | None], client.mget([event_key(i) for i in event_ids]))
    return [Event.from_json(json.loads(raw)) for raw in raws if raw]


def event_raised_from(client: redis.Redis, linked: str) -> str | None:
    """The id of the event raised from an alert or incident, if any."""
    raw = cast(bytes | None, client.hget(KEY_EVENTS_FROM, linked))
    return raw.decode() if raw else None


def _ids(replies: Any) -> list[str]:
    return [r.decode() if isinstance(r, bytes) else str(r) for r in replies]


def list_open(client: redis.Redis) -> list[Event]:
    """Open events, oldest report first."""
    return get_events(client, _ids(client.zrange(KEY_EVENTS_OPEN, 0, -1)))


def list_open_in(client: redis.Redis, index: str) -> list[Event]:
    """Open events of one per-scope index (department_index, district_index), oldest report first."""
    return get_events(client, _ids(client.zrange(index, 0, -1)))


def reindex(client: redis.Redis) -> int:
    """Write every open event into its per-scope indexes and every closed one into the closed index, for events
    stored before those indexes existed; idempotent. How many open events there are."""
    events = list_open(client)
    with client.pipeline(transaction=False) as pipe:
        for event in events:
            for key in scope_indexes(event):
                pipe.zadd(key, {event.id: event.reported_at})
        pipe.execute()
    with client.pipeline(transaction=True) as pipe:
        # Closed ones missing from the index come in at their report time; an indexed one keeps its closing time.
        pipe.zdiffstore(KEY_EVENTS_CLOSED_REBUILD, [KEY_EVENTS_ALL, KEY_EVENTS_OPEN])
        pipe.zunionstore(KEY_EVENTS_CLOSED, [KEY_EVENTS_CLOSED, KEY_EVENTS_CLOSED_REBUILD], aggregate="MAX")
        pipe.delete(KEY_EVENTS_CLOSED_REBUILD)
        pipe.execute()
    return len(events)


# Retention --------------------------------------------------------------------------------------------------------


def closed_before(client: redis.Redis, before: float, limit: int = 200) -> list[Event]:
    """Up to `limit` events closed before `before`, the longest closed first. An index entry older than its event's
    closing (one indexed at its report time) is moved to the closing time instead; one whose event is gone dropped."""
    ids = _ids(client.zrangebyscore(KEY_EVENTS_CLOSED, "-inf", before, start=0, num=limit))
    events = {e.id: e for e in get_events(client, ids)}
    due = []
    with client.pipeline(transaction=False) as pipe:
        for event_id in ids:
            event = events.get(event_id)
            if event is None or event.status.is_open:
                pipe.zrem(KEY_EVENTS_CLOSED, event_id)
            elif (event.closed_at or event.updated_at) >= before:
                pipe.zadd(KEY_EVENTS_CLOSED, {event_id: event.closed_at or event.updated_at})
            else:
                due.append(event)
        pipe.execute()
    return due


def remove_events(client: redis.Redis, events: Sequence[Event]) -> None:
    """Closed events gone for good, with their history, photos, index entries and alert links, in one transaction;
    their audit entries age out with the stream (trim_audit)."""
    photos = {e.id: _ids(client.lrange(event_photos_key(e.id), 0, -1)) for e in events}
    with client.pipeline(transaction=True) as pipe:
        for event in events:
            pipe.delete(event_key(event.id), event_history_key(event.id), event_photos_key(event.id),
                        *(event_photo_key(event.id, p) for p in photos[event.id]))  # fmt: skip
            for key in (KEY_EVENTS_ALL, KEY_EVENTS_OPEN, KEY_EVENTS_DUE, KEY_EVENTS_CLOSED, *scope_indexes(event)):
                pipe.zrem(key, event.id)
            if event.linked:
                pipe.hdel(KEY_EVENTS_FROM, *event.linked)
        pipe.execute()


def trim_audit(client: redis.Redis, before: float) -> None:
    """Audit entries written before `before` dropped (entry ids are write times in ms). Exactly: a tick removes
    what aged since the last one, a few entries."""
    client.xtrim(KEY_EVENTS_AUDIT, minid=f"{int(before * 1000)}-0", approximate=False)


def list_reported(client: redis.Redis, since: float, until: float, limit: int) -> list[Event]:
    """Events reported within [since, until], newest first, at most `limit`."""
    ids = client.zrevrangebyscore(KEY_EVENTS_ALL, until, since, start=0, num=limit)
    return get_events(client, _ids(ids))


def due_event_ids(client: redis.Redis, now: float, limit: int = 500) -> list[str]:
    """Open events whose next clock has run out by `now`."""
    return _ids(client.zrangebyscore(KEY_EVENTS_DUE, "-inf", now, start=0, num=limit))


def history(client: redis.Redis, event_id: str) -> list[dict[str, str]]:
    return [json.loads(raw) for raw in cast(list[bytes], client.lrange(event_history_key(event_id), 0, -1))]


def read_audit(client: redis.Redis, after: str = "-", count: int = 1000) -> list[StreamEntry]:
    return stream_range(client, KEY_EVENTS_AUDIT, after, "+", count=count)
