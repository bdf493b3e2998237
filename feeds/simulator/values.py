"""The value model: the value of every MQTT-sourced sign at a simulated moment, a pure function of (sign, time).

A sign whose catalogue bounds are ``hour_of_week`` is at its catalogue expectation (level × profile factor,
signs/catalogue/profiles.csv) give or take smooth noise: the simulator keeps no copy of the curve its bounds follow.
Other signs follow a profile per core indicator (typical range from catalogue-reference §5) shaped by the catalogue's
profiles of city life (people about, road traffic, household demand, electric load, counts since midnight) or by the
simulator's own physics (temperature, visibility, the mobile-camera rota), the month's climate, smooth noise
(interpolated random knots, not white noise), district scaling by population, then a calibration that keeps a normal
week under each sign's first threshold.

Injected incidents are rare (about 6 a day over the city, blue or yellow) and pure functions of sign and time:
``incidents_between(catalogue, t0, t1)`` lists them with the level each aims at. A running story (a scenario) is an
``Overlay`` on the normal city's value; this module knows none of them. No I/O here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, overload

import numpy as np
import numpy.typing as npt

from feeds.simulator.clock import DAY_S, LocalCalendar, local_day, local_days, local_midnight
from feeds.simulator.noise import hash01, hash01_over, smooth_noise_over, text_key
from geo.admin import CITY_ADCODE
from signs.model import (
    BoundsKind,
    Catalogue,
    Direction,
    HourProfile,
    Level,
    MqttSource,
    Sign,
    Times,
    expected_values,
    thresholds_over,
)

# The model computes over arrays of times (a live reading is an array of one): hours of day, weekend flags.
Hours = float | Times
Weekend = bool | npt.NDArray[np.bool_]

# Seed populations (thousands) from catalogue-reference §4.1; development zones use synthetic codes.
POPULATION_K: dict[str, float] = {
    "420606": 780, "420607": 620, "420683": 889, "420625": 483, "420602": 477, "420624": 460,
    "420682": 450, "420684": 450, "420626": 230,
    "420600-GX": 300, "420600-JK": 110, "420600-YLZ": 12,
}  # fmt: skip
CITY_POPULATION_K = sum(POPULATION_K.values())

# Climate of the month (catalogue-reference §4.2): mean Tmin, mean Tmax (°C), rain (mm).
MONTH_TMIN = (-2.2, 0.3, 4.8, 10.8, 15.9, 20.8, 23.6, 22.6, 17.4, 11.9, 5.5, -0.2)
MONTH_TMAX = (7.4, 10.3, 15.2, 22.0, 27.1, 30.4, 31.8, 31.2, 27.4, 22.1, 15.7, 9.6)
MONTH_RAIN = (17, 22, 42, 68, 95, 115, 175, 140, 90, 62, 35, 14)

COUNT_UNITS = frozenset({"件", "起", "辆", "处", "座", "户", "人", "路", "条", "次", "个", "台", "班", "人次"})


# Daily shapes (each returns an activity in [0, 1]). --------------------------------------------------


def _sigmoid(x: Hours) -> Times:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _bump(h: Hours, up: float, down: float, width: float = 0.7) -> Times:
    return _sigmoid((h - up) / width) * _sigmoid((down - h) / width)


def _gauss(h: Hours, centre: float, sigma: float) -> Times:
    return np.asarray(np.exp(-0.5 * ((h - centre) / sigma) ** 2))


def shape_mobile(h: Hours, weekend: Weekend) -> Times:
    """Share of mobile units on duty (T24: day 1,500-3,500 of 4,591, night 300-900)."""
    return 0.13 + 0.5 * _bump(h, 7.5, 20.0, 0.6)


def shape_diurnal_temp(h: Hours, weekend: Weekend) -> Times:
    """0 at the 06:00 minimum, 1 at the 14:30 maximum."""
    rising = 0.5 - 0.5 * np.cos(np.pi * ((h - 6.0) / 8.5))
    falling = 0.5 + 0.5 * np.cos(np.pi * (((h - 14.5) % 24.0) / 15.5))
    return np.where((6.0 <= h) & (h <= 14.5), rising, falling)


def shape_flat(h: Hours, weekend: Weekend) -> Times:
    return np.full(np.shape(h), 0.5)


def shape_morning_low(h: Hours, weekend: Weekend) -> Times:
    """Visibility-like: lowest around dawn, best in the afternoon."""
    return 1.0 - 0.7 * _gauss(h, 6.5, 2.0)


# The simulator's own shapes are physics and rotas. The curves of city life (people about, road traffic, household
# demand, electric load, counts since midnight...) are the catalogue's hour-of-week profiles
# (signs/catalogue/profiles.csv): written once, for the alert bounds and for the values simulated here.
PHYSICAL_SHAPES: dict[str, Callable[[Hours, Weekend], Times]] = {
    "mobile": shape_mobile,
    "temperature": shape_diurnal_temp,
    "flat": shape_flat,
    "morning_low": shape_morning_low,
}
COUNT_PROFILE = "day_count"  # how the simulator's counts since midnight fill up when the catalogue names no profile
_CATALOGUE_PROFILES: dict[str, HourProfile] = {}


def catalogue_profiles() -> dict[str, HourProfile]:
    """The profiles prepare() was given; the project's own until then."""
    if not _CATALOGUE_PROFILES:
        from signs.catalogue import CATALOGUE_DIR, load_profiles

        _CATALOGUE_PROFILES.update(load_profiles(CATALOGUE_DIR / "profiles.csv"))
    return _CATALOGUE_PROFILES


