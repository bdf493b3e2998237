"""Pure rule evaluation: which rule watches a sign, the level a value stands at (with hysteresis), the minimum
durations that turn levels into raises, level changes and clears, and when a sensor counts as silent.

No Redis and no clock: durations are measured in the readings' source time, and `now` is an argument. The bounds
a reading is judged by are those of its source time (`signs.model.thresholds_at`): an hour-of-week sign's bounds
follow its profile, so the same value can be normal at night and a breach at rush hour. While the simulator tells a
story, the source time is a wall-clock stamp and the bounds are those of its story time (`clock`, signs.storyclock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from alerts.model import LEVEL_BY_NAME, QUIET, RuleKind, RuleState, new_alert_id
from config import Settings
from geo.admin import CITY_ADCODE
from signs.model import (
    BoundsKind,
    Catalogue,
    Derivation,
    DeriveOp,
    Direction,
    Level,
    MqttSource,
    Sign,
    level_of,
    stale_at,
    thresholds_at,
)
from signs.storyclock import StoryClock

# (category, module, core) of the CMA warning signals: XY.S.M13.S48.sig:* per signal type, .dist:* per district.
CMA_SIGNALS = ("S", "M13", "S48")


@dataclass(frozen=True, slots=True)
class RuleParams:
    # Fraction of the gap to the neighbouring bound by which a value must pass back over a bound to leave a level.
    hysteresis: float
    raise_after_s: float
    clear_after_s: float


# An issued warning signal is authoritative: raised the moment it is issued, cleared the moment it is lifted.
CMA_PARAMS = RuleParams(hysteresis=0.0, raise_after_s=0.0, clear_after_s=0.0)


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Every rule's parameters, from the settings."""

    threshold: RuleParams
    camera: RuleParams
    nodata_cadences: float
    nodata_min_s: float
    nodata_level: Level
    max_reading_age_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleBook:
        threshold = RuleParams(settings.alert_hysteresis, settings.alert_raise_after_s, settings.alert_clear_after_s)
        return cls(
            threshold=threshold,
            camera=replace(threshold, raise_after_s=settings.alert_camera_raise_after_s),
            nodata_cadences=settings.alert_nodata_cadences,
            nodata_min_s=settings.alert_nodata_min_s,
            nodata_level=LEVEL_BY_NAME[settings.alert_nodata_level],
            max_reading_age_s=settings.alert_max_reading_age_s,
        )

    def params(self, rule: RuleKind, sign: Sign | None = None) -> RuleParams:
        if rule is RuleKind.CAMERA:
            return self.camera
        if rule is RuleKind.CMA:
            return CMA_PARAMS
        if sign is not None and sign.bounds is BoundsKind.FIRST_OCCURRENCE:
            # One occurrence is the news: raised at once, whatever ALERT_RAISE_AFTER_S asks of noisy values.
            return replace(self.threshold, raise_after_s=0.0)
        return self.threshold


# Which rules watch which sign ------------------------------------------------------------------------------


def value_rule(sign: Sign) -> RuleKind | None:
    """The rule that evaluates a sign's readings; None for signs without thresholds."""
    if (sign.category, sign.module, sign.core) == CMA_SIGNALS:
        # The citywide S48 is the maximum of the signals: raising it as well would repeat each signal's alert.
        return RuleKind.CMA if isinstance(sign.source, MqttSource) else None
    if all(bound is None for bound in sign.thresholds):
        return None
    if isinstance(sign.source, Derivation) and sign.source.op is DeriveOp.CAMERA_ONLINE_RATE:
        return RuleKind.CAMERA
    return RuleKind.THRESHOLD


def watched_for_silence(sign: Sign) -> bool:
    """Only sensors (MQTT-sourced signs) raise no-data alerts: a derived sign goes quiet because its inputs did,
    and their own no-data alerts say so once."""
    return isinstance(sign.source, MqttSource)


def district_of(sign: Sign) -> str:
    """The district an alert on this sign belongs to (silences and leaders' scopes); the city for citywide signs."""
    return sign.district or sign.source.adcode or CITY_ADCODE


