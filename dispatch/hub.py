"""What the hub does with events, for every intake and every actor: file a report, dispatch it automatically, act on
it (sign for, progress, handle, close, return, dispatch by hand, escalate), and escalate what runs late. Each call is
one atomic store transition with the notices it calls for (docs/dispatch.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import redis

from alerts import store as alert_store
from dispatch import lifecycle
from dispatch.library import Library, Limits
from dispatch.matching import Assignment, locate, match, unit_at
from dispatch.model import Clock, Event, Location, Report, Source, Transition, Unit
from dispatch.notify import Notice
from dispatch.store import Notices, ReportIdentity, apply, create, due_event_ids, event_raised_from
from geo.admin import DISTRICTS
from signs.citytime import TimeFormat, city_text

HUB = "hub"  # the actor of automatic steps in the audit
# The hub's notes on its own steps, by the code its transitions store ({clock}: the clock's name in that language).
HUB_NOTES = {
    "auto_dispatched": {"zh": "自动派单", "en": "dispatched automatically"},
    "overdue": {"zh": "{clock}超时", "en": "{clock} limit overdue"},
}
# What the hub wrote as the note itself before it stored codes, read back as the code.
_LEGACY_NOTES = {"自动派单": "auto_dispatched", **{f"{clock.value} 超时": "overdue" for clock in Clock}}
Guard = Callable[[Event], None]


def _local(ts: float | None) -> str:
    return city_text(ts, TimeFormat.DAY_MINUTE) if ts is not None else "-"


def place_text(event: Event, library: Library, lang: str = "zh") -> str:
    """Where an event is, in words: district (the city when unknown), township, address."""
    where = event.location
    if lang == "en":
        parts = [DISTRICTS[where.district][1] if where.district else "Xiangyang"]
        if where.township:
            parts.append(f"township {where.township}")
    else:
        parts = [DISTRICTS[where.district][0] if where.district else "襄阳市"]
        if where.township:
            parts.append(library.townships[where.township].name)
    if where.address:
        parts.append(where.address)
    return " ".join(parts)


def _notice(event: Event, unit: Unit, kind: str, headline: str, library: Library, now: float) -> Notice:
    event_type = library.types[event.type_code]
    body = "\n".join(
        line
        for line in (
            f"{event_type.name_zh}（{event_type.code}）· {place_text(event, library)}",
            event.description,
            f"响应时限 {_local(lifecycle.clock_due(event, Clock.RESPONSE))} · "
            f"处置时限 {_local(lifecycle.clock_due(event, Clock.HANDLING))} · "
            f"反馈时限 {_local(lifecycle.clock_due(event, Clock.FEEDBACK))}",
            f"结案标准：{event_type.closure}",
        )
        if line
    )
    return Notice.new(event.id, unit, kind, f"【{headline}】{event_type.name_zh} {event.id}", body, now)


def unit_name(unit: Unit, library: Library, lang: str = "zh") -> str:
    """A unit in words: 市住建局, 谷城县市住建局, 茨河镇乡镇（街道）城运中心; in English the department's English
    name, then its county or township code ("City Housing ... Bureau, Gucheng County")."""
    department = library.departments[unit.department]
    if lang == "en":
        if len(unit.scope) == 9:
            return f"{department.name_en}, township {unit.scope}"
        return f"{department.name_en}, {DISTRICTS[unit.scope][1]}" if unit.scope else department.name_en
    if len(unit.scope) == 9:
        return f"{library.townships[unit.scope].name}{department.short_zh}"
    return f"{DISTRICTS[unit.scope][0]}{department.short_zh}" if unit.scope else department.short_zh


def agency_name(event: Event, library: Library, lang: str = "zh") -> str:
    """Who is responsible, in words (Open311's agency_responsible): the lead unit, or the centre before dispatch."""
    if event.unit:
        return unit_name(event.unit, library, lang)
    centre = library.departments["CTR"]
    return centre.name_en if lang == "en" else centre.short_zh


def file_report(
    client: redis.Redis,
    report: Report,
    library: Library,
    district_of_point: str,
    now: float,
    *,
    time_scale: float = 1.0,
    identity: ReportIdentity | None = None,
) -> Event:
    """A new event from any intake, reported and queued for the dispatcher. `district_of_point` is geo's district of
    the report's point ("" without one); limits are shortened by `time_scale` (demonstrations and tests). A machine
    report's `identity` files it once: AlreadyFiled when it was filed before."""
    event_type = library.types[report.type_code]
    located = replace(report, location=locate(library, report.location, district_of_point))
    event, transition = lifecycle.report(located, event_type, now)
    limits = event.limits
    scaled = Limits(limits.response_s / time_scale, limits.handling_s / time_scale, limits.feedback_s / time_scale)
    event = event.with_changes(limits=scaled)
    create(client, event, transition, identity)
    return event


def raise_from_alert(
    client: redis.Redis,
    library: Library,
    type_code: str,
    linked: str,
    by: str,
    now: float,
    *,
    time_scale: float = 1.0,
) -> Event:
    """An officer turns an alert or an incident (`linked`, its id) into an event of the type they chose, in one
    action: placed in the alert's district, described by what the alert says, naming the alert; the alert's event is
    found back by event_raised_from. One event per alert: a second attempt is refused and names the first."""
    if type_code not in library.types:
        raise lifecycle.LifecycleError(f"unknown event type {type_code!r}")
    existing = event_raised_from(client, linked)
    if existing is not None:  # before reading the alert; the store checks again as it writes
        raise lifecycle.LifecycleError(f"{linked} is already event {existing}")
    alert = alert_store.get_alert(client, linked)
    incident = alert_store.get_incident(client, linked) if alert is None else None
    if alert is not None:
        district, description = alert.district, f"{alert.name} {alert.value:g}{alert.unit}（{alert.level.zh}告警）"
    elif incident is not None:
        names = "、".join(dict.fromkeys(m.name for m in incident.members))
        district, description = incident.district, f"{names}（{incident.level.zh}事件组）"
    else:
        raise lifecycle.LifecycleError(f"no alert or incident {linked!r}")
    report = Report(type_code, Location(district=district), description, Source.ALERT, linked, by, linked=(linked,))
    return file_report(client, report, library, "", now, time_scale=time_scale)


def _dispatch_notices(library: Library, now: float, headline: str = "派单") -> Notices:
    def notices(after: Event, _transition: Transition) -> list[Notice]:
        units = [u for u in (after.unit, *after.co_units) if u is not None]
        return [_notice(after, unit, "dispatched", headline, library, now) for unit in units]

    return notices


def auto_dispatch(client: redis.Redis, event_id: str, library: Library, now: float) -> Event:
    """Match a reported event to its units by type and place and dispatch it, notifying each unit."""

    def step(event: Event) -> tuple[Event, Transition]:
        assignment = match(library.types[event.type_code], event.location, library)
        after, transition = lifecycle.dispatch(event, assignment, now, HUB)
        return after, replace(transition, note_code="auto_dispatched")

    after, _ = apply(client, event_id, step, _dispatch_notices(library, now))
    return after


def dispatch_by_hand(
    client: redis.Redis, event_id: str, library: Library, department: str, by: str, note: str, now: float
) -> Event:
    """A reported or returned event dispatched by an officer to a department chosen by hand, at the type's level in
    the event's place; its co-dispatched units stay the type's."""
    if department not in library.departments:
        raise lifecycle.LifecycleError(f"unknown department {department!r}")

    def step(event: Event) -> tuple[Event, Transition]:
        event_type = library.types[event.type_code]
        typical = match(event_type, event.location, library)
        lead = unit_at(department, event_type.level, event.location, library)
        others = tuple(u for u in typical.co_units if u != lead)
        return lifecycle.dispatch(event, Assignment(typical.level, lead, others), now, by, note)

    after, _ = apply(client, event_id, step, _dispatch_notices(library, now, "人工派单"))
    return after


def escalate_overdue(client: redis.Redis, library: Library, now: float) -> list[Transition]:
    """Escalate every clock that has run out since the last look, once each: the unit in charge is told it is
    overdue, the superior that it now supervises the event."""
    done: list[Transition] = []
    for event_id in due_event_ids(client, now):
        while True:

            def step(event: Event) -> tuple[Event, Transition]:
                late = lifecycle.newly_overdue(event, now)
                if not late:
                    raise _NothingDue
                after, transition = lifecycle.escalate(event, now, HUB, clock=late[0])
                return after, replace(transition, note_code="overdue")

            def notices(after: Event, transition: Transition) -> list[Notice]:
                clock = transition.clock
                out = []
                if after.unit is not None:
                    out.append(_notice(after, after.unit, f"overdue:{clock}", f"{_CLOCK_ZH[clock]}超时", library, now))
                if after.supervisor is not None:
                    out.append(_notice(after, after.supervisor, "escalated", "超时升级督办", library, now))
                return out

            try:
                _, transition = apply(client, event_id, step, notices)
            except _NothingDue:
                break
            except lifecycle.LifecycleError:
                break  # no level above: nothing more to escalate to
            done.append(transition)
    return done


_CLOCK_ZH = {"response": "响应", "handling": "处置", "feedback": "反馈"}


def note_text(transition: Transition, lang: str = "zh") -> str:
    """A step's note as a reader sees it: the person's own words as written, the hub's in the reader's language
    (transitions stored before note codes included)."""
    code = transition.note_code or _LEGACY_NOTES.get(transition.note, "")
    if code not in HUB_NOTES:
        return transition.note
    clock = _CLOCK_ZH.get(transition.clock, transition.clock) if lang == "zh" else transition.clock
    return HUB_NOTES[code]["en" if lang == "en" else "zh"].format(clock=clock)


class _NothingDue(Exception):
    """The clock was signed off (or escalated by another dispatcher) between the index and the transaction."""


def act(
    client: redis.Redis,
    event_id: str,
    action: str,
    library: Library,
    by: str,
    now: float,
    *,
    note: str = "",
    evidence: tuple[str, ...] = (),
    score: int = 0,
    guard: Guard | None = None,
) -> Event:
    """One person's step by name: sign_for, progress, handle, close, return, escalate, rate (with `score`).
    `guard` sees the stored event inside the transaction and raises to refuse (whether this person may act on it
    is decided on the state acted on, not on one read before)."""

    def step(event: Event) -> tuple[Event, Transition]:
        if guard is not None:
            guard(event)
        if action == "sign_for":
            return lifecycle.sign_for(event, now, by, note)
        if action == "progress":
            return lifecycle.progress(event, now, by, note)
        if action == "handle":
            return lifecycle.handle(event, library.types[event.type_code], now, by, note, evidence)
        if action == "close":
            return lifecycle.close(event, now, by, note)
        if action == "return":
            return lifecycle.give_back(event, now, by, note)
        if action == "escalate":
            return lifecycle.escalate(event, now, by, note)
        if action == "rate":
            return lifecycle.rate(event, now, by, score, note)
        raise lifecycle.LifecycleError(f"unknown action {action!r}")

    def notices(after: Event, transition: Transition) -> list[Notice]:
        if transition.action == "escalated" and after.supervisor is not None:
            return [_notice(after, after.supervisor, "escalated", "升级督办", library, now)]
        return []

    after, _ = apply(client, event_id, step, notices)
    return after


# The handling unit's steps (a handler of the lead unit, or an officer for it), and the centre's (officers only).
HANDLER_ACTIONS = ("sign_for", "progress", "handle", "return")
CENTRE_ACTIONS = ("close", "escalate", "rate")
ACTIONS = HANDLER_ACTIONS + CENTRE_ACTIONS