@lru_cache(maxsize=64)
def _profile_range(profile: HourProfile) -> tuple[float, float]:
    return profile.lowest, max(max(day) for day in profile.knots)


def shape_value(name: str, t: Times, local: LocalCalendar) -> Times:
    """The activity of shape `name` at times t (local: their local calendar), in [0, 1]: a physical shape, or a
    catalogue profile scaled to its week's range (0 at its lowest factor, 1 at its highest)."""
    physical = PHYSICAL_SHAPES.get(name)
    if physical is not None:
        return physical(local.hour, local.weekend)
    profile = catalogue_profiles()[name]
    low, high = _profile_range(profile)
    return (profile.factors(t) - low) / (high - low) if high > low else np.full_like(t, 0.5)


def cumulative_share(t: Times) -> Times:
    """Share of a day's count reached at t (the catalogue's day_count profile): 0 at midnight, 1 at the next."""
    return catalogue_profiles()[COUNT_PROFILE].factors(t)


# Profiles --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """How one core indicator behaves on a normal day at city level.

    value = low + (high - low) * shape(hour), times the weekend factor, plus smooth noise of
    ``noise`` x the level. ``invert`` runs the shape backwards (speed falls when traffic rises).
    ``cumulative`` profiles are counts-today: ``high`` is the day's total, reached at midnight.
    ``extensive`` values add up over districts and entities (counts, volumes, loads).
    """

    low: float
    high: float
    shape: str = "flat"
    noise: float = 0.03
    extensive: bool = False
    invert: bool = False
    cumulative: bool = False
    weekend: float = 1.0
    lo: float = 0.0
    hi: float = math.inf
    decimals: int = 2


_PCT: dict[str, Any] = {"lo": 0.0, "hi": 100.0}
PROFILES: dict[str, Profile] = {
    # 人 People
    "P01": Profile(522, 534, "activity", 0.004, extensive=True, decimals=1),
    "P02": Profile(14, 19, "activity", 0.05, extensive=True, weekend=1.25, decimals=2),
    "P03": Profile(0.12, 0.65, "activity", 0.08, decimals=2),
    "P04": Profile(10, 55, "activity", 0.08, decimals=1, **_PCT),
    "P05": Profile(0, 2_600, "activity", 0.02, extensive=True, cumulative=True, weekend=0.8, decimals=0),
    "P06": Profile(96.8, 98.9, "activity", 0.003, invert=True, decimals=2, **_PCT),
    "P07": Profile(96.0, 98.6, "flat", 0.004, decimals=2, **_PCT),
    "P08": Profile(93.0, 96.5, "flat", 0.005, decimals=2, **_PCT),
    "P09": Profile(0, 3, "activity", 0.2, extensive=True, decimals=0),
    "P10": Profile(5_500, 9_000, "activity", 0.06, extensive=True, decimals=0),
    "P11": Profile(10, 15, "flat", 0.08, decimals=1, **_PCT),
    "P12": Profile(14, 32, "activity", 0.12, decimals=1, lo=0, hi=100),
    # 物 Things
    "T13": Profile(52, 72, "household_demand", 0.02, extensive=True, decimals=2),
    "T14": Profile(0.26, 0.34, "household_demand", 0.02, invert=True, decimals=3),
    "T15": Profile(99.2, 99.85, "flat", 0.002, decimals=2, **_PCT),
    "T16": Profile(0.12, 0.3, "flat", 0.12, decimals=3),
    "T17": Profile(200, 330, "power_load", 0.02, extensive=True, decimals=1),
    "T18": Profile(0, 120, "flat", 0.6, extensive=True, decimals=0),
    "T19": Profile(99.7, 99.97, "flat", 0.0005, decimals=3, **_PCT),
    "T20": Profile(40, 58, "household_demand", 0.03, extensive=True, decimals=2),
    "T21": Profile(0.29, 0.31, "flat", 0.02, decimals=3),
    "T22": Profile(0.3, 2.5, "flat", 0.4, decimals=2, **_PCT),
    "T23": Profile(97.9, 98.9, "flat", 0.002, decimals=2, **_PCT),
    "T24": Profile(600, 2_900, "mobile", 0.03, extensive=True, decimals=0),
    "T25": Profile(0, 800, "activity", 0.03, extensive=True, cumulative=True, decimals=0),
    "T26": Profile(61.2, 61.6, "flat", 0.002, decimals=2, lo=-math.inf),
    "T27": Profile(0, 0, "flat", 0.0, extensive=True, decimals=0),
    "T28": Profile(0, 0, "flat", 0.0, decimals=1),
    # 动 Movement
    "D29": Profile(1.1, 3.7, "traffic", 0.05, decimals=2, lo=0, hi=10),
    "D30": Profile(24, 38, "traffic", 0.03, invert=True, decimals=1),
    "D31": Profile(0.8, 4.2, "traffic", 0.1, decimals=2, **_PCT),
    "D32": Profile(0, 42, "traffic", 0.03, extensive=True, cumulative=True, decimals=0),
    "D33": Profile(0.3, 0.8, "traffic", 0.04, decimals=3),
    "D34": Profile(93, 97, "flat", 0.005, decimals=2, **_PCT),
    "D35": Profile(44, 56, "activity", 0.02, extensive=True, weekend=0.9, decimals=2),
    "D36": Profile(87, 94, "traffic", 0.01, invert=True, decimals=2, **_PCT),
    "D37": Profile(35, 92, "traffic", 0.05, decimals=1, lo=0, hi=200),
    "D38": Profile(4_400, 6_600, "activity", 0.02, extensive=True, decimals=0),
    "D39": Profile(35, 68, "traffic", 0.05, decimals=1, **_PCT),
    "D40": Profile(5, 60, "activity", 0.2, extensive=True, decimals=0),
    "D41": Profile(51_000, 53_000, "flat", 0.01, extensive=True, decimals=0),
    "D42": Profile(8.5, 11.5, "activity", 0.03, extensive=True, decimals=2),
    "D43": Profile(1, 7, "traffic", 0.2, extensive=True, decimals=0),
    # 态 State
    "S44": Profile(0, 0, "temperature", 0.0, decimals=1, lo=-30, hi=50),  # climate, see _temperature
    "S45": Profile(0, 0, "flat", 0.0, decimals=1),  # rain, see _rain_window
    "S46": Profile(1.4, 3.6, "activity", 0.12, decimals=1, hi=60),
    "S47": Profile(6_000, 15_000, "morning_low", 0.08, decimals=0, hi=30_000),
    "S48": Profile(0, 0, "flat", 0.0, decimals=0),
    "S49": Profile(58, 92, "traffic", 0.06, decimals=0, hi=500),
    "S50": Profile(34, 58, "traffic", 0.08, decimals=1, hi=1_000),
    "S51": Profile(44, 58, "traffic", 0.02, decimals=1, lo=20, hi=130),
    "S52": Profile(2, 2, "flat", 0.0, decimals=0, lo=1, hi=6),
    "S53": Profile(0, 3_000, "activity", 0.02, extensive=True, cumulative=True, weekend=0.85, decimals=0),
    "S54": Profile(98.4, 99.5, "flat", 0.002, decimals=2, **_PCT),
    "S55": Profile(97.3, 98.8, "flat", 0.003, decimals=2, **_PCT),
}


# Sub-signs whose unit differs from their core indicator's: (core, unit) -> profile.
UNIT_PROFILES: dict[tuple[str, str], Profile] = {
    ("S44", "%"): Profile(58, 86, "temperature", 0.05, invert=True, decimals=1, **_PCT),  # relative humidity
    ("D33", "辆/h"): Profile(500, 4_200, "traffic", 0.05, decimals=0),  # flow over a Han River crossing
    ("P06", "次"): Profile(0, 2_700, "activity", 0.03, cumulative=True, weekend=0.8, decimals=0),  # calls today
    ("P06", "s"): Profile(6, 16, "activity", 0.1, decimals=1),  # average wait
    ("D29", "s"): Profile(12, 30, "traffic", 0.08, decimals=1),  # intersection delay
    ("T26", "m³/s"): Profile(900, 1_100, "flat", 0.06, decimals=0),  # November base flow
}


# Sign models: a profile resolved for one sign, scaled and calibrated against its thresholds. -------


@dataclass(frozen=True, slots=True)
class SignModel:
    key: int
    kind: str  # "profile", "expected" (hour of week), "temperature", "rain", "signal", "level", "stage"
    profile: Profile
    scale: float = 1.0  # district or entity share of a city-level extensive profile
    offset: float = 0.0  # per-sign level shift (intensive signs differ a little by place)
    cal_a: float = 0.0  # calibration: value' = cal_a + cal_b * value
    cal_b: float = 1.0
    window_h: float = 1.0  # rain accumulation window
    rain_share: float = 1.0  # a station's share of its district's wettest point (1: the district's accumulation)
    adcode: str = CITY_ADCODE
    incidents: bool = True
    lo: float = 0.0
    hi: float = math.inf
    decimals: int = 2


def sign_adcode(sign: Sign) -> str:
    """The district a sign describes: its dist: dimension, else the adcode of its MQTT source."""
    district = sign.district
    if district:
        return district
    if isinstance(sign.source, MqttSource):
        return sign.source.adcode
    return CITY_ADCODE


_RAIN_WINDOW = re.compile(r"rain([0-9]{1,2})h")  # the dimension of a district's accumulation: rain3h, rain6h...


def _rain_window(sign: Sign) -> float:
    """Hours of rain a rain sign adds up: its dimension's window (rain3h:...), else a station's hour."""
    match = _RAIN_WINDOW.fullmatch(sign.dimension.partition(":")[0])
    return float(match.group(1)) if match else 1.0


def _classify(sign: Sign) -> str:
    if sign.core == "S48" or (isinstance(sign.source, MqttSource) and sign.source.source_id.upper().startswith("CMA")):
        return "signal"
    if sign.unit == "°C" and sign.core == "S44":
        return "temperature"
    if sign.core == "S45" and sign.unit == "mm":
        return "rain"
    if sign.core == "S52" and sign.unit == "类":
        return "level"
    return "profile"


def _generic_profile(sign: Sign) -> Profile:
    """For a sign whose core has no profile or whose unit differs from it: a level from its thresholds."""
    bounds = [b for b in sign.thresholds if b is not None]
    pct = sign.unit == "%"
    if sign.direction is Direction.LOW_IS_BAD:
        first = max(bounds) if bounds else (95.0 if pct else 100.0)
        top = 100.0 if pct else first * 1.4
        low, high = first + 0.35 * (top - first), first + 0.8 * (top - first)
        return Profile(low, high, "flat", 0.01, invert=True, hi=100.0 if pct else math.inf)
    first = min(bounds) if bounds else (50.0 if pct else 100.0)
    if first <= 0:
        return Profile(0, 0, "flat", 0.0)
    counted = sign.unit in COUNT_UNITS
    return Profile(0.35 * first, 0.6 * first, "activity" if counted else "flat", 0.05, hi=100.0 if pct else math.inf,
                   decimals=0 if counted else 2)  # fmt: skip


def _profile_for(sign: Sign, core_unit: str | None, core_direction: Direction | None) -> Profile:
    special = UNIT_PROFILES.get((sign.core, sign.unit))
    if special is not None and sign.unit != core_unit:
        return special
    profile = PROFILES.get(sign.core)
    if profile is None or (core_unit is not None and sign.unit != core_unit):
        return _generic_profile(sign)
    if core_direction is not None and sign.direction is not core_direction:
        return _generic_profile(sign)  # same unit, other meaning (abandon rate vs answer rate)
    return profile


def _shaped_level(profile: Profile, t: Times, local: LocalCalendar) -> Times:
    """A profile's level at t before noise: its range spanned by its shape, the weekend factor on what adds up."""
    activity = shape_value(profile.shape, t, local)
    if profile.invert:
        activity = 1.0 - activity
    level = profile.low + (profile.high - profile.low) * activity
    return np.where(local.weekend, level * profile.weekend, level) if profile.extensive else level


