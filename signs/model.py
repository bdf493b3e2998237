"""The sign catalogue's types and the pure rules on them: warning levels, the bounds at a moment (rule kinds and
hour-of-week profiles) and derivation formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from signs.citytime import CITY_UTC_OFFSET_S, city_time

if TYPE_CHECKING:
    from signs.storyclock import StoryClock

Times = npt.NDArray[np.float64]  # epoch seconds, as arrays of them (a simulated week, a history's time stamps)


class Level(IntEnum):
    """One colour scale for the whole wall (catalogue-reference §3.0)."""

    NORMAL = 0
    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def zh(self) -> str:
        return ("正常", "蓝", "黄", "橙", "红")[self]

    @property
    def en(self) -> str:
        return ("normal", "blue", "yellow", "orange", "red")[self]


class Direction(StrEnum):
    HIGH_IS_BAD = "high"
    LOW_IS_BAD = "low"


class BoundsKind(StrEnum):
    """How a sign's 蓝/黄/橙/红 bounds apply (the catalogue's `bounds` column)."""

    ABSOLUTE = "absolute"  # the catalogue's numbers, whatever the hour
    HOUR_OF_WEEK = "hour_of_week"  # the numbers hold at the sign's expected level; they follow its hour-of-week profile
    FIRST_OCCURRENCE = "first_occurrence"  # a count of events of which one already matters: 1 raises at a set level


class DeriveOp(StrEnum):
    SUM = "sum"
    MAX = "max"
    MIN = "min"
    MEAN = "mean"
    WEIGHTED_MEAN = "wmean"
    CAMERA_ONLINE_RATE = "camera_online_rate"
    CAMERA_ONLINE_COUNT = "camera_online_count"


# The MQTT feeds the 15 modules draw on: the {feed} level of cityeye/v1/{feed}/{adcode}/{source_id}. Defined
# here, not in feeds.contract, because feeds imports signs and the catalogue loader checks sources against it;
# feeds.contract re-exports both names. "video" carries per-camera status; all others carry readings.
FEEDS = (
    "population", "hotline", "opinion",
    "water", "power", "gas", "video", "flood",
    "traffic", "transit",
    "weather", "environment", "events",
)  # fmt: skip
FEED_VIDEO = "video"


@dataclass(frozen=True, slots=True)
class MqttSource:
    """A sign read straight from a feed: topic cityeye/v1/{feed}/{adcode}/{source_id}, field in its readings."""

    feed: str
    adcode: str
    source_id: str
    field: str


@dataclass(frozen=True, slots=True)
class Derivation:
    """A sign computed from other signs or from the camera registry.

    `inputs` and `weights` are the resolved sign ids (globs are expanded at load). For the camera
    operations, `camera_kind` is fixed/mobile/all and `adcode` is a district or the whole city.
    """

    op: DeriveOp
    expression: str
    inputs: tuple[str, ...] = ()
    weights: tuple[str, ...] = ()
    camera_kind: str = ""
    adcode: str = ""


class HubMeasure(StrEnum):
    """What a sign computed from the event hub's events measures (dispatch/signs.py; docs/catalogue.md)."""

    EVENTS_TODAY = "events_today"  # events reported since midnight, Beijing time
    RESPONSE_RATE = "response_rate"  # % signed for within the response limit
    ON_TIME_RATE = "on_time_rate"  # % handled within the handling limit and closed within the feedback limit
    FEEDBACK_RATE = "feedback_rate"  # % closed within the feedback limit
    URGENT_HANDLING_RATE = "urgent_handling_rate"  # % handled within the limit, of types with one of 2 h or less

    @property
    def is_rate(self) -> bool:
        return self is not HubMeasure.EVENTS_TODAY


class HubScope(StrEnum):
    CITY = "city"  # every event
    DISTRICT = "district"  # the events placed in one district (adcode)
    CATEGORY = "category"  # the events of one category of the event library (2 digits)
    ITEMS = "items"  # the events of some items of the event library (5 digits each)
    NONE = "none"  # the event library has no type for it yet: no data, never a count of zero


