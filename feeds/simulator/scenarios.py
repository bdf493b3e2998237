"""The scenarios: the stories of the brief told over the normal city, and what each does to the signs.

Each story is data (``STORIES``): its date and hour (Beijing time; ``--start`` overrides), the districts it is about,
the rain it brings, its couplings and the effects a viewer should see (``declared``). A coupling is a named link of
the story's chain (rain → river stage → reservoir level → waterlogging → 12345 calls ...) that moves the signs it
selects from the catalogue by core, dimension and district, never by their names. The story's clock is its own:
every coupling is a pure function of the simulated hours since the story began, so the storm rises and the jam
builds at a physical pace (``make run SPEED=60`` plays a story's day in 24 minutes).

``scenario_effects`` lists the signs a story moves and the level it drives each to (the value model with and without
the story, sampled): the ground truth that explains alerts; ``declared_effects`` is what the story promises a viewer
(the recall of bench/alert_truth.py is measured against it, and a unit test holds the two together).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np

from feeds.simulator.noise import hash01
from feeds.simulator.values import (
    SignModel,
    ensure_prepared,
    mix_towards,
    prepared_catalogue,
    rain_accumulation,
    sign_adcode,
    value_at,
    values_at,
)
from signs.citytime import CITY_TZ, city_time
from signs.model import Catalogue, Level, MqttSource, Sign, level_of, thresholds_at

SCENARIOS = ("rainstorm", "holiday-congestion", "camera-outage", "fallen-branch")
SCENARIO_RAINSTORM, SCENARIO_HOLIDAY, SCENARIO_CAMERA_OUTAGE, SCENARIO_FALLEN_BRANCH = SCENARIOS
NANZHANG, BAOKANG, GUCHENG = "420624", "420626", "420625"
RAIN_DISTRICTS = (NANZHANG, BAOKANG)  # the southern mountains of the 24 May story
HOLIDAY_DISTRICT = GUCHENG  # 石花 toll station on the 邓保 expressway
OUTAGE_DISTRICT = "420607"  # 襄州
OUTAGE_REAL_S = 900.0  # how long the district network stays down, in wall-clock seconds
HOUR_S = 3_600.0


# The story's clock: shapes in simulated hours since the story began. -------------------------------------------


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def _bell(hours: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hours - centre) / width) ** 2)


def _plateau(hours: float, rise: tuple[float, float], fall: tuple[float, float]) -> float:
    """0 before rise[0], up to 1 by rise[1], held, down to 0 from fall[0] to fall[1] (smoothly)."""
    up = _smoothstep((hours - rise[0]) / (rise[1] - rise[0]))
    down = 1.0 - _smoothstep((hours - fall[0]) / (fall[1] - fall[0]))
    return up * down


# The running story ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScenarioState:
    """A running story. ``start`` is simulated time; the camera outage is measured on the wall clock."""

    name: str | None = None
    start: float = 0.0
    district: str = OUTAGE_DISTRICT
    speed: float = 1.0
    outage_real_s: float = OUTAGE_REAL_S

    @property
    def story(self) -> Story | None:
        return STORIES.get(self.name or "")

    def hours(self, t: float) -> float:
        """Simulated hours since the story began (negative before)."""
        return (t - self.start) / HOUR_S

    def outage_active(self, t: float) -> bool:
        e = t - self.start
        return self.name == SCENARIO_CAMERA_OUTAGE and 0.0 <= e < self.outage_real_s * self.speed

    def rain_rate(self, adcode: str, t: float) -> float:
        """The story's rain over a district at t, mm/h (on top of the background showers)."""
        story = self.story
        e = self.hours(t)
        if story is None or story.rain is None or e <= 0.0:
            return 0.0
        return story.rain(adcode, e)

    def apply(self, sign: Sign, model: SignModel, t: float, value: float) -> float:
        """The sign's value at t under this story, given its value in the normal city."""
        story = self.story
        if story is None or t < self.start:
            return value
        for coupling in story.couplings_of(sign):
            value = coupling.move(sign, model, t, self, value)
        return value


NO_SCENARIO = ScenarioState()