@dataclass(frozen=True, slots=True)
class Watch:
    sign: Sign
    rule: RuleKind
    max_age_s: float  # readings older than this are history, not news: at least as old as a stale value


def watches(catalogue: Catalogue, book: RuleBook) -> dict[str, Watch]:
    """Sign id -> how its readings are evaluated, for every sign some value rule watches."""
    out = {}
    for sign in catalogue.signs.values():
        rule = value_rule(sign)
        if rule is not None:
            out[sign.id] = Watch(sign, rule, max(book.max_reading_age_s, stale_at(sign, 0.0)))
    return out


def route_readings(
    readings: Iterable[tuple[str, float, float]], watched: Mapping[str, Watch], now: float
) -> dict[tuple[RuleKind, str], list[tuple[float, float]]]:
    """(source time, value) per (rule, sign id); unknown and unwatched signs and readings too old are left out."""
    routed: dict[tuple[RuleKind, str], list[tuple[float, float]]] = defaultdict(list)
    for sign_id, source_ts, value in readings:
        watch = watched.get(sign_id)
        if watch is not None and now - source_ts <= watch.max_age_s:
            routed[(watch.rule, sign_id)].append((source_ts, value))
    return routed


# Levels with hysteresis -----------------------------------------------------------------------------------


def bound_gap(thresholds: tuple[float | None, ...], index: int) -> float:
    """Distance from one bound to the nearest other bound; the bound's own magnitude when it is alone."""
    bound = thresholds[index]
    assert bound is not None
    gaps = [
        abs(bound - other) for i, other in enumerate(thresholds) if i != index and other is not None and other != bound
    ]
    return min(gaps) if gaps else abs(bound)


@lru_cache(maxsize=4_096)
def hysteresis_margins(thresholds: tuple[float | None, ...], hysteresis: float) -> tuple[float, ...]:
    """Per level from blue to red, how far back over its bound a value must go to leave it (0 where undefined).
    Cached: a catalogue has a few hundred distinct threshold tuples, and this runs for every reading."""
    return tuple(0.0 if bound is None else hysteresis * bound_gap(thresholds, i) for i, bound in enumerate(thresholds))


def sign_at(sign: Sign, ts: float, clock: StoryClock | None = None) -> Sign:
    """The sign with the bounds of source time ts in its thresholds: what an alert raised or changed at ts records
    as the bound it crossed."""
    if sign.bounds is not BoundsKind.HOUR_OF_WEEK:
        return sign
    return replace(sign, thresholds=thresholds_at(sign, ts, clock))


def observed_level(
    value: float, sign: Sign, current: Level, hysteresis: float, ts: float, clock: StoryClock | None = None
) -> Level:
    """The level a value with source time ts stands at, given the level the condition stands at now.

    The bounds are those at ts (`thresholds_at`). Rising is plain level_of. Falling, the value keeps each level up
    to `current` while it stays within hysteresis × bound_gap of that level's bound: it must clearly leave a
    level, so that a value hovering at a bound does not flap.
    """
    thresholds = thresholds_at(sign, ts, clock)
    raw = level_of(value, thresholds, sign.direction)
    if raw >= current or hysteresis <= 0:
        return raw
    margins = hysteresis_margins(thresholds, hysteresis)
    for level in range(current, raw, -1):
        bound = thresholds[level - 1]
        if bound is None:
            continue
        margin = margins[level - 1]
        held = value >= bound - margin if sign.direction is Direction.HIGH_IS_BAD else value < bound + margin
        if held:
            return Level(level)
    return raw


# Minimum durations and changes ----------------------------------------------------------------------------


class ChangeKind(StrEnum):
    RAISE = "raise"
    LEVEL = "level"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Change:
    """A change the alert must follow. `state` is the rule state right after it (level, value, alert id)."""

    kind: ChangeKind
    state: RuleState
    at: float  # source time of the reading that made it (the tick's time for no-data)
    since: float  # source time at which the condition began


@dataclass(frozen=True, slots=True)
class Outcome:
    state: RuleState
    changes: tuple[Change, ...] = ()

    def needs_write(self, before: RuleState) -> bool:
        """Whether Redis must learn of it: a change, or a new state other than one quiet state for another."""
        return bool(self.changes) or (self.state != before and not (self.state.is_quiet and before.is_quiet))