@dataclass(frozen=True, slots=True)
class HubSource:
    """A sign computed by the dispatcher from the event hub's events, e.g. hub:response_rate(district=420602)."""

    measure: HubMeasure
    scope: HubScope
    codes: tuple[str, ...] = ()  # the adcode, the category, or the items

    @property
    def adcode(self) -> str:
        """The district it counts, "" for any other scope (as a citywide derivation's)."""
        return self.codes[0] if self.scope is HubScope.DISTRICT else ""

    def __str__(self) -> str:
        where = f"{self.scope.value}={'+'.join(self.codes)}" if self.codes else self.scope.value
        return f"hub:{self.measure.value}({where})"


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Module:
    code: str
    category: str
    name_zh: str
    name_en: str


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_PER_DAY = 24


def _week_position(ts: float) -> tuple[int, float]:
    """The weekday (Monday 0) and the hours since local midnight of epoch time ts, in Beijing time."""
    moment = city_time(ts)
    return moment.weekday(), moment.hour + (moment.minute * 60 + moment.second + moment.microsecond / 1e6) / 3600.0


def _week_positions(ts: Times) -> tuple[npt.NDArray[np.int64], Times]:
    """_week_position over an array of times, to the same bits: datetime's microsecond rounding included."""
    whole = np.floor(ts)
    micro = np.rint((ts - whole) * 1e6)  # datetime rounds half to even, as rint does
    whole, micro = whole + (micro >= 1e6), np.where(micro >= 1e6, micro - 1e6, micro)
    local = whole.astype(np.int64) + CITY_UTC_OFFSET_S
    day, second_of_day = np.divmod(local, 86_400)
    hour, second_of_hour = np.divmod(second_of_day, 3600)
    minute, second = np.divmod(second_of_hour, 60)
    return (day + 3) % 7, hour + (minute * 60 + second + micro / 1e6) / 3600.0  # 1970-01-01 was a Thursday


@dataclass(frozen=True, slots=True)
class HourProfile:
    """How a sign's normal value follows the week: per weekday, 25 factors at 00:00, 01:00 ... 24:00 local time
    (Beijing), joined by straight lines. Factor 1 is the sign's expected level. A day's curve ends at its own 24:00
    knot, so a count since midnight (0 at 00:00, 1 at 24:00) restarts cleanly the next day.

    `floors[day]` is the least factor the bounds scale by on that day: where the expected value goes to zero (the
    first minutes of a count since midnight) the bounds stay at floor × the catalogue's numbers, so that the first
    event of the night does not page.
    """

    name: str
    knots: tuple[tuple[float, ...], ...]  # 7 days (Monday first) x 25 factors
    floors: tuple[float, ...]  # 7 days

    @property
    def counts_since_midnight(self) -> bool:
        """A count since midnight: 0 at every day's 00:00. Such a value from an earlier day says nothing of today's,
        which began again from 0."""
        return all(day[0] == 0.0 for day in self.knots)

    def factor(self, ts: float) -> float:
        """The profile's factor at epoch time ts."""
        return self._factor(*_week_position(ts))

    def bounds_factor(self, ts: float) -> float:
        """The factor the bounds scale by at ts: the profile's, never below the day's floor."""
        weekday, hours = _week_position(ts)
        return max(self._factor(weekday, hours), self.floors[weekday])

    def factors(self, ts: Times) -> Times:
        """factor() over an array of times."""
        return self._factors(*_week_positions(ts))

    def bounds_factors(self, ts: Times) -> Times:
        """bounds_factor() over an array of times."""
        weekday, hours = _week_positions(ts)
        factors: Times = np.maximum(self._factors(weekday, hours), np.asarray(self.floors)[weekday])
        return factors

    def _factors(self, weekday: npt.NDArray[np.int64], hours: Times) -> Times:
        knots = np.asarray(self.knots)
        hour = np.minimum(hours.astype(np.int64), HOURS_PER_DAY - 1)
        low = knots[weekday, hour]
        factors: Times = low + (knots[weekday, hour + 1] - low) * (hours - hour)
        return factors

    def _factor(self, weekday: int, hours: float) -> float:
        day = self.knots[weekday]
        hour = min(int(hours), HOURS_PER_DAY - 1)
        return day[hour] + (day[hour + 1] - day[hour]) * (hours - hour)

    @property
    def lowest(self) -> float:
        return min(min(day) for day in self.knots)