def _weekend_factor(profile: Profile, local: LocalCalendar) -> Times:
    return np.where(local.weekend, profile.weekend, 1.0)


def _raw_profile_value(profile: Profile, key: int, t: Times, scale: float, offset: float) -> Times:
    local = LocalCalendar(t)
    if profile.cumulative:
        total = profile.high * _weekend_factor(profile, local) * (1.0 + profile.noise * smooth_noise_over(key, t))
        return scale * total * cumulative_share(t)
    level = _shaped_level(profile, t, local) * (1.0 + profile.noise * smooth_noise_over(key, t)) + offset
    return scale * level


def _envelope(profile: Profile, key: int, scale: float, offset: float) -> tuple[float, float]:
    """Lowest and highest normal value over a week (noise at its extremes)."""
    # Any week will do: shapes depend on hour and weekday only.
    t = 1_700_000_000.0 + np.arange(7 * 96, dtype=np.float64) * 900.0
    local = LocalCalendar(t)
    if profile.cumulative:
        return 0.0, float(np.max(scale * (profile.high * _weekend_factor(profile, local)) * (1 + profile.noise)))
    level = _shaped_level(profile, t, local)
    lows = scale * (level * (1 - profile.noise) + offset)
    highs = scale * (level * (1 + profile.noise) + offset)
    return float(np.min(lows)), float(np.max(highs))


