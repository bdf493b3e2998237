"""The wall's events panel and map layer (一网协同 on the big screen): the open events by state, how many are late,
the most pressing few, and every open event with a point as a map marker coloured by its category.

Sent with the wall's tick only when the events' audit moved since the id the wall holds (every step of every event
writes one entry), so a quiet hub costs a wall one stream read per tick. Both languages travel (the strip's way):
the browser picks its own. Lateness is judged here at the time of sending and again in the browser every second
against each event's next due time, so an event turns red on the wall when its clock runs out, between two steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from dispatch.hub import place_text
from dispatch.library import Library
from dispatch.model import Event, Status
from dispatch.store import list_open
from views.events import EventCard, card, newest_event_audit, pressing_order

# The panel lists this many events, the most pressing first; the browser is sent at most this many (the map's markers).
PANEL_EVENTS = 8
MAP_EVENTS = 2_000
OPEN_STATES = tuple(s.value for s in Status if s.is_open)
NO_AUDIT = "0-0"  # what a wall holds once it has been told that no event was ever filed


def held_events_audit_of(value: object) -> str | None:
    """The events' audit id a wall says it holds; None (nothing held: send everything) for anything else."""
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _listed(c: EventCard, library: Library) -> dict[str, Any]:
    event = c.event
    event_type = library.types[event.type_code]
    due = c.next_due
    return {
        "id": event.id,
        "status": event.status.value,
        "category": c.category,
        "type": [event_type.name_zh, event_type.name_en],
        "place": [place_text(event, library, "zh"), place_text(event, library, "en")],
        "due": due.due_at if due else None,
        "late": c.late,
        "district": event.location.district,
    }


def map_points(cards: Iterable[EventCard]) -> list[list[Any]]:
    """[id, lat, lon, category, next due or null, late] per open event, most pressing first: the browser judges
    lateness from them every second and draws those with a point (lat and lon null without one)."""
    return [
        [c.event.id, _degrees(c.event.location.lat), _degrees(c.event.location.lon), c.category,
         round(c.next_due.due_at) if c.next_due and c.next_due.due_at else None, c.late]
        for c in cards
    ][:MAP_EVENTS]  # fmt: skip


def _degrees(value: float | None) -> float | None:
    """Five decimals, about a metre: what a marker needs, and a third of the bytes."""
    return round(value, 5) if value is not None else None


def wall_events(events: list[Event], library: Library, audit: str, now: float) -> dict[str, Any]:
    """The panel and the layer from the open events (pure)."""
    cards = pressing_order(card(e, library, None, "zh", now) for e in events)
    counts = {state: 0 for state in OPEN_STATES}
    for c in cards:
        counts[c.event.status.value] += 1
    return {
        "audit": audit,
        "counts": counts,
        "open": len(cards),
        "late": sum(c.late for c in cards),
        "list": [_listed(c, library) for c in cards[:PANEL_EVENTS]],
        "points": map_points(cards),
    }


# The newest answer of this process, by audit id: every wall polling after the same step gets the same events, so
# they are read and shaped once per step and process, not once per wall (a thousand events take ~60 ms). Lateness in
# it may be a step old; the browser judges it again every second from the due times.
_shaped: dict[str, dict[str, Any]] = {}


def events_update(client: redis.Redis, library: Library, held_audit: object, now: float) -> dict[str, Any] | None:
    """What one wall's tick carries of the events: None while nothing changed since the audit id it holds."""
    audit = newest_event_audit(client) or NO_AUDIT
    if audit == held_events_audit_of(held_audit):
        return None
    doc = _shaped.get(audit)
    if doc is None:
        doc = wall_events(list_open(client), library, audit, now)
        _shaped.clear()  # gunicorn's threads may race here: each then shapes once, none fails
        _shaped[audit] = doc
    return doc