@dataclass(frozen=True, slots=True)
class Sign:
    id: str
    name_zh: str
    name_en: str
    unit: str  # as the catalogue and the feeds write it (万人, 件, %, mm...)
    category: str
    module: str
    core: str
    dimension: str
    cadence_s: float
    direction: Direction
    # Blue, yellow, orange, red; None where the level is not used by the standard.
    thresholds: tuple[float | None, float | None, float | None, float | None]
    definition: str
    owner: str
    source: MqttSource | Derivation | HubSource
    bounds: BoundsKind = BoundsKind.ABSOLUTE
    # HOUR_OF_WEEK: the profile and the expected value where its factor is 1 (the thresholds hold at that level).
    profile: HourProfile | None = None
    expected_level: float = 0.0
    # English forms (the loader refuses Chinese in them); an empty short name means the full one fits the tile.
    definition_en: str = ""
    owner_en: str = ""
    unit_en: str = ""
    short_zh: str = ""
    short_en: str = ""
    # Core indicators only (the catalogue's `map` column): the wall map colours the districts by this sign's
    # .dist: rows, or, for a citywide indicator, the reason it has none.
    on_map: bool = False
    citywide_zh: str = ""
    citywide_en: str = ""

    def name_in(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    def short_name_in(self, lang: str) -> str:
        """The name for a wall tile: the short form where the catalogue gives one, else the full name."""
        return (self.short_en or self.name_en) if lang == "en" else (self.short_zh or self.name_zh)

    def unit_in(self, lang: str) -> str:
        return (self.unit_en or self.unit) if lang == "en" else self.unit

    def definition_in(self, lang: str) -> str:
        return (self.definition_en or self.definition) if lang == "en" else self.definition

    def owner_in(self, lang: str) -> str:
        return (self.owner_en or self.owner) if lang == "en" else self.owner

    def citywide_reason_in(self, lang: str) -> str:
        return self.citywide_en if lang == "en" else self.citywide_zh

    @property
    def is_core(self) -> bool:
        return self.dimension == "city" and self.id == core_sign_id(self.category, self.module, self.core)

    @property
    def district(self) -> str | None:
        """The district adcode for signs with a district dimension."""
        kind, _, value = self.dimension.partition(":")
        return value if kind == "dist" else None


def core_sign_id(category: str, module: str, core: str) -> str:
    return f"XY.{category}.{module}.{core}"


def level_of(value: float, thresholds: tuple[float | None, ...], direction: Direction) -> Level:
    """The highest level whose bound the value reaches (>= for high-is-bad, < for low-is-bad)."""
    if math.isnan(value):
        return Level.NORMAL
    reached = Level.NORMAL
    for level, bound in zip((Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED), thresholds, strict=True):
        if bound is None:
            continue
        hit = value >= bound if direction is Direction.HIGH_IS_BAD else value < bound
        if hit:
            reached = level
    return reached


def expected_value(sign: Sign, ts: float) -> float | None:
    """The value an hour-of-week sign is expected to have at ts; None for the other rule kinds."""
    if sign.profile is None:
        return None
    return sign.expected_level * sign.profile.factor(ts)


def expected_values(sign: Sign, ts: Times) -> Times | None:
    """expected_value() over an array of times."""
    if sign.profile is None:
        return None
    values: Times = sign.expected_level * sign.profile.factors(ts)
    return values


def thresholds_over(
    sign: Sign, ts: Times, clock: StoryClock | None = None
) -> tuple[float | Times | None, ...]:
    """thresholds_at() over an array of times: each bound an array where the bounds follow a profile."""
    if sign.profile is None:
        return sign.thresholds
    factor = sign.profile.bounds_factors(ts if clock is None else clock.story_times(ts))
    return tuple(None if b is None else b * factor for b in sign.thresholds)


def thresholds_at(
    sign: Sign, ts: float, clock: StoryClock | None = None
) -> tuple[float | None, float | None, float | None, float | None]:
    """A sign's 蓝/黄/橙/红 bounds for a value whose source time is ts.

    Absolute and first-occurrence signs: the catalogue's bounds (the loader has put the first occurrence's 1 in
    place). Hour-of-week signs: the catalogue's bounds scaled by the profile's factor at ts, so they keep their
    ratio to the expected value (a night-time dip is normal, a storm's surge is not). While the simulator tells a
    story (`clock`, signs.storyclock), ts is a stamp of the wall clock and the bounds are those of its story time.
    """
    if sign.profile is None:
        return sign.thresholds
    factor = sign.profile.bounds_factor(ts if clock is None else clock.story_time(ts))
    blue, yellow, orange, red = (None if b is None else b * factor for b in sign.thresholds)
    return blue, yellow, orange, red


# A value is stale once it is older than this many of its sign's cadences: one late message is not an outage.
STALE_AFTER_CADENCES = 2.0


def stale_at(sign: Sign, source_ts: float) -> float:
    """When a value of this source time turns stale: the one staleness rule of every screen, export and API."""
    return source_ts + STALE_AFTER_CADENCES * sign.cadence_s


def is_stale(sign: Sign, source_ts: float, now: float) -> bool:
    return now > stale_at(sign, source_ts)


def value_level(sign: Sign, value: float, source_ts: float, clock: StoryClock | None = None) -> Level:
    """The warning level a value stands at against the sign's bounds at its source time (its story time while the
    simulator tells a story)."""
    return level_of(value, thresholds_at(sign, source_ts, clock), sign.direction)


def derive_value(op: DeriveOp, values: list[float], weights: list[float] | None = None) -> float | None:
    """Aggregate the inputs that have values; None when nothing is known yet."""
    if not values:
        return None
    if op is DeriveOp.SUM:
        return math.fsum(values)
    if op is DeriveOp.MAX:
        return max(values)
    if op is DeriveOp.MIN:
        return min(values)
    if op is DeriveOp.MEAN:
        return math.fsum(values) / len(values)
    if op is DeriveOp.WEIGHTED_MEAN:
        if weights is None or len(weights) != len(values):
            raise ValueError("a weighted mean needs one weight per value")
        total = math.fsum(weights)
        if total <= 0:
            return math.fsum(values) / len(values)
        return math.fsum(v * w for v, w in zip(values, weights, strict=True)) / total
    raise ValueError(f"{op} is computed from the camera registry, not from sign values")


@dataclass
class Catalogue:
    categories: dict[str, Category]
    modules: dict[str, Module]
    signs: dict[str, Sign]
    units: frozenset[str]
    profiles: dict[str, HourProfile] = field(default_factory=dict)
    # (feed, adcode, source_id) -> {field: sign id}; the worker's routing table.
    routes: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    units_en: dict[str, str] = field(default_factory=dict)  # unit -> the symbol English pages show

    def unit_in(self, unit: str, lang: str) -> str:
        """A unit as a page in `lang` shows it (for a value that carries its unit but not its sign)."""
        return self.units_en.get(unit, unit) if lang == "en" else unit

    @property
    def core_signs(self) -> list[Sign]:
        return [s for s in self.signs.values() if s.is_core]

    @property
    def map_signs(self) -> list[Sign]:
        """The core indicators the wall map can colour the districts by, in catalogue order."""
        return [s for s in self.core_signs if s.on_map]

    def derived_signs(self) -> list[Sign]:
        return [s for s in self.signs.values() if isinstance(s.source, Derivation)]

    def summary(self) -> dict[str, int]:
        return {
            "categories": len(self.categories),
            "modules": len(self.modules),
            "core": len(self.core_signs),
            "signs": len(self.signs),
        }