def _calibrate(sign: Sign, low: float, high: float, hi_bound: float) -> tuple[float, float]:
    """(a, b) so that a + b*value keeps a normal week inside the sign's normal band."""
    bounds = [b for b in sign.thresholds if b is not None]
    if not bounds:
        return 0.0, 1.0
    if sign.direction is Direction.HIGH_IS_BAD:
        first = min(bounds)
        if high < first or first <= 0:
            return 0.0, 1.0
        if 0 <= low < 0.5 * high:  # a quantity that starts near zero (counts, rates): scale it
            return 0.0, 0.88 * first / high
        return 0.95 * first - high, 1.0  # a level with a datum (stage, pressure): shift it
    first = max(bounds)
    if low > first:
        return 0.0, 1.0
    top = hi_bound if math.isfinite(hi_bound) else max(high, first) * 1.3
    target_low, target_high = first + 0.3 * (top - first), first + 0.85 * (top - first)
    if top <= first:
        return first * 1.05 - low, 1.0
    if high - low < 1e-9:
        return (target_low + target_high) / 2 - low, 1.0
    b = (target_high - target_low) / (high - low)
    return target_low - b * low, b


_MODELS: dict[str, SignModel] = {}


_PREPARED: list[Catalogue] = []  # the catalogue the models were last built for