@dataclass(frozen=True, slots=True)
class Select:
    """Signs chosen by what they are: their core indicator, their dimension (``kind:value``, or ``kind:`` for every
    value of a kind), and the district they describe. Empty fields choose everything."""

    core: str = ""
    dimensions: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()

    def __call__(self, sign: Sign) -> bool:
        if self.core and sign.core != self.core:
            return False
        if self.dimensions and not any(
            sign.dimension.startswith(d) if d.endswith(":") else sign.dimension == d for d in self.dimensions
        ):
            return False
        return not self.districts or sign_adcode(sign) in self.districts


Move = Callable[[Sign, SignModel, float, ScenarioState, float], float]


@dataclass(frozen=True, slots=True)
class Coupling:
    """A named link of a story's chain: `move` gives the value of each sign `select` chooses."""

    name: str
    select: Select
    move: Move


@dataclass(frozen=True, slots=True)
class Declared:
    """An effect a viewer should see: the sign reaches `level` (or worse) while the story runs."""

    sign_id: str
    level: Level


@dataclass(frozen=True, slots=True)
class Story:
    name: str
    summary: str
    month: int | None  # the story's date (Beijing time); None: it happens whenever it is started
    day: int | None
    hour: float
    districts: tuple[str, ...]
    couplings: tuple[Coupling, ...]
    declared: tuple[Declared, ...]
    rain: Callable[[str, float], float] | None = None  # mm/h over a district, by hours since the start
    _chosen: dict[str, tuple[Coupling, ...]] = field(default_factory=dict, compare=False, repr=False)

    def couplings_of(self, sign: Sign) -> tuple[Coupling, ...]:
        chosen = self._chosen.get(sign.id)
        if chosen is None:
            chosen = self._chosen[sign.id] = tuple(c for c in self.couplings if c.select(sign))
        return chosen

    def default_start(self, now: float) -> float:
        """The story's moment in the latest year in which it is not in the future; now for a story with no date."""
        if self.month is None or self.day is None:
            return now
        today = city_time(now)
        hour, minute = int(self.hour), round((self.hour % 1) * 60)
        for year in (today.year, today.year - 1):
            moment = datetime(year, self.month, self.day, hour, minute, tzinfo=CITY_TZ)
            if moment.timestamp() <= now:
                return moment.timestamp()
        raise AssertionError("unreachable: last year's date is in the past")


def _story_sign(sign_id: str) -> Sign | None:
    return prepared_catalogue().signs.get(sign_id)


# The 24 May rainstorm ------------------------------------------------------------------------------------------
# Noon forecast: light to moderate rain over the city within 12 hours, short heavy rain over the southern mountains
# of 南漳 and 保康. The heavy cell reaches 南漳 first (peak around 14:00, when the emergency duty chief opens the
# townships' video), then 保康 (around 15:30, weaker); the light rain ends in the evening.

_STORM_CELLS = {NANZHANG: (4.0, 0.9, 56.0), BAOKANG: (5.5, 0.8, 40.0)}  # centre h, width h, peak mm/h
_URBAN = ("420602", "420606", "420607")  # the Han valley's towns: waterlogging points, a moderate shower


def _storm_rain(adcode: str, hours: float) -> float:
    light = _plateau(hours, (0.3, 1.5), (9.0, 11.0)) * (1.0 + 0.8 * hash01(int(adcode[:6]), 5))
    shower = 5.0 * _bell(hours, 5.0, 0.7) if adcode in _URBAN else 0.0
    cell = _STORM_CELLS.get(adcode)
    heavy = cell[2] * _bell(hours, cell[0], cell[1]) if cell else 0.0
    return light + shower + heavy


def _story_rain(adcode: str, state: ScenarioState, t: float, hours: float) -> float:
    """mm over a district in the `hours` before t that the story brought (its part of the accumulations)."""
    return rain_accumulation(adcode, t, hours, state) - rain_accumulation(adcode, t, hours)


# Rainstorm warning signals as the city weather bureau issues them (level, from, until: hours since the start).
_SIGNALS = {
    NANZHANG: ((Level.YELLOW, 1.5, 10.0), (Level.ORANGE, 3.0, 8.0), (Level.RED, 3.75, 6.5)),
    BAOKANG: ((Level.YELLOW, 2.5, 10.5), (Level.ORANGE, 4.5, 8.0)),
}


def _signal_level(adcode: str, hours: float) -> Level:
    levels = [level for level, since, until in _SIGNALS.get(adcode, ()) if since <= hours < until]
    return max(levels, default=Level.NORMAL)


