"""Alerts in Redis: the reads screens need, the officers' operations, and the transactional writes the engine uses.

Every change is an optimistic transaction: WATCH the keys it depends on, read, decide with the pure lifecycle,
then MULTI/EXEC the writes; when another engine or an officer wrote one of those keys in between, EXEC fails
and the decision is made again on what is there now. So two writers never overwrite each other, and the audit
entry of a transition is written in the same transaction as the state it describes. MQTT publication follows
the audit stream (alerts.engine); nothing here talks to the broker.

Officers' operations raise AlertNotFound or SilenceNotFound (404), InvalidTransition (409), ValueError (400).
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

import orjson
import redis
from redis.client import Pipeline

from alerts import lifecycle
from alerts.escalation import escalation_due
from alerts.model import (
    Alert,
    Event,
    RuleKind,
    RuleState,
    Silence,
    SilenceScope,
    Transition,
    covering_silence,
    silence_transition,
)
from auth.names import check_username
from config import settings
from geo.admin import CITY_ADCODE, DISTRICTS
from signs.catalogue import catalogue
from signs.keys import (
    KEY_ALERT_SILENCES,
    KEY_ALERTS_AUDIT,
    KEY_ALERTS_OPEN,
    KEY_ALERTS_RECENT,
    alert_history_key,
    alert_key,
    alert_state_key,
)

T = TypeVar("T")
# A stream entry as City Eye's clients return it (RESP2, bytes replies): id and fields.
StreamEntry = tuple[bytes, dict[bytes, bytes]]

# Optimistic transactions retry while others write the same keys; this many failures in a row is a fault.
MAX_ATTEMPTS = 50
_RECENT_CHUNK = 500


class AlertNotFound(LookupError):
    pass


class SilenceNotFound(LookupError):
    pass


class Contended(RuntimeError):
    """A transaction lost to concurrent writers MAX_ATTEMPTS times in a row."""


# Transactions and staged writes ----------------------------------------------------------------------------


def transact(client: redis.Redis, attempt: Callable[[Pipeline], T]) -> T:
    """Run `attempt` until it commits. It WATCHes and reads through the pipeline (executed at once), calls
    pipe.multi() and queues its writes; if a watched key changed meanwhile, it runs again from the start."""
    with client.pipeline() as pipe:
        for _ in range(MAX_ATTEMPTS):
            try:
                result = attempt(pipe)
                pipe.execute()
                return result
            except redis.WatchError:
                continue
    raise Contended(f"gave up after {MAX_ATTEMPTS} conflicting writes")


class Writes:
    """The writes of one transaction, gathered so that a burst of a thousand alerts costs a few thousand commands
    fewer: documents and rule states go in one MSET, index changes in one ZADD each; each transition keeps its
    own audit entry and history item, in order. Later writes of a key replace earlier ones, as in Redis."""

    def __init__(self) -> None:
        self._values: dict[str, str | None] = {}  # key -> value to SET, None to DEL
        self._open: dict[str, float | None] = {}  # alert id -> raise time while open, None once closed
        self._recent: dict[str, float] = {}
        self._histories: dict[str, list[bytes]] = defaultdict(list)
        self._audit: list[dict[str, str]] = []

    def transition(self, alert: Alert, transition: Transition) -> None:
        """The alert document, its history, the audit entry, and the open and recent indexes."""
        fields = transition.as_fields()
        self._values[alert_key(alert.id)] = alert.encode()
        self._histories[alert_history_key(alert.id)].append(orjson.dumps(fields))
        self._audit.append(fields)
        self._open[alert.id] = alert.raised_at if alert.status.is_open else None
        self._recent[alert.id] = alert.updated_at

    def audit(self, transition: Transition) -> None:
        """An audit entry of its own (a silence's)."""
        self._audit.append(transition.as_fields())

    def state(self, rule: RuleKind, sign_id: str, state: RuleState) -> None:
        self._values[alert_state_key(rule, sign_id)] = None if state.is_quiet else state.encode()

    def queue(self, pipe: Pipeline) -> None:
        """Queue everything on a pipeline already in MULTI."""
        if sets := {key: value for key, value in self._values.items() if value is not None}:
            pipe.mset(sets)
        if deletes := [key for key, value in self._values.items() if value is None]:
            pipe.delete(*deletes)
        if opened := {alert_id: at for alert_id, at in self._open.items() if at is not None}:
            pipe.zadd(KEY_ALERTS_OPEN, opened)
        if closed := [alert_id for alert_id, at in self._open.items() if at is None]:
            pipe.zrem(KEY_ALERTS_OPEN, *closed)
        if self._recent:
            pipe.zadd(KEY_ALERTS_RECENT, self._recent)
        for key, items in self._histories.items():
            pipe.rpush(key, *items)
        for fields in self._audit:
            # xadd is typed with an invariant dict of every encodable type; these fields are plain text.
            pipe.xadd(KEY_ALERTS_AUDIT, cast(dict[Any, Any], fields))


def watch_states(pipe: Pipeline, keys: Sequence[str]) -> list[RuleState]:
    pipe.watch(*keys)
    return [RuleState.decode(raw) for raw in pipe.mget(keys)]


def watch_alerts(pipe: Pipeline, alert_ids: Iterable[str]) -> dict[str, Alert]:
    keys = [alert_key(alert_id) for alert_id in alert_ids]
    if not keys:
        return {}
    pipe.watch(*keys)
    return {alert.id: alert for alert in (Alert.decode(raw) for raw in pipe.mget(keys) if raw is not None)}


def watch_silences(pipe: Pipeline) -> list[Silence]:
    pipe.watch(KEY_ALERT_SILENCES)
    return [Silence.from_json(json.loads(raw)) for raw in pipe.hvals(KEY_ALERT_SILENCES)]


def _watch_open_alerts(pipe: Pipeline) -> list[Alert]:
    pipe.watch(KEY_ALERTS_OPEN)
    return list(watch_alerts(pipe, _texts(pipe.zrange(KEY_ALERTS_OPEN, 0, -1))).values())


def _texts(replies: Iterable[Any]) -> list[str]:
    """Members of a sorted-set or list reply as text (the client returns bytes)."""
    return [reply.decode() for reply in replies]


def read_states(client: redis.Redis, keys: Sequence[str]) -> list[RuleState]:
    """Rule states without watching: the engine's first look, to find the few keys a batch must write."""
    return [RuleState.decode(raw) for raw in client.mget(keys)] if keys else []


# Reads for screens and the CLI ------------------------------------------------------------------------------


def get_alert(client: redis.Redis, alert_id: str) -> Alert | None:
    raw = client.get(alert_key(alert_id))
    return Alert.decode(raw) if raw is not None else None


def get_alerts(client: redis.Redis, alert_ids: Sequence[str]) -> list[Alert]:
    """The alerts in the order asked, leaving out ids that no longer exist."""
    if not alert_ids:
        return []
    return [Alert.decode(raw) for raw in client.mget([alert_key(i) for i in alert_ids]) if raw is not None]


def list_active(client: redis.Redis, *, district: str | None = None) -> list[Alert]:
    """Open alerts (raised, acknowledged, or cleared but not yet acknowledged), newest raise first."""
    ids = _texts(client.zrevrange(KEY_ALERTS_OPEN, 0, -1))
    return [a for a in get_alerts(client, ids) if district is None or a.district == district]


def list_recent(client: redis.Redis, *, limit: int = 200, district: str | None = None) -> list[Alert]:
    """Alerts open or closed, most recently changed first, at most `limit`."""
    out: list[Alert] = []
    start = 0
    while len(out) < limit:
        ids = _texts(client.zrevrange(KEY_ALERTS_RECENT, start, start + _RECENT_CHUNK - 1))
        if not ids:
            break
        out += [a for a in get_alerts(client, ids) if district is None or a.district == district]
        start += _RECENT_CHUNK
    return out[:limit]


def history(client: redis.Redis, alert_id: str) -> list[Transition]:
    """The alert's transitions, oldest first."""
    return [Transition.decode(raw) for raw in client.lrange(alert_history_key(alert_id), 0, -1)]


def read_audit(
    client: redis.Redis, *, start: float | None = None, end: float | None = None, count: int = 1_000
) -> list[Transition]:
    """Audit entries written between start and end (epoch seconds), oldest first: the duty log's raw material."""
    low = f"{int(start * 1000)}-0" if start is not None else "-"
    high = f"{int(end * 1000)}-18446744073709551615" if end is not None else "+"
    entries = cast(list[StreamEntry], client.xrange(KEY_ALERTS_AUDIT, low, high, count=count))
    return [Transition.from_fields(fields, entry_id.decode()) for entry_id, fields in entries]


def list_silences(client: redis.Redis, *, now: float | None = None) -> list[Silence]:
    """Silences still in force, ending soonest first."""
    now = time.time() if now is None else now
    silences = (Silence.from_json(json.loads(raw)) for raw in client.hvals(KEY_ALERT_SILENCES))
    return sorted((s for s in silences if s.until > now), key=lambda s: (s.until, s.id))


# Officers' operations ---------------------------------------------------------------------------------------

Transform = Callable[[Alert], tuple[Alert, Transition]]


def _update_alert(client: redis.Redis, alert_id: str, transform: Transform) -> Alert:
    """Apply one officer's transition. Resolving an alert whose condition still holds also releases it from its
    rule state, so that the rule raises a new alert only if the level rises above what was resolved."""

    def attempt(pipe: Pipeline) -> Alert:
        alert = watch_alerts(pipe, [alert_id]).get(alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        updated, transition = transform(alert)
        released: RuleState | None = None
        if alert.status.condition_holds and not updated.status.condition_holds:
            [state] = watch_states(pipe, [alert_state_key(alert.rule, alert.sign_id)])
            if state.alert_id == alert.id:
                released = replace(state, alert_id="")
        writes = Writes()
        writes.transition(updated, transition)
        if released is not None:
            writes.state(alert.rule, alert.sign_id, released)
        pipe.multi()
        writes.queue(pipe)
        return updated

    return transact(client, attempt)


def acknowledge(client: redis.Redis, alert_id: str, user: str, note: str = "", *, now: float | None = None) -> Alert:
    """The officer has seen the alert. Acknowledging an alert that already cleared closes it."""
    at = time.time() if now is None else now
    return _update_alert(client, alert_id, lambda alert: lifecycle.acknowledge(alert, user, note, at))


def resolve(client: redis.Redis, alert_id: str, user: str, note: str, *, now: float | None = None) -> Alert:
    """The officer closes the alert with a note (acknowledging it too if nobody had)."""
    at = time.time() if now is None else now
    return _update_alert(client, alert_id, lambda alert: lifecycle.resolve(alert, user, note, at))


def _check_silence_target(scope: SilenceScope, target: str) -> None:
    if scope is SilenceScope.SIGN and target not in catalogue().signs:
        raise ValueError(f"no sign {target!r} in the catalogue")
    if scope is SilenceScope.DISTRICT and target not in DISTRICTS and target != CITY_ADCODE:
        raise ValueError(f"unknown district {target!r}")


def silence(
    client: redis.Redis,
    scope: SilenceScope | str,
    target: str,
    until: float,
    reason: str,
    user: str,
    *,
    now: float | None = None,
) -> Silence:
    """Silence a sign or a district until `until` (at most ALERT_SILENCE_MAX_S ahead), with a reason. Open alerts
    it covers are marked silenced at once; so are alerts raised while it lasts. They stay recorded and shown."""
    now = time.time() if now is None else now
    scope = SilenceScope(scope)
    _check_silence_target(scope, target)
    check_username(user)
    if not reason.strip():
        raise ValueError("a silence needs a reason")
    if not now < until <= now + settings().alert_silence_max_s:
        raise ValueError(f"a silence must end in the future and within {settings().alert_silence_max_s:.0f} s")
    created = Silence(f"silence-{int(now * 1000):x}-{secrets.token_hex(3)}", scope, target, until, reason, user, now)

    def attempt(pipe: Pipeline) -> None:
        watch_silences(pipe)
        covered = [a for a in _watch_open_alerts(pipe) if created.covers(a.sign_id, a.district, now)]
        writes = Writes()
        writes.audit(silence_transition(created, Event.SILENCE_ADDED, now, user))
        for alert in covered:
            if alert.silence is None or alert.silence.until < created.until:
                writes.transition(*lifecycle.silence(alert, created, now, user))
        pipe.multi()
        pipe.hset(KEY_ALERT_SILENCES, created.id, json.dumps(created.as_json(), ensure_ascii=False))
        writes.queue(pipe)

    transact(client, attempt)
    return created


def _end_silences(
    client: redis.Redis, choose: Callable[[dict[str, Silence]], list[Silence]], event: Event, user: str, now: float
) -> list[Silence]:
    """Remove the chosen silences; each alert they covered moves to another silence covering it, or is unsilenced."""

    def attempt(pipe: Pipeline) -> list[Silence]:
        silences = {s.id: s for s in watch_silences(pipe)}
        ended = choose(silences)
        if not ended:
            return []
        ended_ids = {s.id for s in ended}
        remaining = [s for s in silences.values() if s.id not in ended_ids]
        affected = [a for a in _watch_open_alerts(pipe) if a.silence is not None and a.silence.id in ended_ids]
        writes = Writes()
        for ending in ended:
            writes.audit(silence_transition(ending, event, now, user))
        for alert in affected:
            other = covering_silence(remaining, alert.sign_id, alert.district, now)
            writes.transition(
                *(lifecycle.silence(alert, other, now, user) if other else lifecycle.unsilence(alert, now, user))
            )
        pipe.multi()
        pipe.hdel(KEY_ALERT_SILENCES, *ended_ids)
        writes.queue(pipe)
        return ended

    return transact(client, attempt)


def lift_silence(client: redis.Redis, silence_id: str, user: str, *, now: float | None = None) -> Silence:
    """End a silence before its time."""
    check_username(user)

    def choose(silences: dict[str, Silence]) -> list[Silence]:
        if silence_id not in silences:
            raise SilenceNotFound(silence_id)
        return [silences[silence_id]]

    [lifted] = _end_silences(client, choose, Event.SILENCE_LIFTED, user, time.time() if now is None else now)
    return lifted


# The engine's periodic work -------------------------------------------------------------------------------


def expire_silences(client: redis.Redis, now: float, user: str) -> int:
    ended = _end_silences(client, lambda s: [x for x in s.values() if x.until <= now], Event.SILENCE_EXPIRED, user, now)
    return len(ended)


def escalate_overdue(client: redis.Redis, now: float) -> int:
    """Escalate every open alert whose next limit has passed; returns how many escalated."""
    due = [a.id for a in list_active(client) if escalation_due(a, now) is not None]
    if not due:
        return 0

    def attempt(pipe: Pipeline) -> int:
        writes = Writes()
        escalated = 0
        for alert in watch_alerts(pipe, due).values():
            stage = escalation_due(alert, now)
            if stage is not None:
                writes.transition(*lifecycle.escalate(alert, stage, now))
                escalated += 1
        pipe.multi()
        writes.queue(pipe)
        return escalated

    return transact(client, attempt)


def prune(client: redis.Redis, now: float, keep_s: float) -> int:
    """Delete closed alerts (and their history) last changed before now - keep_s. Closed alerts never change
    again, so no transaction is needed; the audit stream keeps their story."""
    ids = _texts(client.zrangebyscore(KEY_ALERTS_RECENT, "-inf", now - keep_s, start=0, num=_RECENT_CHUNK))
    raws = client.mget([alert_key(i) for i in ids]) if ids else []
    gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None or not Alert.decode(raw).status.is_open]
    if gone:
        with client.pipeline(transaction=False) as pipe:
            for alert_id in gone:
                pipe.delete(alert_key(alert_id), alert_history_key(alert_id))
            pipe.zrem(KEY_ALERTS_RECENT, *gone)
            pipe.execute()
    return len(gone)