def ensure_prepared(catalogue: Catalogue) -> None:
    if not _PREPARED or _PREPARED[0] is not catalogue:
        prepare(catalogue)


def prepared_catalogue() -> Catalogue:
    """The catalogue the models were last built for (a story reads the signs its couplings feed on from it)."""
    if not _PREPARED:
        raise RuntimeError("prepare(catalogue) has not been called")
    return _PREPARED[0]


def prepare(catalogue: Catalogue) -> dict[str, SignModel]:
    """Build (and cache) the model of every MQTT-sourced sign, with entity shares among siblings."""
    _PREPARED[:] = [catalogue]
    if catalogue.profiles:
        _CATALOGUE_PROFILES.clear()
        _CATALOGUE_PROFILES.update(catalogue.profiles)
    sourced = [s for s in catalogue.signs.values() if isinstance(s.source, MqttSource)]
    core_units = {s.core: s.unit for s in catalogue.signs.values() if s.is_core}
    core_directions = {s.core: s.direction for s in catalogue.signs.values() if s.is_core}
    siblings: dict[tuple[str, str], int] = {}
    for sign in sourced:
        kind = sign.dimension.partition(":")[0]
        siblings[(sign.core, kind)] = siblings.get((sign.core, kind), 0) + 1
    models = {}
    for sign in sourced:
        kind = sign.dimension.partition(":")[0]
        models[sign.id] = _build_model(
            sign, core_units.get(sign.core), core_directions.get(sign.core), siblings.get((sign.core, kind), 1)
        )
    _MODELS.update(models)
    return models


def model_for(sign: Sign) -> SignModel:
    model = _MODELS.get(sign.id)
    if model is None:
        model = _MODELS[sign.id] = _build_model(sign, None, None, 1)
    return model


def _build_model(sign: Sign, core_unit: str | None, core_direction: Direction | None, siblings: int) -> SignModel:
    key = text_key(sign.id)
    adcode = sign_adcode(sign)
    kind = _classify(sign)
    if kind == "temperature":
        return SignModel(key, kind, PROFILES["S44"], offset=_place_offset(key, adcode, 1.2), adcode=adcode,
                         incidents=False, lo=-30.0, hi=50.0, decimals=1)  # fmt: skip
    if kind == "rain":
        # A district's accumulations are its wettest point's; each station gets 70-100 % of that rain, so no
        # station's hour can exceed its district's hours.
        station = sign.dimension.startswith("stn:")
        return SignModel(key, kind, PROFILES["S45"], window_h=_rain_window(sign), adcode=adcode, incidents=False,
                         rain_share=0.7 + 0.3 * hash01(key, 43) if station else 1.0, decimals=1)  # fmt: skip
    if kind in ("signal", "level"):
        base = 2.0 if kind == "level" else 0.0
        return SignModel(key, kind, Profile(base, base), adcode=adcode, incidents=False, lo=0.0, hi=6.0, decimals=0)
    profile = _profile_for(sign, core_unit, core_direction)
    if sign.profile is not None:
        # An hour-of-week sign is at its catalogue expectation, give or take the core indicator's usual noise: the
        # simulator keeps no copy of the curve its bounds follow.
        pct = sign.unit == "%"
        return SignModel(key, "expected", profile, adcode=adcode, lo=0.0, hi=100.0 if pct else math.inf,
                         decimals=0 if sign.unit in COUNT_UNITS else profile.decimals)  # fmt: skip
    scale, offset = 1.0, 0.0
    bounds = [b for b in sign.thresholds if b is not None]
    if sign.unit == "m" and bounds and sign.direction is Direction.HIGH_IS_BAD:
        # A river or reservoir stage: each gauge has its own datum; sit ~4 m under its first bound.
        depth = 3.6 + 0.8 * hash01(key, 41)
        profile = Profile(0.0, 0.0, "flat", 0.0, lo=-math.inf, decimals=2)
        return SignModel(key, "stage", profile, offset=min(bounds) - depth, adcode=adcode, incidents=False,
                         lo=-math.inf, decimals=2)  # fmt: skip
    dim_kind, _, dim_value = sign.dimension.partition(":")
    if profile.extensive and dim_kind not in ("", "city"):
        if dim_kind == "dist":
            scale = POPULATION_K.get(dim_value, CITY_POPULATION_K / 12) / CITY_POPULATION_K
        else:
            scale = (0.6 + 0.8 * hash01(key, 7)) / max(1, siblings)
    elif not profile.extensive and dim_kind not in ("", "city"):
        offset = (profile.high - profile.low) * 0.15 * (2 * hash01(key, 11) - 1)
    lo, hi = profile.lo, profile.hi
    if sign.unit == "%":
        lo, hi = max(lo, 0.0), min(hi, 100.0) if profile.hi <= 100.0 else hi
    elif sign.unit in COUNT_UNITS:
        lo = max(lo, 0.0)
    low, high = _envelope(profile, key, scale, offset)
    cal_a, cal_b = _calibrate(sign, low, high, hi)
    if sign.unit in COUNT_UNITS and bounds and sign.direction is Direction.HIGH_IS_BAD and min(bounds) <= 1:
        cal_a, cal_b = 0.0, 0.0  # a count whose first bound is 1 (fatal accidents) is 0 on a normal day
    decimals = 0 if sign.unit in COUNT_UNITS and profile.decimals == 0 else profile.decimals
    return SignModel(key, kind, profile, scale, offset, cal_a, cal_b, adcode=adcode, lo=lo, hi=hi, decimals=decimals)


