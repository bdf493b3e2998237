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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast

import orjson
import redis
from redis.client import Pipeline

from alerts import lifecycle
from alerts.escalation import escalation_due
from alerts.incidents import (
    GroupingRules,
    Incident,
    IncidentView,
    TimelineEntry,
    TimelineEvent,
    assigned,
    group_key,
    join,
    open_incident,
    pressing_incidents,
    signal_type,
    standalone,
    view,
)
from alerts.lifecycle import InvalidTransition
from alerts.model import (
    ENGINE_USER,
    Alert,
    Assignment,
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
    KEY_INCIDENTS_OPEN,
    KEY_INCIDENTS_RECENT,
    alert_history_key,
    alert_key,
    alert_state_key,
    incident_group_key,
    incident_key,
    incident_timeline_key,
)
from signs.model import Level
from signs.pipelined import mget, mset

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


class IncidentNotFound(LookupError):
    pass


class Contended(RuntimeError):
    """A transaction lost to concurrent writers MAX_ATTEMPTS times in a row."""


# Transactions and staged writes ----------------------------------------------------------------------------


def transact(client: redis.Redis, attempt: Callable[[Pipeline], T]) -> T:
    """Run `attempt` until it commits. It WATCHes and reads through the pipeline (executed at once), calls
    pipe.multi() and queues its writes; if a watched key changed meanwhile, it runs again from the start."""
    with client.pipeline(transaction=True) as pipe:  # explicit: a cluster client's default is none
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
        self._histories: dict[str, list[dict[str, str]]] = defaultdict(list)
        self._audit: list[dict[str, str]] = []
        self._raised: dict[str, tuple[Alert, dict[str, str]]] = {}  # alert id -> (raised alert, its entry)
        self._incidents_open: dict[str, float] = {}
        self._incidents_recent: dict[str, float] = {}
        self._timelines: dict[str, list[bytes]] = defaultdict(list)

    def transition(self, alert: Alert, transition: Transition) -> None:
        """The alert document, its history, the audit entry, and the open and recent indexes."""
        fields = transition.as_fields()
        self._values[alert_key(alert.id)] = alert.encode()
        self._histories[alert_history_key(alert.id)].append(fields)
        self._audit.append(fields)
        self._open[alert.id] = alert.raised_at if alert.status.is_open else None
        self._recent[alert.id] = alert.updated_at
        if transition.event is Event.RAISED:
            self._raised[alert.id] = (alert, fields)

    def raised(self) -> list[Alert]:
        """The alerts this transaction raises, in the order raised, as staged so far."""
        return [alert for alert, _ in self._raised.values()]

    def grouped(self, alert: Alert, incident_id: str) -> None:
        """A raised alert's incident, set on its staged document and on the audit entry of its raise."""
        staged, fields = self._raised[alert.id]
        grouped = replace(staged, incident=incident_id)
        self._raised[alert.id] = (grouped, fields)
        self._values[alert_key(alert.id)] = grouped.encode()
        fields["incident_id"] = incident_id

    def incident(self, incident: Incident, *, pointer: bool = False) -> None:
        """The incident's document and indexes; with `pointer`, also as its group's incident to join."""
        self._values[incident_key(incident.id)] = incident.encode()
        self._incidents_open.setdefault(incident.id, incident.opened_at)
        self._incidents_recent[incident.id] = incident.updated_at
        if pointer:
            self._values[incident_group_key(incident.key.text)] = incident.id

    def timeline(self, incident_id: str, entry: TimelineEntry) -> None:
        self._timelines[incident_timeline_key(incident_id)].append(entry.encode())

    def audit(self, transition: Transition) -> None:
        """An audit entry of its own (a silence's)."""
        self._audit.append(transition.as_fields())

    def state(self, rule: RuleKind, sign_id: str, state: RuleState) -> None:
        self._values[alert_state_key(rule, sign_id)] = None if state.is_quiet else state.encode()

    def queue(self, pipe: Pipeline) -> None:
        """Queue everything on a pipeline already in MULTI."""
        if sets := {key: value for key, value in self._values.items() if value is not None}:
            mset(pipe, sets)
        if deletes := [key for key, value in self._values.items() if value is None]:
            pipe.delete(*deletes)
        if opened := {alert_id: at for alert_id, at in self._open.items() if at is not None}:
            pipe.zadd(KEY_ALERTS_OPEN, opened)
        if closed := [alert_id for alert_id, at in self._open.items() if at is None]:
            pipe.zrem(KEY_ALERTS_OPEN, *closed)
        if self._recent:
            pipe.zadd(KEY_ALERTS_RECENT, self._recent)
        if self._incidents_open:
            pipe.zadd(KEY_INCIDENTS_OPEN, self._incidents_open, nx=True)
        if self._incidents_recent:
            pipe.zadd(KEY_INCIDENTS_RECENT, self._incidents_recent)
        for key, entries in self._timelines.items():
            pipe.rpush(key, *entries)
        for key, items in self._histories.items():
            pipe.rpush(key, *(orjson.dumps(fields) for fields in items))
        for fields in self._audit:
            # xadd is typed with an invariant dict of every encodable type; these fields are plain text.
            pipe.xadd(KEY_ALERTS_AUDIT, cast(dict[Any, Any], fields))


