"""An event's lifecycle as a pure state machine: each step takes the event and the time (`now`, injected: tests and
the dispatcher's clock decide it) and returns the new event with its audited transition, or raises LifecycleError.

    reported -> dispatched -> signed_for -> in_progress -> handled -> closed
                dispatched -> returned -> dispatched (again, the clocks restart)
    escalated: any open stage, up one level to the superior unit; the stage and its clocks go on

The three clocks come from the type's limits: response (dispatched -> signed for), handling (dispatched -> handled),
feedback (reported -> closed). A clock that runs out is overdue once: the dispatcher escalates it (docs/dispatch.md).
"""

from __future__ import annotations

import secrets

from dispatch.library import EventType, Level
from dispatch.matching import Assignment, superior
from dispatch.model import Clock, Event, Report, Status, Transition, Unit
from signs.citytime import TimeFormat, city_text

NOTE_MAX = 4_000
# The states each step may be taken from, by the step's name in the hub and the API (escalate: any open, dispatched
# state, see escalate); the pages offer a step only from these.
ALLOWED_FROM: dict[str, tuple[Status, ...]] = {
    "dispatch": (Status.REPORTED, Status.RETURNED),
    "sign_for": (Status.DISPATCHED,),
    "return": (Status.DISPATCHED,),
    "progress": (Status.SIGNED_FOR, Status.IN_PROGRESS),
    "handle": (Status.SIGNED_FOR, Status.IN_PROGRESS),
    "close": (Status.HANDLED,),
    "rate": (Status.CLOSED,),
    "escalate": (Status.DISPATCHED, Status.SIGNED_FOR, Status.IN_PROGRESS, Status.HANDLED, Status.RETURNED),
}


class LifecycleError(ValueError):
    """The step is not allowed in the event's state, or lacks what it needs (a reason, a note, evidence)."""


def new_event_id(now: float) -> str:
    """Sortable by report time, unique without coordination: E + local date and time + 6 random hex digits."""
    return "E" + city_text(now, TimeFormat.COMPACT) + secrets.token_hex(3)


def _transition(
    before: Event, after: Event, action: str, by: str, note: str, unit: Unit | None = None, clock: Clock | None = None
) -> Transition:
    return Transition(
        event_id=after.id,
        action=action,
        from_status=before.status.value,
        to_status=after.status.value,
        at=after.updated_at,
        by=by,
        note=note,
        unit=str(unit) if unit else "",
        clock=clock.value if clock else "",
    )


def _require(event: Event, allowed: tuple[Status, ...], action: str) -> None:
    if event.status not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise LifecycleError(f"{event.id} is {event.status.value}: it can be {action} only when {names}")


def _note(text: str, required: str = "") -> str:
    text = text.strip()
    if required and not text:
        raise LifecycleError(required)
    if len(text) > NOTE_MAX:
        raise LifecycleError(f"a note has at most {NOTE_MAX} characters")
    return text


def report(report: Report, event_type: EventType, now: float, event_id: str = "") -> tuple[Event, Transition]:
    event = Event(
        id=event_id or new_event_id(now),
        type_code=event_type.code,
        location=report.location,
        description=_note(report.description),
        source=report.source,
        source_ref=report.source_ref,
        reporter=report.reporter,
        media=report.media,
        linked=report.linked,
        confidence=report.confidence,
        limits=event_type.limits,
        status=Status.REPORTED,
        level=event_type.level,
        reported_at=now,
        updated_at=now,
    )
    transition = Transition(event.id, "reported", "", event.status.value, now, report.reporter or report.source.value)
    return event, transition


def dispatch(event: Event, assignment: Assignment, now: float, by: str, note: str = "") -> tuple[Event, Transition]:
    """To the assignment's units; a returned event is dispatched again, with its response and handling clocks anew."""
    _require(event, ALLOWED_FROM["dispatch"], "dispatched")
    after = event.with_changes(
        status=Status.DISPATCHED,
        level=assignment.level,
        unit=assignment.unit,
        co_units=assignment.co_units,
        dispatched_at=now,
        signed_at=None,
        overdue=tuple(c for c in event.overdue if c is Clock.FEEDBACK),
        updated_at=now,
        note=_note(note),
    )
    return after, _transition(event, after, "dispatched", by, after.note, assignment.unit)


def sign_for(event: Event, now: float, by: str, note: str = "") -> tuple[Event, Transition]:
    _require(event, ALLOWED_FROM["sign_for"], "signed for")
    after = event.with_changes(status=Status.SIGNED_FOR, signed_at=now, updated_at=now, note=_note(note))
    return after, _transition(event, after, "signed_for", by, after.note, event.unit)


def progress(event: Event, now: float, by: str, note: str) -> tuple[Event, Transition]:
    """A progress note; the first one after signing for starts the work (in_progress)."""
    _require(event, ALLOWED_FROM["progress"], "given a progress note")
    after = event.with_changes(
        status=Status.IN_PROGRESS, updated_at=now, note=_note(note, "a progress note must say something")
    )
    return after, _transition(event, after, "progress", by, after.note, event.unit)