def _place_offset(key: int, adcode: str, spread: float) -> float:
    # The southern and western mountains (南漳, 保康) are cooler than the Han valley.
    mountain = -1.5 if adcode in ("420624", "420626") else 0.0
    return mountain + spread * (2 * hash01(key, 13) - 1)


# Weather ---------------------------------------------------------------------------------------------


def _month_value(table: tuple[float, ...], local: LocalCalendar) -> Times:
    """Linear interpolation between mid-month anchors."""
    x = local.month - 1 + (local.day_of_month - 15) / 30.0
    i = np.floor(x).astype(np.int64)
    f = x - i
    anchors = np.asarray(table, dtype=np.float64)
    return anchors[i % 12] * (1 - f) + anchors[(i + 1) % 12] * f


def temperature(t: Times, key: int = 0, offset: float = 0.0) -> Times:
    local = LocalCalendar(t)
    tmin, tmax = _month_value(MONTH_TMIN, local), _month_value(MONTH_TMAX, local)
    weather = 2.5 * smooth_noise_over(text_key("weather-city"), t / 8.0)  # synoptic swings of a few days
    diurnal = shape_diurnal_temp(local.hour, local.weekend)
    return tmin + (tmax - tmin) * diurnal + weather + offset + 0.4 * smooth_noise_over(key, t)


def rain_rate(t: Times, adcode: str = CITY_ADCODE) -> Times:
    """Background rain in mm/h: showers on some days, as often as the month's rainfall suggests."""
    day = local_days(t)
    wet_share = np.minimum(0.55, _month_value(tuple(float(v) for v in MONTH_RAIN), LocalCalendar(t)) / 130.0)
    peak = 1.0 + 3.0 * hash01_over(day, text_key("rain-peak"))
    local = 0.7 + 0.6 * hash01_over(day, text_key(adcode))
    shower = smooth_noise_over(text_key("rain-city"), t) + 0.3 * smooth_noise_over(text_key(adcode), t)
    wet = hash01_over(day, text_key("rain-day")) < wet_share
    return np.where(wet, np.maximum(0.0, peak * local * (shower - 0.15)) * 1.3, 0.0)


RAIN_STEP_S = 900.0  # accumulations sum the rain rate over quarter hours


def rain_accumulation(adcode: str, t: float, hours: float, overlay: Overlay | None = None) -> float:
    """mm of rain at the wettest point of a district over the `hours` before t: the background showers plus a
    story's rain, summed over the same quarter hours for every window (so 1 h <= 3 h <= 6 h <= 12 h at any t)."""
    return float(rain_accumulations(adcode, np.array([t]), hours, overlay)[0])


def rain_accumulations(adcode: str, t: Times, hours: float, overlay: Overlay | None = None) -> Times:
    """rain_accumulation at every time of an array. Neighbouring times share most of their quarter hours: each
    moment's rate is computed once."""
    steps = max(1, round(hours * 3600.0 / RAIN_STEP_S))
    moments = t[:, None] - (np.arange(steps) + 0.5) * RAIN_STEP_S
    distinct, where = np.unique(moments, return_inverse=True)
    rates = rain_rate(distinct, adcode)
    if overlay is not None:  # a story's rain is a function of one moment
        rates = rates + np.array([overlay.rain_rate(adcode, moment) for moment in distinct.tolist()])
    per_moment = rates[where.reshape(moments.shape)]
    total = np.zeros_like(t)
    for i in range(steps):  # summed in the order of the quarter hours, as one reading's window is
        total = total + per_moment[:, i]
    return total * RAIN_STEP_S / 3600.0



# Levels: values that put a sign at a level by its bounds of the moment. ----------------------------------