def watch(pipe: Pipeline, *keys: str) -> None:
    """WATCH the keys, so that the transaction this pipeline then runs fails if any of them changes."""
    pipe.watch(*keys)  # type: ignore[no-untyped-call]  # redis-py leaves Pipeline.watch unannotated


def watch_states(pipe: Pipeline, keys: Sequence[str]) -> list[RuleState]:
    watch(pipe, *keys)
    return [RuleState.decode(raw) for raw in mget(pipe, keys)]


def watch_alerts(pipe: Pipeline, alert_ids: Iterable[str]) -> dict[str, Alert]:
    keys = [alert_key(alert_id) for alert_id in alert_ids]
    if not keys:
        return {}
    watch(pipe, *keys)
    return {alert.id: alert for alert in (Alert.decode(raw) for raw in mget(pipe, keys) if raw is not None)}


def watch_silences(pipe: Pipeline) -> list[Silence]:
    watch(pipe, KEY_ALERT_SILENCES)
    return [Silence.from_json(json.loads(raw)) for raw in pipe.hvals(KEY_ALERT_SILENCES)]


def _watch_open_alerts(pipe: Pipeline) -> list[Alert]:
    watch(pipe, KEY_ALERTS_OPEN)
    return list(watch_alerts(pipe, _texts(pipe.zrange(KEY_ALERTS_OPEN, 0, -1))).values())


def _text(reply: bytes | str) -> str:
    return reply.decode() if isinstance(reply, bytes) else reply


def _texts(replies: Iterable[Any]) -> list[str]:
    """Members of a sorted-set or list reply as text (the client returns bytes)."""
    return [reply.decode() for reply in replies]


def watch_incidents(pipe: Pipeline, incident_ids: Iterable[str]) -> dict[str, IncidentView]:
    """The incidents with their members, all watched: an incident's decisions depend on every member's state."""
    ids = list(dict.fromkeys(incident_ids))
    if not ids:
        return {}
    keys = [incident_key(i) for i in ids]
    watch(pipe, *keys)
    incidents = [Incident.decode(raw) for raw in mget(pipe, keys) if raw is not None]
    members = watch_alerts(pipe, [m for incident in incidents for m in incident.members])
    return {incident.id: view(incident, members) for incident in incidents}


def active_signals(states: Mapping[str, RuleState]) -> frozenset[str]:
    """The CMA signal types in force: city-wide signal signs (sign id -> rule state) with an active alert."""
    signs = catalogue().signs
    return frozenset(
        kind
        for sign_id, state in states.items()
        if state.alert_id and state.level > Level.NORMAL and (kind := signal_type(signs[sign_id]))
    )


def signal_state_keys() -> dict[str, str]:
    """Sign id -> rule state key of every city-wide CMA signal sign."""
    return {
        sign.id: alert_state_key(RuleKind.CMA, sign.id)
        for sign in catalogue().signs.values()
        if signal_type(sign) is not None
    }


def group_raised(
    pipe: Pipeline, writes: Writes, rules: GroupingRules, pending_signals: Mapping[str, RuleState], now: float
) -> None:
    """Put every alert the transaction raises into its incident, under WATCH, before pipe.multi(): the group's
    current incident if it is still joinable, a new one otherwise. `pending_signals` are the signal states this
    same transaction writes (a signal issued in the batch that raises the rain it brings); the others are read."""
    raised = writes.raised()
    if not raised:
        return
    keys = signal_state_keys()
    watch(pipe, *keys.values())
    states = dict(zip(keys, (RuleState.decode(raw) for raw in mget(pipe, list(keys.values()))), strict=True))
    signals = active_signals({**states, **{k: v for k, v in pending_signals.items() if k in keys}})
    signs = catalogue().signs
    groups = {alert.id: group_key(signs[alert.sign_id], alert.district, signals, rules) for alert in raised}
    pointer_keys = [incident_group_key(key.text) for key in dict.fromkeys(groups.values())]
    watch(pipe, *pointer_keys)
    pointers = {
        key: _text(raw) for key, raw in zip(pointer_keys, mget(pipe, pointer_keys), strict=True) if raw is not None
    }
    current = watch_incidents(pipe, pointers.values())
    by_group: dict[str, Incident] = {}
    for group_text, incident_id in pointers.items():
        incident_view = current.get(incident_id)
        if incident_view is not None and incident_view.joinable(now, rules.window_s):
            by_group[group_text] = incident_view.incident
    for alert in raised:
        key = groups[alert.id]
        pointer = incident_group_key(key.text)
        incident = by_group.get(pointer)
        if incident is None:
            incident = open_incident(key, alert, now)
            event = TimelineEvent.OPENED
        else:
            incident = join(incident, alert, now)
            event = TimelineEvent.JOINED
        writes.timeline(incident.id, TimelineEntry(now, event, ENGINE_USER, alert.name, alert.id, alert.level.en))
        by_group[pointer] = incident
        writes.grouped(alert, incident.id)
        writes.incident(incident, pointer=True)


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


