"""The event hub's read model, for the handlers' inbox (/inbox), the officers' events page (/events) and the events
API alike: events under the user's event scope (auth.scope.EventScope) with their three clocks, the steps the user
may take on each now, and the filters of the events page as they stand in its URL. Typed Redis reads, then pure
shaping; no Dash.

A refresh reads one audit id and nothing more unless an event changed since the page's (every step writes one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import redis

from auth.model import Permission, User
from auth.scope import EventScope, event_scope_of
from dispatch import hub
from dispatch.evidence import photo_urls
from dispatch.library import Library
from dispatch.lifecycle import ALLOWED_FROM, clock_due, clock_late, clock_window
from dispatch.model import Clock, Event, Status, Transition
from dispatch.store import (
    department_index,
    district_index,
    event_raised_from,
    get_event,
    history,
    list_open,
    list_open_in,
    list_reported,
)
from geo.admin import DISTRICTS
from signs.keys import KEY_EVENTS_AUDIT
from signs.replies import stream_revrange

# How far back the events page reads when it lists closed events too, and at most how many.
RECENT_S = 7 * 86_400
RECENT_MAX = 1_000
# Steps of the handling unit and of the centre, in the order the pages offer them.
HANDLER_STEPS = ("sign_for", "progress", "handle", "return")
CENTRE_STEPS = ("dispatch", "close", "escalate", "rate")


def newest_event_audit(client: redis.Redis) -> str:
    """Id of the newest entry of the events' audit: every step of every event writes one. Empty before the first."""
    newest = stream_revrange(client, KEY_EVENTS_AUDIT, count=1)
    return newest[0][0].decode() if newest else ""


def _read_scoped(client: redis.Redis, scope: EventScope) -> list[Event]:
    """Read from the scope's own index (a department's, in its county when the user has one; a district's), then
    held to the scope's rule, which stays the one judge."""
    if scope.whole_city:
        return list_open(client)
    if scope.department:
        index = department_index(scope.department, scope.district)
    else:
        index = district_index(scope.district)
    return [e for e in list_open_in(client, index) if e.status.is_open and scope.sees(e)]


@dataclass
class _ScopedOpen:
    audit: str
    events: list[Event]
    body: str | None = None  # the events as the API's JSON, made on first use


# A web process's last read of each scope's open events, by Redis server and scope: valid while the newest audit
# entry is the one read before it (every step of every event writes one in its transaction), so twenty handlers of
# one unit polling cost one read per change, not one each. Bounded by the scopes there are; cleared if it grows.
_scoped_reads: dict[tuple[str, EventScope], _ScopedOpen] = {}
_SCOPED_READS_MAX = 512


def _scoped(client: redis.Redis, scope: EventScope, audit: str | None) -> _ScopedOpen:
    audit = newest_event_audit(client) if audit is None else audit
    server = repr(sorted(client.connection_pool.connection_kwargs.items()))
    cached = _scoped_reads.get((server, scope))
    if cached is not None and cached.audit == audit and audit:
        return cached
    fresh = _ScopedOpen(audit, _read_scoped(client, scope))
    if len(_scoped_reads) >= _SCOPED_READS_MAX:
        _scoped_reads.clear()
    _scoped_reads[(server, scope)] = fresh
    return fresh


def scoped_open_events(client: redis.Redis, scope: EventScope, audit: str | None = None) -> list[Event]:
    """Open events the scope sees, oldest report first; `audit` the newest audit id when the caller has read it."""
    return list(_scoped(client, scope, audit).events)


def scoped_open_events_json(client: redis.Redis, scope: EventScope) -> str:
    """The same as a JSON array of the events' documents (dispatch.model.Event.as_json), the events API's body."""
    scoped = _scoped(client, scope, None)
    if scoped.body is None:
        scoped.body = json.dumps([e.as_json() for e in scoped.events], ensure_ascii=False)
    return scoped.body


# One event as the pages show it ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockView:
    clock: Clock
    due_at: float | None  # None before it starts
    stopped_at: float | None  # None while it runs
    late: bool  # ran out: still running past due, or stopped after it

    @property
    def running(self) -> bool:
        return self.due_at is not None and self.stopped_at is None


