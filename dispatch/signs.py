"""The M15 signs (事件处置) computed from the hub's own events: events today, the 30-minute response rate, on-time
handling with 24 h feedback, 24 h feedback and urgent handling, per district, category and item, as the catalogue's
`hub:` sources say (docs/catalogue.md#hub-sources). The dispatcher computes them and writes them through the one sign
writer (signs/write.py), so the wall, history, alerts and exports treat them as every other sign.

* **Events today**: events reported since midnight, Beijing time.
* **Rates**: of the events whose clock was decided in the last 24 hours, the share decided in time. A clock is
  decided when it stops (signed for, handled, closed) or when it runs out still running (late). On-time handling
  with feedback is decided late at the first of its two clocks to run out, in time once both stopped in time.
  Events are read from the last 48 hours of reports: every limit but the long works profile (S3) falls inside.
* A rate over no decided event is **no data** (Quality.NO_DATA): neither 0 % nor 100 %. A `none` scope (an item
  the library has no type for yet) is no data too, never a count of zero.

The computation is pure, its time injected; HubSigns decides when to recompute and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

import redis

from dispatch.library import Library
from dispatch.lifecycle import clock_due, clock_window
from dispatch.model import Clock, Event
from dispatch.store import list_reported
from signs.citytime import CITY_UTC_OFFSET_S
from signs.keys import KEY_EVENTS_AUDIT, Latest, Quality
from signs.model import Catalogue, HubMeasure, HubScope, HubSource, Sign
from signs.replies import StreamEntry
from signs.write import SignWriter

log = logging.getLogger("cityeye.dispatch.signs")

RATE_WINDOW_S = 86_400.0  # rates judge the clocks decided in the last 24 hours
READ_WINDOW_S = 2 * RATE_WINDOW_S  # ...of events reported in the last 48 hours
URGENT_HANDLING_S = 7_200.0  # an urgent type is handled within 2 hours or less (profiles S0 and S1)
READ_LIMIT = 200_000  # events read per computation at most: 48 hours at a hundred times the simulated rate

# (when the clock was decided, whether in time), or None while it is undecided.
Outcome = tuple[float, bool] | None


class HubSourceError(ValueError):
    """A catalogue hub: source names a category or item the event library does not have."""


def city_day_start(now: float) -> float:
    """Midnight, Beijing time, of the day `now` falls in."""
    return now - (now + CITY_UTC_OFFSET_S) % 86_400


def clock_outcome(event: Event, clock: Clock, now: float) -> Outcome:
    start, stop = clock_window(event, clock)
    due = clock_due(event, clock)
    if start is None or due is None:
        return None
    if stop is not None:
        return stop, stop <= due
    return (due, False) if now > due else None


def on_time_outcome(event: Event, now: float) -> Outcome:
    """Handled within the handling limit and closed within the feedback limit."""
    handling, feedback = clock_outcome(event, Clock.HANDLING, now), clock_outcome(event, Clock.FEEDBACK, now)
    late = [o[0] for o in (handling, feedback) if o is not None and not o[1]]
    if late:
        return min(late), False
    if handling is None or feedback is None:
        return None
    return max(handling[0], feedback[0]), True


def measure_outcome(measure: HubMeasure, event: Event, library: Library, now: float) -> Outcome:
    if measure is HubMeasure.RESPONSE_RATE:
        return clock_outcome(event, Clock.RESPONSE, now)
    if measure is HubMeasure.FEEDBACK_RATE:
        return clock_outcome(event, Clock.FEEDBACK, now)
    if measure is HubMeasure.ON_TIME_RATE:
        return on_time_outcome(event, now)
    assert measure is HubMeasure.URGENT_HANDLING_RATE, measure
    event_type = library.types.get(event.type_code)
    if event_type is None or event_type.limits.handling_s > URGENT_HANDLING_S:
        return None
    return clock_outcome(event, Clock.HANDLING, now)


def in_scope(source: HubSource, event: Event) -> bool:
    scope = source.scope
    if scope is HubScope.CITY:
        return True
    if scope is HubScope.DISTRICT:
        return event.location.district == source.codes[0]
    if scope is HubScope.CATEGORY:
        return event.type_code[:2] == source.codes[0]
    if scope is HubScope.ITEMS:
        return event.type_code[:5] in source.codes
    return False


@dataclass
class _Tally:
    count: int = 0
    decided: int = 0
    in_time: int = 0


def hub_values(signs: Iterable[Sign], events: Iterable[Event], library: Library, now: float) -> dict[str, Latest]:
    """The value of every hub-sourced sign at `now`, from the events reported in the read window."""
    chosen = [(sign, sign.source) for sign in signs if isinstance(sign.source, HubSource)]
    tallies = {sign.id: _Tally() for sign, _ in chosen}
    day_start, rate_start = city_day_start(now), now - RATE_WINDOW_S
    for event in events:
        outcomes: dict[HubMeasure, Outcome] = {}
        for sign, source in chosen:
            if not in_scope(source, event):
                continue
            tally = tallies[sign.id]
            if not source.measure.is_rate:
                tally.count += day_start <= event.reported_at <= now
                continue
            if source.measure not in outcomes:
                outcomes[source.measure] = measure_outcome(source.measure, event, library, now)
            outcome = outcomes[source.measure]
            if outcome is not None and rate_start <= outcome[0] <= now:
                tally.decided += 1
                tally.in_time += outcome[1]
    values = {}
    for sign, source in chosen:
        tally = tallies[sign.id]
        if source.scope is HubScope.NONE or (source.measure.is_rate and not tally.decided):
            values[sign.id] = Latest(0.0, now, now, Quality.NO_DATA)
        elif source.measure.is_rate:
            values[sign.id] = Latest(round(100.0 * tally.in_time / tally.decided, 1), now, now)
        else:
            values[sign.id] = Latest(float(tally.count), now, now)
    return values


def check_hub_sources(catalogue: Catalogue, library: Library) -> list[Sign]:
    """The catalogue's hub-sourced signs, once every category and item they name is in the event library."""
    signs = [sign for sign in catalogue.signs.values() if isinstance(sign.source, HubSource)]
    for sign in signs:
        source = sign.source
        assert isinstance(source, HubSource)
        known: Mapping[str, object] = (
            library.categories if source.scope is HubScope.CATEGORY
            else library.items if source.scope is HubScope.ITEMS
            else {}
        )  # fmt: skip
        if known:
            missing = [code for code in source.codes if code not in known]
            if missing:
                raise HubSourceError(f"{sign.id}: {source} names {missing[0]}, which the event library does not have")
    return signs