def _views(client: redis.Redis, incident_ids: Sequence[str]) -> list[IncidentView]:
    if not incident_ids:
        return []
    incidents = [Incident.decode(raw) for raw in client.mget([incident_key(i) for i in incident_ids]) if raw]
    members = {a.id: a for a in get_alerts(client, [m for i in incidents for m in i.members])}
    return [view(incident, members) for incident in incidents]


def get_incident(client: redis.Redis, incident_id: str) -> IncidentView | None:
    found = _views(client, [incident_id])
    return found[0] if found else None


def list_incidents(client: redis.Redis, *, recent: int = 0, district: str | None = None) -> list[IncidentView]:
    """Open incidents in the pressing order (alerts.incidents.pressing_incidents); with `recent`, also closed
    ones among the `recent` most recently changed. `district`: only that district's (or the city's)."""
    ids = _texts(client.zrange(KEY_INCIDENTS_OPEN, 0, -1))
    if recent:
        ids += _texts(client.zrevrange(KEY_INCIDENTS_RECENT, 0, recent - 1))
    views = _views(client, list(dict.fromkeys(ids)))
    return pressing_incidents(
        v for v in views if (district is None or v.district == district) and (recent or v.status.is_open)
    )


def strip_incidents(client: redis.Redis) -> list[IncidentView]:
    """What the wall's strip shows, in the pressing order: every open incident, and each open alert that belongs
    to none (raised before incidents existed) as an incident of its own."""
    ungrouped = [standalone(alert) for alert in list_active(client) if not alert.incident]
    return pressing_incidents([*list_incidents(client), *ungrouped])


def incident_timeline(client: redis.Redis, incident_id: str) -> list[TimelineEntry]:
    return [TimelineEntry.decode(raw) for raw in client.lrange(incident_timeline_key(incident_id), 0, -1)]


# Officers' operations ---------------------------------------------------------------------------------------

Transform = Callable[[Alert], tuple[Alert, Transition]]
# What an officer's act on an alert is called on its incident's timeline.
_TIMELINE_EVENTS = {
    Event.ACKNOWLEDGED: TimelineEvent.ACKNOWLEDGED,
    Event.RESOLVED: TimelineEvent.RESOLVED,
    Event.ASSIGNED: TimelineEvent.ASSIGNED,
}


def _stage_officer(pipe: Pipeline, writes: Writes, changes: Sequence[tuple[Alert, Alert, Transition]]) -> None:
    """Stage officers' transitions (before, after, entry), under WATCH. Resolving an alert whose condition still
    holds also releases it from its rule state, so that the rule raises a new alert only if the level rises above
    what was resolved."""
    releasing = [(b, a) for b, a, _ in changes if b.status.condition_holds and not a.status.condition_holds]
    keys = [alert_state_key(b.rule, b.sign_id) for b, _ in releasing]
    states = watch_states(pipe, keys) if keys else []
    for (before, _), state in zip(releasing, states, strict=True):
        if state.alert_id == before.id:
            writes.state(before.rule, before.sign_id, replace(state, alert_id=""))
    for _, after, transition in changes:
        writes.transition(after, transition)