def clock_views(event: Event, now: float) -> tuple[ClockView, ...]:
    out = []
    for clock in Clock:
        _, stop = clock_window(event, clock)
        out.append(ClockView(clock, clock_due(event, clock), stop, clock_late(event, clock, now)))
    return tuple(out)


def steps_for(event: Event, user: User | None) -> tuple[str, ...]:
    """The steps this user may take on the event now: the handling unit's where they may handle it (a handler of
    the lead unit, or an officer), the centre's where they may act; each only from the states it is allowed from."""
    if user is None:
        return ()
    offered: list[str] = []
    if user.may(Permission.HANDLE) and event_scope_of(user).leads(event):
        offered += HANDLER_STEPS
    if user.may(Permission.ACT):
        offered += CENTRE_STEPS
    return tuple(step for step in offered if event.status in ALLOWED_FROM[step])


@dataclass(frozen=True, slots=True)
class EventCard:
    """An event with what a page shows of it in one language."""

    event: Event
    type_name: str
    category: str  # the type's category code
    needs_photo: bool
    closure: str
    place: str
    unit: str  # the lead unit in words; "" before dispatch
    co_units: tuple[str, ...]
    supervisor: str
    clocks: tuple[ClockView, ...]
    steps: tuple[str, ...]
    photos: tuple[str, ...] = ()  # photos uploaded for it so far

    @property
    def late(self) -> bool:
        return any(c.late for c in self.clocks)

    @property
    def next_due(self) -> ClockView | None:
        """The running clock that runs out first."""
        running = [c for c in self.clocks if c.running and c.due_at is not None]
        return min(running, key=lambda c: c.due_at or 0.0) if running else None


def card(
    event: Event, library: Library, user: User | None, lang: str, now: float, photos: tuple[str, ...] = ()
) -> EventCard:
    event_type = library.types[event.type_code]
    return EventCard(
        event=event,
        type_name=event_type.name_en if lang == "en" else event_type.name_zh,
        category=event_type.category,
        needs_photo=event_type.evidence.needs_media,
        closure=event_type.closure_en if lang == "en" else event_type.closure,
        place=hub.place_text(event, library, lang),
        unit=hub.unit_name(event.unit, library, lang) if event.unit else "",
        co_units=tuple(hub.unit_name(u, library, lang) for u in event.co_units),
        supervisor=hub.unit_name(event.supervisor, library, lang) if event.supervisor else "",
        clocks=clock_views(event, now),
        steps=steps_for(event, user),
        photos=photos,
    )


def pressing_order(cards: Iterable[EventCard]) -> list[EventCard]:
    """Open before closed; among open ones, those late first, then the soonest due, then the oldest report."""

    def key(c: EventCard) -> tuple[bool, bool, float, float]:
        due = c.next_due
        return (not c.event.status.is_open, not c.late, due.due_at if due and due.due_at else float("inf"),
                c.event.reported_at)  # fmt: skip

    return sorted(cards, key=key)