@dataclass
class HubSigns:
    """Recomputes the hub signs once events changed (at most every `min_s`) and every `refresh_s` however quiet,
    and writes them: every value as the latest; history once per cadence, as the roll-up keeps derived history; the
    alert engine's readings whenever a value changes and once per cadence. Only OK values go to history and the
    alert engine: no data raises nothing and draws no false dip."""

    client: redis.Redis
    writer: SignWriter
    library: Library
    signs: list[Sign]
    min_s: float
    refresh_s: float
    _computed_at: float = -1e18
    _audit_seen: bytes | None = None
    _written: dict[str, tuple[int, float]] = field(default_factory=dict)  # sign -> (cadence slot, value) landed

    def due(self, now: float, audit_last: bytes | None) -> bool:
        since = now - self._computed_at
        return since >= self.refresh_s or (audit_last != self._audit_seen and since >= self.min_s)

    def tick(self, now: float) -> int:
        """Recompute and write when due; returns how many signs were written (0 when not due)."""
        newest = cast(list[StreamEntry], self.client.xrevrange(KEY_EVENTS_AUDIT, count=1))
        audit_last = newest[0][0] if newest else None
        if not self.signs or not self.due(now, audit_last):
            return 0
        events = list_reported(self.client, now - READ_WINDOW_S, now, READ_LIMIT)
        values = hub_values(self.signs, events, self.library, now)
        self.write(values, now)
        self._computed_at, self._audit_seen = now, audit_last
        return len(values)

    def write(self, values: Mapping[str, Latest], now: float) -> None:
        cadence = {sign.id: sign.cadence_s for sign in self.signs}
        history, landed = [], []
        for sign_id, value in values.items():
            if value.quality is not Quality.OK:
                self._written.pop(sign_id, None)
                continue
            point = (sign_id, value.source_ts, value.value)
            slot = int(value.source_ts // cadence[sign_id])
            held = self._written.get(sign_id)
            if held is None or held[0] != slot:
                history.append(point)
            if held != (slot, value.value):
                landed.append(point)
            self._written[sign_id] = (slot, value.value)
        with self.client.pipeline(transaction=False) as pipe:
            self.writer.latest(pipe, values)
            self.writer.history(pipe, history)
            self.writer.landed(pipe, landed, now)
            pipe.execute()