def _update_alert(client: redis.Redis, alert_id: str, transform: Transform) -> Alert:
    """Apply one officer's transition; its incident's timeline records it too."""

    def attempt(pipe: Pipeline) -> Alert:
        alert = watch_alerts(pipe, [alert_id]).get(alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        updated, transition = transform(alert)
        writes = Writes()
        _stage_officer(pipe, writes, [(alert, updated, transition)])
        if alert.incident and (event := _TIMELINE_EVENTS.get(transition.event)) is not None:
            detail = updated.assignee.to if event is TimelineEvent.ASSIGNED and updated.assignee else ""
            entry = TimelineEntry(transition.at, event, transition.by, transition.note, alert.id, detail)
            writes.timeline(alert.incident, entry)
        pipe.multi()
        writes.queue(pipe)
        return updated

    return transact(client, attempt)


def assign(
    client: redis.Redis, alert_id: str, to: str, user: str, note: str = "", *, now: float | None = None
) -> Alert:
    """Hand the alert to a named officer (alerts.officer checks the name is an officer's)."""
    at = time.time() if now is None else now
    return _update_alert(client, alert_id, lambda alert: lifecycle.assign(alert, to, user, note, at))


Step = Callable[[Alert], "tuple[Alert, Transition] | None"]


def _update_incident(
    client: redis.Redis, incident_id: str, step: Step, entry: TimelineEntry, assignment: Assignment | None = None
) -> IncidentView:
    """One officer's act on a whole incident, in one transaction: `step` for every member it applies to (each
    with its own audit entry carrying the one note), one timeline entry, and the incident's assignee when it
    is an assignment. Refused (InvalidTransition) when it applies to no member and changes nothing."""

    def attempt(pipe: Pipeline) -> IncidentView:
        found = watch_incidents(pipe, [incident_id]).get(incident_id)
        if found is None:
            raise IncidentNotFound(incident_id)
        changes = [(alert, *stepped) for alert in found.members if (stepped := step(alert)) is not None]
        incident = found.incident
        reassigned = assignment is not None and (incident.assignee is None or incident.assignee.to != assignment.to)
        if not changes and not reassigned:
            raise InvalidTransition(f"incident {incident_id}: no open member to {entry.event.value}")
        writes = Writes()
        _stage_officer(pipe, writes, changes)
        incident = (
            assigned(incident, assignment)
            if assignment is not None
            else replace(incident, updated_at=entry.at, version=incident.version + 1)
        )
        writes.incident(incident)
        writes.timeline(incident_id, entry)
        pipe.multi()
        writes.queue(pipe)
        after = {alert.id: alert for alert in found.members} | {a.id: a for _, a, _ in changes}
        return view(incident, after)

    return transact(client, attempt)


def acknowledge_incident(
    client: redis.Redis, incident_id: str, user: str, note: str = "", *, now: float | None = None
) -> IncidentView:
    """Acknowledge every open member nobody has acknowledged, with one note."""
    at = time.time() if now is None else now
    check_username(user)

    def step(alert: Alert) -> tuple[Alert, Transition] | None:
        if alert.acknowledged is not None or not alert.status.is_open:
            return None
        return lifecycle.acknowledge(alert, user, note, at)

    return _update_incident(client, incident_id, step, TimelineEntry(at, TimelineEvent.ACKNOWLEDGED, user, note))


def resolve_incident(
    client: redis.Redis, incident_id: str, user: str, note: str, *, now: float | None = None
) -> IncidentView:
    """Resolve every open member with one note."""
    at = time.time() if now is None else now
    check_username(user)
    if not note.strip():
        raise ValueError("resolving an incident needs a note")

    def step(alert: Alert) -> tuple[Alert, Transition] | None:
        return lifecycle.resolve(alert, user, note, at) if alert.status.is_open else None

    return _update_incident(client, incident_id, step, TimelineEntry(at, TimelineEvent.RESOLVED, user, note))


def assign_incident(
    client: redis.Redis, incident_id: str, to: str, user: str, note: str = "", *, now: float | None = None
) -> IncidentView:
    """Hand the incident, and every open member not already theirs, to a named officer."""
    at = time.time() if now is None else now
    check_username(user)
    check_username(to)

    def step(alert: Alert) -> tuple[Alert, Transition] | None:
        if not alert.status.is_open or (alert.assignee is not None and alert.assignee.to == to):
            return None
        return lifecycle.assign(alert, to, user, note, at)

    entry = TimelineEntry(at, TimelineEvent.ASSIGNED, user, note, "", to)
    return _update_incident(client, incident_id, step, entry, Assignment(to, user, at, note))


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


def prune_incidents(client: redis.Redis, now: float, keep_s: float) -> None:
    """Incidents with no open member leave the open index (an incident never reopens: a new alert of its group
    opens another); those last changed before now - keep_s whose members are all gone are deleted."""
    open_ids = _texts(client.zrange(KEY_INCIDENTS_OPEN, 0, -1))
    closed = [v.id for v in _views(client, open_ids) if not v.status.is_open]
    if closed:
        client.zrem(KEY_INCIDENTS_OPEN, *closed)
    old = _texts(client.zrangebyscore(KEY_INCIDENTS_RECENT, "-inf", now - keep_s, start=0, num=_RECENT_CHUNK))
    gone = [v.id for v in _views(client, old) if not v.members]
    if gone:
        with client.pipeline(transaction=False) as pipe:
            for incident_id in gone:
                pipe.delete(incident_key(incident_id), incident_timeline_key(incident_id))
            pipe.zrem(KEY_INCIDENTS_RECENT, *gone)
            pipe.zrem(KEY_INCIDENTS_OPEN, *gone)
            pipe.execute()


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