def handle(
    event: Event, event_type: EventType, now: float, by: str, note: str, evidence: tuple[str, ...] = ()
) -> tuple[Event, Transition]:
    """Finished on site, with a note, and photos where the type's evidence rule asks for them."""
    _require(event, ALLOWED_FROM["handle"], "handled")
    text = _note(note, "say what was done (a note is required)")
    if event_type.evidence.needs_media and not evidence:
        raise LifecycleError(f"{event_type.code} needs a photo of the result ({event_type.evidence.value})")
    after = event.with_changes(
        status=Status.HANDLED, handled_at=now, updated_at=now, note=text, evidence=event.evidence + evidence
    )
    return after, _transition(event, after, "handled", by, text, event.unit)


def close(event: Event, now: float, by: str, note: str = "") -> tuple[Event, Transition]:
    """Verified by the centre against the type's closure standard (核查结案)."""
    _require(event, ALLOWED_FROM["close"], "closed")
    after = event.with_changes(status=Status.CLOSED, closed_at=now, updated_at=now, note=_note(note))
    return after, _transition(event, after, "closed", by, after.note, event.unit)


RATING_MIN, RATING_MAX = 1, 5


def rate(event: Event, now: float, by: str, score: int, note: str = "") -> tuple[Event, Transition]:
    """事后评价: the centre rates a closed event's handling, 1 to 5 with a note; a new rating replaces the last."""
    _require(event, ALLOWED_FROM["rate"], "rated")
    if isinstance(score, bool) or not isinstance(score, int) or not RATING_MIN <= score <= RATING_MAX:
        raise LifecycleError(f"a rating is a whole number from {RATING_MIN} to {RATING_MAX}")
    text = _note(note)
    after = event.with_changes(rating=score, rating_note=text, updated_at=now)
    return after, _transition(event, after, "rated", by, f"{score}/{RATING_MAX} {text}".strip(), event.unit)


def give_back(event: Event, now: float, by: str, reason: str) -> tuple[Event, Transition]:
    """退单: the unit says it is not theirs, before signing for; back to the centre, to be dispatched again."""
    _require(event, ALLOWED_FROM["return"], "returned")
    text = _note(reason, "a return needs a reason")
    after = event.with_changes(status=Status.RETURNED, returns=event.returns + 1, updated_at=now, note=text)
    return after, _transition(event, after, "returned", by, text, event.unit)


def escalate(event: Event, now: float, by: str, note: str = "", clock: Clock | None = None) -> tuple[Event, Transition]:
    """Up one level to the superior of the unit in charge (its supervisor if already escalated). `clock` is the
    overdue clock that caused it, marked so that it escalates once; the stage goes on."""
    if event.status not in ALLOWED_FROM["escalate"]:
        raise LifecycleError(f"{event.id} is {event.status.value}: only a dispatched, open event can be escalated")
    current = event.supervisor or event.unit
    above = superior(current) if current else None
    if above is None:
        raise LifecycleError(f"{event.id} is already with the city operations centre: there is no level above")
    after = event.with_changes(
        level=event.level.above() or Level.COMMAND,
        supervisor=above,
        escalations=event.escalations + 1,
        overdue=event.overdue + ((clock,) if clock and clock not in event.overdue else ()),
        updated_at=now,
    )
    return after, _transition(event, after, "escalated", by, _note(note), above, clock)


# Clocks ---------------------------------------------------------------------------------------------------------------


def clock_window(event: Event, clock: Clock) -> tuple[float | None, float | None]:
    """(start, stop) of a clock: start None while it has not started, stop None while it runs."""
    if clock is Clock.FEEDBACK:
        return event.reported_at, event.closed_at
    start = event.dispatched_at
    if clock is Clock.RESPONSE:
        return start, event.signed_at
    return start, event.handled_at


def clock_due(event: Event, clock: Clock) -> float | None:
    """When the clock runs out; None before it starts."""
    start, _ = clock_window(event, clock)
    if start is None:
        return None
    limit = {
        Clock.RESPONSE: event.limits.response_s,
        Clock.HANDLING: event.limits.handling_s,
        Clock.FEEDBACK: event.limits.feedback_s,
    }[clock]
    return start + limit


def clock_late(event: Event, clock: Clock, now: float) -> bool:
    """The clock ran out: still running past its due time, or stopped after it."""
    due = clock_due(event, clock)
    if due is None:
        return False
    _, stop = clock_window(event, clock)
    return (stop if stop is not None else now) > due


def pending_dues(event: Event) -> list[tuple[float, Clock]]:
    """(due time, clock) of the running clocks not yet escalated, soonest first; none while the event waits at the
    centre (reported, returned) or is closed."""
    if event.status in (Status.REPORTED, Status.CLOSED, Status.RETURNED):
        return []
    dues = []
    for clock in Clock:
        _, stop = clock_window(event, clock)
        when = clock_due(event, clock)
        if stop is None and when is not None and clock not in event.overdue:
            dues.append((when, clock))
    return sorted(dues)


def newly_overdue(event: Event, now: float) -> list[Clock]:
    """Running clocks past their due time that have not been escalated yet, in the order they ran out."""
    return [clock for when, clock in pending_dues(event) if now > when]