def advance(state: RuleState, ts: float, value: float, level: Level, params: RuleParams) -> RuleState:
    """One reading through the minimum durations. A breach is raised once it has lasted raise_after_s; an active
    condition rises at once (red must not wait); it steps down or clears once the lower level has lasted
    clear_after_s. Returning to the current level cancels a pending fall."""
    if state.level == Level.NORMAL:
        if level == Level.NORMAL:
            return RuleState(last_ts=ts, value=value)
        since = state.since or ts
        if ts - since >= params.raise_after_s:
            return RuleState(level, 0.0, ts, value, state.alert_id)
        return RuleState(Level.NORMAL, since, ts, value, state.alert_id)
    if level >= state.level:
        return RuleState(level, 0.0, ts, value, state.alert_id)
    since = state.since or ts
    if ts - since >= params.clear_after_s:
        return RuleState(level, 0.0, ts, value, state.alert_id)
    return RuleState(state.level, since, ts, value, state.alert_id)


def change_between(before: RuleState, after: RuleState) -> ChangeKind | None:
    """What the alert must do. Without an active alert (none yet, or an officer resolved it while the condition
    held), only a rise above the level already seen raises one."""
    if not before.alert_id:
        return ChangeKind.RAISE if after.level > before.level else None
    if after.level == Level.NORMAL:
        return ChangeKind.CLEAR
    return ChangeKind.LEVEL if after.level != before.level else None


def evaluate(
    state: RuleState,
    readings: Iterable[tuple[float, float]],
    sign: Sign,
    rule: RuleKind,
    params: RuleParams,
    clock: StoryClock | None = None,
) -> Outcome:
    """Fold (source time, value) readings into the rule state, oldest first, with every change on the way: a
    breach raised and cleared within one batch is still an alert. Each reading meets the bounds of its own source
    time (of its story time while `clock` runs)."""
    changes: list[Change] = []
    for ts, value in sorted(readings):
        if ts <= state.last_ts:
            continue  # redelivered or late: the state has already moved past it
        level = observed_level(value, sign, state.level, params.hysteresis, ts, clock)
        after = advance(state, ts, value, level, params)
        kind = change_between(state, after)
        if kind is ChangeKind.RAISE:
            after = replace(after, alert_id=new_alert_id(rule, sign.id, ts))
            changes.append(Change(kind, after, ts, state.since or ts))
        elif kind is ChangeKind.CLEAR:
            after = replace(after, alert_id="")
            changes.append(Change(kind, after, ts, ts))
        elif kind is ChangeKind.LEVEL:
            changes.append(Change(kind, after, ts, ts))
        state = after
    return Outcome(state, tuple(changes))


# No data --------------------------------------------------------------------------------------------------


def silence_limit_s(sign: Sign, book: RuleBook) -> float:
    return max(book.nodata_cadences * sign.cadence_s, book.nodata_min_s)


def is_silent(sign: Sign, heard_ts: float, now: float, book: RuleBook, ingest_up_since: float) -> bool:
    """A sensor is silent once several of its cadences passed without a reading (judged by source time) while
    the ingest was up: after an outage of the feed workers every sensor gets its full limit again."""
    return now - max(heard_ts, ingest_up_since) > silence_limit_s(sign, book)


def evaluate_silence(
    state: RuleState, sign: Sign, silent: bool, heard_ts: float, heard_value: float, now: float, level: Level
) -> Outcome:
    """The no-data rule at a tick: raised when the sensor falls silent, cleared as soon as it is heard again."""
    if silent and state.level == Level.NORMAL:
        after = RuleState(level, 0.0, heard_ts, heard_value, new_alert_id(RuleKind.NO_DATA, sign.id, now))
        return Outcome(after, (Change(ChangeKind.RAISE, after, now, heard_ts),))
    if not silent and state.level != Level.NORMAL:
        cleared = (Change(ChangeKind.CLEAR, QUIET, now, now),) if state.alert_id else ()
        return Outcome(QUIET, cleared)
    return Outcome(state)