def status_counts(events: Iterable[Event]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for event in events:
        counts[event.status.value] += 1
    return counts


# The inbox ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxPage:
    audit: str
    cards: list[EventCard]
    counts: dict[str, int]
    late: int


def inbox_page(client: redis.Redis, library: Library, user: User | None, lang: str, now: float) -> InboxPage:
    """The user's unit's open events, in the pressing order, with the photos uploaded for those being handled."""
    audit = newest_event_audit(client)
    events = scoped_open_events(client, event_scope_of(user), audit)
    cards = [
        card(e, library, user, lang, now, photo_urls(client, e.id) if "handle" in steps_for(e, user) else ())
        for e in events
    ]
    ordered = pressing_order(cards)
    return InboxPage(audit, ordered, status_counts(events), sum(c.late for c in ordered))


# The officers' events page ----------------------------------------------------------------------------------------

STATUS_CHOICES = ("open", "all", *(s.value for s in Status))


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The events page's filters, as its URL gives them: a status ("open", "all" or one state), a district, a
    department (the lead unit's), a category, late ones only; and the event shown in detail."""

    status: str = "open"
    district: str = ""
    department: str = ""
    category: str = ""
    late: bool = False
    selected: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, object], library: Library) -> EventFilter:
        """Tolerant: a value it does not know is no filter."""

        def value(key: str) -> str:
            raw = query.get(key)
            return raw if isinstance(raw, str) else ""

        status = value("status")
        return cls(
            status=status if status in STATUS_CHOICES else "open",
            district=value("district") if value("district") in DISTRICTS else "",
            department=value("department") if value("department") in library.departments else "",
            category=value("category") if value("category") in library.categories else "",
            late=value("late") in ("1", "true"),
            selected=value("event")[:40],
        )

    def query(self) -> dict[str, str]:
        values = {
            "status": "" if self.status == "open" else self.status,
            "district": self.district,
            "department": self.department,
            "category": self.category,
            "late": "1" if self.late else "",
            "event": self.selected,
        }
        return {k: v for k, v in values.items() if v}

    def query_string(self, lang: str) -> str:
        query = {**self.query(), **({"lang": "en"} if lang == "en" else {})}
        return f"?{urlencode(query)}" if query else ""

    @property
    def wants_closed(self) -> bool:
        return self.status in ("all", Status.CLOSED.value)

    def matches(self, c: EventCard) -> bool:
        event = c.event
        if self.status not in ("open", "all") and event.status.value != self.status:
            return False
        if self.status == "open" and not event.status.is_open:
            return False
        if self.district and event.location.district != self.district:
            return False
        if self.department and (event.unit is None or event.unit.department != self.department):
            return False
        if self.category and c.category != self.category:
            return False
        return not self.late or c.late


@dataclass(frozen=True)
class EventsPage:
    audit: str
    listed: list[EventCard]
    counts: dict[str, int]  # of every open event the scope sees, by state
    late: int


def events_page(
    client: redis.Redis, library: Library, wanted: EventFilter, user: User | None, lang: str, now: float
) -> EventsPage:
    scope = event_scope_of(user)
    audit = newest_event_audit(client)
    open_events = scoped_open_events(client, scope, audit)
    pool = open_events
    if wanted.wants_closed:
        recent = [e for e in list_reported(client, now - RECENT_S, now, RECENT_MAX) if scope.sees(e)]
        pool = list({e.id: e for e in (*open_events, *recent)}.values())
    cards = [card(e, library, user, lang, now) for e in pool]
    open_cards = [c for c in cards if c.event.status.is_open]
    listed = pressing_order(c for c in cards if wanted.matches(c))
    return EventsPage(audit, listed, status_counts(open_events), sum(c.late for c in open_cards))


# One event in detail ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDetail:
    """The selected event, its history and photos; `key` is what the drawn pane depends on, so an unchanged pane is
    not redrawn; `out_of_scope` when it exists but the user may not see it."""

    key: str
    card: EventCard | None = None
    history: list[Transition] = field(default_factory=list)
    out_of_scope: bool = False


def _transition(fields: Mapping[str, str], lang: str) -> Transition:
    """A stored step as the page shows it: its note in the page's language where the hub wrote it."""
    stored = Transition(
        event_id=fields["event_id"], action=fields["action"], from_status=fields["from_status"],
        to_status=fields["to_status"], at=float(fields["at"]), by=fields["by"], note=fields.get("note", ""),
        unit=fields.get("unit", ""), clock=fields.get("clock", ""), note_code=fields.get("note_code", ""),
    )  # fmt: skip
    return replace(stored, note=hub.note_text(stored, lang))


def event_detail(
    client: redis.Redis, library: Library, event_id: str, user: User | None, lang: str, now: float
) -> EventDetail:
    if not event_id:
        return EventDetail("")
    event = get_event(client, event_id)
    if event is None:
        return EventDetail(f"{event_id}:none")
    key = f"{event_id}:{event.updated_at!r}:{event.status.value}"
    if not event_scope_of(user).sees(event):
        return EventDetail(key, out_of_scope=True)
    entries = [_transition(h, lang) for h in history(client, event_id)]
    return EventDetail(key, card(event, library, user, lang, now, photo_urls(client, event_id)), entries)


def alert_event(client: redis.Redis, alert_or_incident_id: str) -> str | None:
    """The event raised from an alert or an incident, for the alerts page's link to it."""
    return event_raised_from(client, alert_or_incident_id) if alert_or_incident_id else None