def _warning_signal(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → warning signals: a district's highest signal is its rainstorm signal; the city's is the worst."""
    hours = state.hours(t)
    if sign.dimension.startswith("dist:"):
        return max(value, float(_signal_level(model.adcode, hours)))
    return max(value, float(max(_signal_level(adcode, hours) for adcode in _SIGNALS)))


# River gauges and the districts whose rain reaches them: 蛮河 rises in 南漳, 南河 drains 保康.
_CATCHMENTS = {"gauge:MH": NANZHANG, "gauge:NH": BAOKANG}
_STAGE_M_PER_MM = {"gauge:MH": 0.06, "gauge:NH": 0.06}
_RIVER_LAG_H, _RIVER_RECESSION_H = 2.0, 8.0


def _river_stage(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → river stage: the catchment's story rain, two hours late, drained over about eight hours."""
    catchment = _CATCHMENTS[sign.dimension]
    late = t - _RIVER_LAG_H * HOUR_S
    rise = 0.0
    for k in range(max(0, math.ceil((late - state.start) / 900.0))):
        moment = late - (k + 0.5) * 900.0
        rain_mm = state.rain_rate(catchment, moment) * 0.25
        rise += rain_mm * math.exp(-(k + 0.5) * 0.25 / _RIVER_RECESSION_H)
    return value + _STAGE_M_PER_MM[sign.dimension] * rise


_RESERVOIR_M_PER_MM = 0.03  # a mountain reservoir's rise per mm over its district (inflow, not yet released)
_RESERVOIR_LAG_H = 1.0


def _reservoir_level(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → reservoir level: what the district's story rain brought in (an hour late) stays in the lake."""
    late = t - _RESERVOIR_LAG_H * HOUR_S
    if late <= state.start:
        return value
    return value + _RESERVOIR_M_PER_MM * _story_rain(model.adcode, state, late, (late - state.start) / HOUR_S)


@lru_cache(maxsize=64)
def _reservoirs_of(catalogue_id: int, adcode: str) -> tuple[str, ...]:
    cat = prepared_catalogue()
    select = Select(core="T27", dimensions=("res:",), districts=(adcode,))
    return tuple(s.id for s in cat.signs.values() if select(s))


def _reservoirs_over_limit(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Reservoir level → reservoirs over their flood limit: the district's lakes above their first bound."""
    over = 0
    for reservoir_id in _reservoirs_of(id(prepared_catalogue()), model.adcode):
        reservoir = _story_sign(reservoir_id)
        if reservoir is None:
            continue
        limit = thresholds_at(reservoir, t)[0]
        over += limit is not None and value_at(reservoir, t, state) >= limit
    return value + over


_PONDING_FROM_MM = 3.0  # an hour's rain the drains carry; each mm more leaves ~1.5 cm at a low point
_PONDING_CM_PER_MM = 1.5
_SUSCEPTIBILITY = (0.9, 1.5)  # how readily a low point fills, every point its own: a dip, an underpass
# A county's platform publishes the deepest of its low points, found in its seat: the most susceptible of them, under
# the seat's drains. Those were mostly laid for a one-year storm (the old GB 50014's usual choice for a county town,
# some 30-35 mm in an hour hereabouts) and overflow at the worst sag, where the street water gathers faster than the
# inlets take it, from about 25 mm. So a county's streets stay dry in light and moderate rain, and only a heavy hour
# floods them: 南漳's 55 mm leaves ~70 cm (red), 保康's 40 mm ~35 cm (orange, past the 25 cm that closes a road).
_SEAT_DRAINS_MM = 25.0


def _ponding(adcode: str, state: ScenarioState, t: float, drains_mm: float, susceptibility: float) -> float:
    """cm at a low point: the district's last hour of rain beyond what the drains carry."""
    hour = rain_accumulation(adcode, t, 1.0, state)
    return susceptibility * _PONDING_CM_PER_MM * max(0.0, hour - drains_mm)


def _waterlogging(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → waterlogging: a low point fills with the district's last hour of rain beyond what the drains carry."""
    low, high = _SUSCEPTIBILITY
    susceptibility = low + (high - low) * hash01(model.key, 47)  # every point watched is a known low point
    return max(value, _ponding(model.adcode, state, t, _PONDING_FROM_MM, susceptibility))


def _district_waterlogging(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → a district's deepest waterlogging, as its own platform publishes it: the worst low point of its seat."""
    return max(value, _ponding(model.adcode, state, t, _SEAT_DRAINS_MM, _SUSCEPTIBILITY[1]))


def _storm_severity(adcode: str, state: ScenarioState, t: float) -> float:
    """0 to 1: the district's story rain over the last 3 hours against a red 3-hour rainstorm (100 mm)."""
    return min(1.0, _story_rain(adcode, state, t, 3.0) / 100.0)


def _hotline_calls(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Waterlogging and heavy rain → 12345 calls: a district's tickets today grow with its storm."""
    return value * (1.0 + 0.35 * _storm_severity(model.adcode, state, t))


def _visibility(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → visibility: heavy rain closes it to a couple of kilometres."""
    rate = state.rain_rate(model.adcode, t)
    return value / (1.0 + rate / 8.0)


def _rain_cooling(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Rain → temperature: the storm cools the stations under it, up to ~3 °C."""
    return value - 3.0 * min(1.0, state.rain_rate(model.adcode, t) / 30.0)


def camera_washout_share(adcode: str, state: ScenarioState, t: float) -> float:
    """Rain → camera wash-out: the share of a district's street segments whose cameras drop off in the last three
    hours' rain (power and links of pole-mounted cameras, restored a while after the rain), up to 12 % at 60 mm."""
    if state.name != SCENARIO_RAINSTORM or t < state.start:
        return 0.0
    return 0.12 * min(1.0, _story_rain(adcode, state, t, 3.0) / 60.0)


_STORM = (NANZHANG, BAOKANG)
RAINSTORM = Story(
    name=SCENARIO_RAINSTORM,
    summary="24 May: light to moderate rain over the city, short heavy rain over 南漳 and 保康",
    month=5,
    day=24,
    hour=10.0,
    districts=_STORM,
    rain=_storm_rain,
    couplings=(
        Coupling("rain → warning signals", Select(core="S48", dimensions=("sig:rainstorm", "dist:")), _warning_signal),
        Coupling("rain → river stage", Select(core="T26", dimensions=tuple(_CATCHMENTS)), _river_stage),
        Coupling(
            "rain → reservoir level", Select(core="T27", dimensions=("res:",), districts=_STORM), _reservoir_level
        ),
        Coupling(
            "reservoir level → reservoirs over the flood limit",
            Select(core="T27", dimensions=("dist:",), districts=_STORM),
            _reservoirs_over_limit,
        ),
        Coupling("rain → waterlogging", Select(core="T28", dimensions=("wl:",)), _waterlogging),
        # The central city's district maxima are derived from its points; the counties publish theirs.
        Coupling("rain → district waterlogging", Select(core="T28", dimensions=("dist:",)), _district_waterlogging),
        Coupling("waterlogging → 12345 calls", Select(core="P05", dimensions=("dist:",)), _hotline_calls),
        Coupling("rain → visibility", Select(core="S47", dimensions=("stn:",), districts=_STORM), _visibility),
        Coupling("rain → cooling", Select(core="S44", dimensions=("stn:",)), _rain_cooling),
    ),
    declared=(
        Declared("XY.S.M13.S45.rain3h:420624", Level.RED),
        Declared("XY.S.M13.S45.rain6h:420624", Level.YELLOW),
        Declared("XY.S.M13.S45.rain12h:420624", Level.BLUE),
        Declared("XY.S.M13.S45.rain3h:420626", Level.ORANGE),
        Declared("XY.S.M13.S45.rain6h:420626", Level.YELLOW),
        Declared("XY.S.M13.S45.rain12h:420626", Level.BLUE),
        Declared("XY.S.M13.S45.stn:AWS13", Level.ORANGE),
        Declared("XY.S.M13.S45.stn:AWS14", Level.ORANGE),
        Declared("XY.S.M13.S45.stn:AWS15", Level.YELLOW),
        Declared("XY.S.M13.S45.stn:AWS19", Level.YELLOW),
        Declared("XY.S.M13.S48.sig:rainstorm", Level.RED),
        Declared("XY.S.M13.S48.dist:420624", Level.RED),
        Declared("XY.S.M13.S48.dist:420626", Level.ORANGE),
        Declared("XY.T.M08.T26.gauge:MH", Level.YELLOW),
        Declared("XY.T.M08.T26.gauge:NH", Level.BLUE),
        Declared("XY.T.M08.T27.res:R01", Level.YELLOW),
        Declared("XY.T.M08.T27.dist:420624", Level.BLUE),
        Declared("XY.T.M08.T28.wl:WL07", Level.BLUE),  # the readiest to fill: the story's shower alone floods it
        Declared("XY.T.M08.T28.dist:420624", Level.RED),
        Declared("XY.T.M08.T28.dist:420626", Level.ORANGE),
        Declared("XY.P.M02.P05.dist:420624", Level.BLUE),
    ),
)


# The May Day jam at the 石花 toll station ---------------------------------------------------------------------
# First day of the holiday: road works, a surge of cars and a nucleic-acid check point meet at the 石花 toll station
# of the 邓保 expressway (谷城). The queue builds through the morning, is worst around midday, and eases through the
# afternoon once traffic, traffic police and health crews have taken it in hand.


def _jam(hours: float) -> float:
    """0 to 1 from the start (07:00): building from 07:30 to 10:30, worst until 13:00, eased by 18:00."""
    return _plateau(hours, (0.5, 3.5), (6.0, 11.0))


def _crowds(hours: float) -> float:
    """Holiday visitors at 谷城's sights: arriving through the morning, leaving from mid-afternoon."""
    return _plateau(hours, (1.0, 4.0), (8.0, 11.5))


def _toward(target: Callable[[float], float]) -> Move:
    """A sign pulled towards `target(hours)` in proportion to the jam."""

    def move(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
        hours = state.hours(t)
        return mix_towards(value, target(hours), _jam(hours))

    return move


def _scaled(shape: Callable[[float], float], gain: float) -> Move:
    """A sign multiplied by 1 + gain x shape(hours)."""

    def move(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
        return value * (1.0 + gain * shape(state.hours(t)))

    return move


def _venue_load(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    """Holiday visitors → a sight's load: towards 95 % of its capacity at the busiest hours."""
    return mix_towards(value, 95.0, _crowds(state.hours(t)))


HOLIDAY = Story(
    name=SCENARIO_HOLIDAY,
    summary="1 May: the 石花 toll station of the 邓保 expressway jams through the morning and eases by evening",
    month=5,
    day=1,
    hour=7.0,
    districts=(GUCHENG,),
    couplings=(
        Coupling("jam → toll queue", Select(dimensions=("toll:SH",)), _toward(lambda h: 1_900.0)),
        Coupling("jam → toll waiting time", Select(dimensions=("wait:SH",)), _toward(lambda h: 38.0)),
        Coupling("jam → expressway speed", Select(dimensions=("speed:DB",)), _toward(lambda h: 16.0)),
        Coupling("holiday traffic → expressway flow", Select(dimensions=("flow:DB",)), _scaled(_crowds, 0.6)),
        Coupling(
            "jam → 谷城 road network index",
            Select(core="D29", dimensions=("dist:",), districts=(GUCHENG,)),
            _toward(lambda h: 8.8),
        ),
        Coupling(
            "jam → 谷城 road network speed",
            Select(core="D30", dimensions=("dist:",), districts=(GUCHENG,)),
            _toward(lambda h: 13.0),
        ),
        Coupling("holiday visitors → sight load", Select(core="P04", districts=(GUCHENG,)), _venue_load),
        Coupling("holiday visitors → crowd density", Select(core="P03", districts=(GUCHENG,)), _scaled(_crowds, 1.5)),
        Coupling(
            "holiday visitors → inbound visitors",
            Select(core="P02", dimensions=("dist:",), districts=(GUCHENG,)),
            _scaled(_crowds, 0.8),
        ),
        Coupling(
            "jam → 12345 calls",
            Select(core="P05", dimensions=("dist:",), districts=(GUCHENG,)),
            _scaled(_jam, 0.25),
        ),
    ),
    declared=(
        Declared("XY.D.M09.D29.toll:SH", Level.RED),
        Declared("XY.D.M09.D29.wait:SH", Level.RED),
        Declared("XY.D.M09.D30.speed:DB", Level.RED),
        Declared("XY.D.M09.D29.dist:420625", Level.ORANGE),
        Declared("XY.D.M09.D30.dist:420625", Level.RED),
        Declared("XY.P.M01.P04.venue:V19", Level.ORANGE),
    ),
)

CAMERA_OUTAGE = Story(
    name=SCENARIO_CAMERA_OUTAGE,
    summary="襄州's camera network falls silent for a quarter of an hour (wall clock) and comes back",
    month=None,
    day=None,
    hour=0.0,
    districts=(OUTAGE_DISTRICT,),
    couplings=(),
    declared=(),  # the camera signs it moves depend on the chosen district: camera_effects() lists them
)

# 9 October: a branch blocks a residential entrance in 樊城 (its events: feeds/simulator/events.py); no sign moves.
FALLEN_BRANCH = Story(
    name=SCENARIO_FALLEN_BRANCH,
    summary="9 October 12:33: a grid worker reports a branch blocking a residential entrance; cleared by 14:39",
    month=10,
    day=9,
    hour=12.5,
    districts=("420606",),
    couplings=(),
    declared=(),
)

STORIES: dict[str, Story] = {story.name: story for story in (RAINSTORM, HOLIDAY, CAMERA_OUTAGE, FALLEN_BRANCH)}


def declared_effects(name: str | None) -> tuple[Declared, ...]:
    """What a story promises a viewer (none for no story)."""
    story = STORIES.get(name or "")
    return story.declared if story is not None else ()


# Scenario effects as ground truth ------------------------------------------------------------------------------

EFFECT_STEP_S = 300.0  # how finely scenario_effects samples the story (simulated seconds)
EFFECT_HOLD_S = 600.0  # a level is the one an effect drives its sign to once it holds that long


@dataclass(frozen=True, slots=True)
class Effect:
    """What a scenario does to one sign: it moves the sign away from the normal city from `start` until `end`
    (simulated time) and drives it to `level`, by the sign's bounds of the moment, held from `reached` on. NORMAL:
    the scenario moves the sign without taking it past a bound."""

    scenario: str
    sign_id: str
    level: Level
    start: float
    reached: float
    end: float


def effect_from_samples(
    scenario: str, sign_id: str, samples: list[tuple[float, bool, Level]], step_s: float
) -> Effect | None:
    """The effect seen in (time, moved, level) samples taken every step_s: the highest level held EFFECT_HOLD_S."""
    moved = [t for t, is_moved, _ in samples if is_moved]
    if not moved:
        return None
    needed = max(1, math.ceil(EFFECT_HOLD_S / step_s))
    for level in (Level.RED, Level.ORANGE, Level.YELLOW, Level.BLUE):
        run: list[float] = []
        for t, _, seen in samples:
            run = [*run, t] if seen >= level else []
            if len(run) >= needed:
                return Effect(scenario, sign_id, level, moved[0], run[0], moved[-1] + step_s)
    return Effect(scenario, sign_id, Level.NORMAL, moved[0], moved[0], moved[-1] + step_s)


def sample_times(state: ScenarioState, t0: float, t1: float, step_s: float) -> list[float]:
    first = max(t0, state.start)
    return [first + k * step_s for k in range(max(0, math.ceil((t1 - first) / step_s)))]


def scenario_effects(
    catalogue: Catalogue, state: ScenarioState, t0: float, t1: float, step_s: float = EFFECT_STEP_S
) -> list[Effect]:
    """The signs a scenario's story moves during [t0, t1) and the level it drives each to: the scenario's value
    model against the normal city's, sampled every step_s (pure; the ground truth of a scenario run). Sensor signs
    only; the camera signs' are camera_effects(), and aggregates follow their inputs."""
    story = state.story
    if story is None or (not story.couplings and story.rain is None):
        return []
    ensure_prepared(catalogue)
    times = sample_times(state, t0, t1, step_s)
    if not times:
        return []
    moments = np.array(times, dtype=np.float64)
    found = []
    for sign in catalogue.signs.values():
        if not isinstance(sign.source, MqttSource):
            continue
        told, normal = values_at(sign, moments, state).tolist(), values_at(sign, moments, NO_SCENARIO).tolist()
        samples = [
            (t, value != usual, level_of(value, thresholds_at(sign, t), sign.direction))
            for t, value, usual in zip(times, told, normal, strict=True)
        ]
        found_effect = effect_from_samples(state.name or "", sign.id, samples, step_s)
        if found_effect is not None:
            found.append(found_effect)
    return found