def level_value(sign: Sign, level: Level, t: float, margin: float = 1.12) -> float | None:
    """A value that puts the sign at `level` by its bounds at t (None when it has no such bound). NORMAL is a value
    clearly inside the normal band: 80 % of the way from zero to the first bound."""
    values = level_values(sign, level, np.array([t]), margin)
    return None if values is None else float(values[0])


def level_values(sign: Sign, level: Level, t: Times, margin: float = 1.12) -> Times | None:
    """level_value at every time of an array (bounds that follow a profile move with it)."""
    thresholds = [None if b is None else np.broadcast_to(b, t.shape) for b in thresholds_over(sign, t)]
    high_is_bad = sign.direction is Direction.HIGH_IS_BAD
    if level == Level.NORMAL:
        bounds = [b for b in thresholds if b is not None]
        if not bounds:
            return None
        first = bounds[0]
        if high_is_bad:
            return np.where(first > 0, 0.8 * first, first - 1.0)
        return np.where(first > 0, first / 0.8, first + 1.0)
    bound = thresholds[level - 1]
    if bound is None:
        return None
    if high_is_bad:
        value = np.where(bound > 0, bound * margin, bound + (margin - 1))
    else:
        value = np.where(bound > 0, bound / margin, bound - (margin - 1))
    # The nearest worse bound beyond this one caps the value 60 % of the way to it.
    beyond = np.full(t.shape, np.nan)
    for further in reversed(thresholds[level:]):
        if further is not None:
            beyond = np.where(further > bound if high_is_bad else further < bound, further, beyond)
    if high_is_bad:
        return np.where(np.isnan(beyond), value, np.minimum(value, bound + 0.6 * (beyond - bound)))
    return np.where(np.isnan(beyond), value, np.maximum(value, bound - 0.6 * (bound - beyond)))


def at_least(sign: Sign, value: float, level: Level, t: float) -> float:
    """The value, worsened where needed to stand at `level` or worse at t (NORMAL asks for nothing)."""
    target = level_value(sign, level, t) if level > Level.NORMAL else None
    if target is None:
        return value
    if sign.direction is Direction.HIGH_IS_BAD:
        return max(value, target)
    return min(value, target)


@overload
def mix_towards(normal: float, target: float, i: float) -> float: ...
@overload
def mix_towards(normal: Times, target: Times, i: Times) -> Times: ...
def mix_towards(normal: Any, target: Any, i: Any) -> Any:
    """normal moved a share i of the way to target (numbers or arrays of them)."""
    return normal + (target - normal) * i


# Injected incidents: a pure function of sign and time, so that they can serve as ground truth. ---------------

INCIDENT_BLOCK_S = 4 * 3_600.0
# Share of sign-blocks with an incident: ~1,000 signs can have one, so about 6 a day over the city. Rare on purpose:
# a normal day's wall should be quiet, and each of these raises its sign's alert (and at most a few aggregates').
INCIDENT_SHARE = 0.001
INCIDENT_YELLOW_SHARE = 0.25  # the rest aim at the sign's first level (blue for most); none aims at orange or red
INCIDENT_MIN_S, INCIDENT_MAX_S = 900.0, 2_400.0


@dataclass(frozen=True, slots=True)
class Incident:
    """An injected incident: `sign_id` is driven to `level` (by its bounds of the moment) from `start` to `end`,
    simulated epoch seconds. An event count's incident is one occurrence, counted until local midnight."""

    sign_id: str
    level: Level
    start: float
    end: float


def _incident_level(sign: Sign, roll: float) -> Level | None:
    defined = [Level(i + 1) for i, bound in enumerate(sign.thresholds) if bound is not None]
    if not defined or defined[0] > Level.YELLOW:
        return None  # an occurrence that is orange at once (a flash flood) is a story, not a normal day's incident
    if sign.bounds is BoundsKind.FIRST_OCCURRENCE:
        return defined[0]
    yellow = roll < INCIDENT_YELLOW_SHARE and Level.YELLOW in defined
    return Level.YELLOW if yellow else defined[0]


def _incident_in_block(model: SignModel, sign: Sign, block: int) -> Incident | None:
    """The incident of one sign in one block of time, if it has one. An event count's block is a local day."""
    if not model.incidents:
        return None
    events = sign.bounds is BoundsKind.FIRST_OCCURRENCE
    share = INCIDENT_SHARE * DAY_S / INCIDENT_BLOCK_S if events else INCIDENT_SHARE
    if hash01(model.key, 23, block) >= share:
        return None
    level = _incident_level(sign, hash01(model.key, 37, block))
    if level is None:
        return None
    if events:
        day_start = local_midnight(block)
        start = day_start + DAY_S * hash01(model.key, 29, block)
        return Incident(sign.id, level, start, day_start + DAY_S)
    # Long enough for a few readings to land at the incident's level, whatever the sign's cadence.
    shortest = min(INCIDENT_BLOCK_S, max(INCIDENT_MIN_S, 3.0 * sign.cadence_s))
    length = shortest + max(0.0, INCIDENT_MAX_S - shortest) * hash01(model.key, 31, block)
    start = block * INCIDENT_BLOCK_S + (INCIDENT_BLOCK_S - length) * hash01(model.key, 29, block)
    return Incident(sign.id, level, start, start + length)


def _incident_block(sign: Sign, t: float) -> int:
    return local_day(t) if sign.bounds is BoundsKind.FIRST_OCCURRENCE else math.floor(t / INCIDENT_BLOCK_S)


def _incident_blocks(sign: Sign, t: Times) -> npt.NDArray[np.int64]:
    if sign.bounds is BoundsKind.FIRST_OCCURRENCE:
        return local_days(t)
    return np.floor(t / INCIDENT_BLOCK_S).astype(np.int64)


def _incident(model: SignModel, sign: Sign, t: Times, value: Times) -> Times:
    """The value during an injected incident: it rises past the incident's bound, holds at the incident's level for
    the middle two thirds, and falls back; an event count gains its one occurrence."""
    blocks = _incident_blocks(sign, t)
    value = value.copy()
    for block in range(int(blocks.min()), int(blocks.max()) + 1):
        incident = _incident_in_block(model, sign, block)
        if incident is None:
            continue
        during = (blocks == block) & (incident.start <= t) & (t < incident.end)
        if not during.any():
            continue
        if sign.bounds is BoundsKind.FIRST_OCCURRENCE:
            value[during] += 1.0
            continue
        moments, normal = t[during], value[during]
        x = (moments - incident.start) / (incident.end - incident.start)
        weight = np.minimum(np.minimum(1.0, 6.0 * x), 6.0 * (1.0 - x))  # ramps over the first and last sixths
        target = level_values(sign, incident.level, moments, 1.02 + 0.1 * hash01(model.key, 41, block))
        if target is None:
            continue
        held = np.maximum(normal, target) if sign.direction is Direction.HIGH_IS_BAD else np.minimum(normal, target)
        value[during] = mix_towards(normal, held, weight)
    return value


def incidents_between(catalogue: Catalogue, t0: float, t1: float) -> list[Incident]:
    """Every injected incident under way at some moment of [t0, t1) (simulated time), by start: the ground truth of
    a normal day. Derived signs have none of their own; their inputs' incidents move them."""
    ensure_prepared(catalogue)
    found = []
    for sign in catalogue.signs.values():
        if not isinstance(sign.source, MqttSource):
            continue
        model = model_for(sign)
        if not model.incidents:
            continue
        # An event count's incident runs to midnight: look from the start of t0's local day.
        first, last = _incident_block(sign, t0), _incident_block(sign, t1)
        for block in range(first, last + 1):
            incident = _incident_in_block(model, sign, block)
            if incident is not None and incident.start < t1 and incident.end > t0:
                found.append(incident)
    return sorted(found, key=lambda i: (i.start, i.sign_id))


class Overlay(Protocol):
    """A running story's change to the normal city: the rain it adds over a district (mm/h, integrated into the
    accumulations like the background showers), and each sign's value at t given its value without the story."""

    def rain_rate(self, adcode: str, t: float) -> float: ...

    def apply(self, sign: Sign, model: SignModel, t: float, value: float) -> float: ...


def value_at(sign: Sign, t: float, overlay: Overlay | None = None) -> float:
    """The value of a sign at simulated epoch time `t` (pure: same inputs, same value), under a story if given."""
    return float(values_at(sign, np.array([t], dtype=np.float64), overlay)[0])


def values_at(sign: Sign, t: Times, overlay: Overlay | None = None) -> Times:
    """The value of a sign at every simulated time of an array: value_at is this at one time. A story's overlay
    is a function of one moment and is applied moment by moment."""
    model = model_for(sign)
    if model.kind == "temperature":
        value = temperature(t, model.key, model.offset)
    elif model.kind == "rain":
        value = model.rain_share * rain_accumulations(model.adcode, t, model.window_h, overlay)
    elif model.kind in ("signal", "level"):
        value = np.full_like(t, model.profile.low)
    elif model.kind == "stage":  # slow swings of a few decimetres
        value = model.offset + 0.25 * smooth_noise_over(model.key, t / 6.0)
    elif model.kind == "expected":
        expected = expected_values(sign, t)
        expected = np.zeros_like(t) if expected is None else expected
        value = _incident(model, sign, t, expected * (1.0 + model.profile.noise * smooth_noise_over(model.key, t)))
    else:
        raw = _raw_profile_value(model.profile, model.key, t, model.scale, model.offset)
        value = _incident(model, sign, t, model.cal_a + model.cal_b * raw)
    if overlay is not None:
        moved = [overlay.apply(sign, model, moment, v) for moment, v in zip(t.tolist(), value.tolist(), strict=True)]
        value = np.asarray(moved, dtype=np.float64)
    value = np.minimum(model.hi, np.maximum(model.lo, value))
    return np.round(value, model.decimals) if model.decimals > 0 else np.round(value)
