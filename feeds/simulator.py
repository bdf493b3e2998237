"""The city simulator: every MQTT-sourced sign at its cadence and 71,591 camera heartbeats, over the contract.

Time. The model runs on a *simulated* clock; payloads carry *real* wall-clock time. With ``--speed N``
the simulated clock advances N times faster than the wall clock and every sign group is published N
times more often (``cadence_s / N``, never faster than ``MIN_INTERVAL_S``), so a day of city life
plays in 24/N hours. Payload timestamps stay the wall-clock moment of publishing because the ingest
rejects readings more than 5 minutes in the future (and history is keyed by source time): a sped-up
demo therefore shows a compressed day in real time rather than readings stamped in the future. The
alert engine judges hour-of-week bounds by source time, so such a demo's simulated night meets the real
hour's bounds; ``--stamp simulated --start <a past moment>`` replays a past day with its own timestamps
instead (what bench/alert_truth.py does), and stops when simulated time reaches the wall clock.

Camera heartbeats keep their *real* period (``--camera-heartbeat``, default 60 s) and real timestamps
whatever the speed: the ingest judges camera liveness on the wall clock (``camera_offline_after_s``), and
speeding the heartbeats up would multiply the load. Their *status* follows the simulated clock (mobile
units go off duty at simulated night, outages come and go in simulated time).

Values come from a pure model, ``value_at(sign, t, state)``. A sign whose catalogue bounds are
``hour_of_week`` is at its catalogue expectation (level × profile factor, signs/catalogue/profiles.csv)
give or take smooth noise: the simulator keeps no copy of the curve its bounds follow. Other signs follow a
profile per core indicator (typical range from catalogue-reference §5) shaped by the catalogue's profiles of
city life (people about, road traffic, household demand, electric load, counts since midnight) or by the
simulator's own physics (temperature, visibility, the mobile-camera rota), the month's climate, smooth noise
(interpolated random knots, not white noise), district scaling by population, then a calibration that keeps
a normal week under each sign's first threshold. Scenarios (``rainstorm``, ``holiday-congestion``,
``camera-outage``) overlay the stories of the brief and ramp up over a few simulated minutes.

Ground truth. Injected incidents are rare (about 6 a day over the city, blue or yellow) and, like everything
here, pure functions of sign and time: ``incidents_between(catalogue, t0, t1)`` lists them with the level
each aims at, ``scenario_effects`` and ``camera_effects`` list the signs a scenario moves and the level it
drives each to. A normal simulated day raises exactly its incidents' alerts.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from config import settings
from feeds.contract import CHINA_STANDARD_TIME, FEED_VIDEO, encode_camera_status, encode_readings, topic
from geo.admin import CITY_ADCODE
from signs.model import (
    BoundsKind,
    Catalogue,
    Derivation,
    DeriveOp,
    Direction,
    HourProfile,
    Level,
    MqttSource,
    Sign,
    expected_value,
    level_of,
    thresholds_at,
)

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    import pandas as pd

log = logging.getLogger("feeds.simulator")

SCENARIOS = ("rainstorm", "holiday-congestion", "camera-outage")
SCENARIO_RAINSTORM, SCENARIO_HOLIDAY, SCENARIO_CAMERA_OUTAGE = SCENARIOS
RAIN_DISTRICTS = ("420624", "420626")  # 南漳, 保康: the southern mountains of the 24 May story
HOLIDAY_DISTRICT = "420625"  # 谷城: 石花 toll station on the 邓保 expressway
OUTAGE_DISTRICT = "420607"  # 襄州
OUTAGE_REAL_S = 900.0  # how long the district network stays down, in wall-clock seconds
MIN_INTERVAL_S = 0.5  # a group is never published more often than this, whatever the speed
LOG_EVERY_S = 10.0
QOS_READINGS, QOS_CAMERAS = 1, 0
DAY_S, WEEK_S = 86_400.0, 7 * 86_400.0

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

_COUNT_UNITS = frozenset({"件", "起", "辆", "处", "座", "户", "人", "路", "条", "次", "个", "台", "班", "人次"})


# Hashing and smooth noise: deterministic, so the model is a pure function of (sign, time). ---------

_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _hash01(*parts: int) -> float:
    h = 0x2545F4914F6CDD1D
    for part in parts:
        h = _mix(h ^ (part & _MASK64))
    return (h >> 11) / float(1 << 53)


def _key(text: str) -> int:
    h = 1469598103934665603
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) & _MASK64
    return h


_OCTAVES = ((600.0, 0.2), (2_700.0, 0.35), (10_800.0, 0.45))


def smooth_noise(key: int, t: float) -> float:
    """Value noise in [-1, 1]: random knots joined by smoothstep, three octaves (10 min, 45 min, 3 h)."""
    total = 0.0
    for period, weight in _OCTAVES:
        x = t / period
        k = math.floor(x)
        f = x - k
        s = f * f * (3.0 - 2.0 * f)
        a = _hash01(key, int(period), k) * 2.0 - 1.0
        b = _hash01(key, int(period), k + 1) * 2.0 - 1.0
        total += weight * (a + (b - a) * s)
    return total


# Local time and daily shapes (each returns an activity in [0, 1]). -----------------------------------


def local_time(t: float) -> datetime:
    return datetime.fromtimestamp(t, CHINA_STANDARD_TIME)


def _local_hour(t: float) -> tuple[float, bool, datetime]:
    moment = local_time(t)
    hour = moment.hour + moment.minute / 60.0 + moment.second / 3600.0
    return hour, moment.weekday() >= 5, moment


_UTC_OFFSET_S = CHINA_STANDARD_TIME.utcoffset(None).total_seconds()


def _local_day(t: float) -> int:
    """Days since the epoch in local time: the key of what lasts a day (rain days, camera faults, today's counts)."""
    return math.floor((t + _UTC_OFFSET_S) / DAY_S)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bump(h: float, up: float, down: float, width: float = 0.7) -> float:
    return _sigmoid((h - up) / width) * _sigmoid((down - h) / width)


def _gauss(h: float, centre: float, sigma: float) -> float:
    return math.exp(-0.5 * ((h - centre) / sigma) ** 2)


def shape_mobile(h: float, weekend: bool) -> float:
    """Share of mobile units on duty (T24: day 1,500-3,500 of 4,591, night 300-900)."""
    return 0.13 + 0.5 * _bump(h, 7.5, 20.0, 0.6)


def shape_diurnal_temp(h: float, weekend: bool) -> float:
    """0 at the 06:00 minimum, 1 at the 14:30 maximum."""
    if 6.0 <= h <= 14.5:
        x = (h - 6.0) / 8.5
        return 0.5 - 0.5 * math.cos(math.pi * x)
    x = ((h - 14.5) % 24.0) / 15.5
    return 0.5 + 0.5 * math.cos(math.pi * x)


def shape_flat(h: float, weekend: bool) -> float:
    return 0.5


def shape_morning_low(h: float, weekend: bool) -> float:
    """Visibility-like: lowest around dawn, best in the afternoon."""
    return 1.0 - 0.7 * _gauss(h, 6.5, 2.0)


# The simulator's own shapes are physics and rotas. The curves of city life (people about, road traffic, household
# demand, electric load, counts since midnight...) are the catalogue's hour-of-week profiles
# (signs/catalogue/profiles.csv): written once, for the alert bounds and for the values simulated here.
PHYSICAL_SHAPES: dict[str, Callable[[float, bool], float]] = {
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


def shape_value(name: str, t: float) -> float:
    """The activity of shape `name` at t, in [0, 1]: a physical shape, or a catalogue profile scaled to its week's
    range (0 at its lowest factor, 1 at its highest)."""
    physical = PHYSICAL_SHAPES.get(name)
    if physical is not None:
        hour, weekend, _ = _local_hour(t)
        return physical(hour, weekend)
    profile = catalogue_profiles()[name]
    low, high = _profile_range(profile)
    return (profile.factor(t) - low) / (high - low) if high > low else 0.5


def cumulative_share(t: float) -> float:
    """Share of a day's count reached at t (the catalogue's day_count profile): 0 at midnight, 1 at the next."""
    return catalogue_profiles()[COUNT_PROFILE].factor(t)


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


def _sign_text(sign: Sign) -> str:
    source = sign.source
    extra = f" {source.source_id} {source.field}" if isinstance(source, MqttSource) else ""
    return f"{sign.id} {sign.name_en} {sign.name_zh}{extra}".lower()


_WINDOW = re.compile(r"(?<![0-9.])([0-9]{1,2})\s*(?:h\b|h_|hr|hour|小时|-hour)")


def _rain_window(sign: Sign) -> float:
    text = _sign_text(sign)
    match = _WINDOW.search(text)
    return float(match.group(1)) if match else 1.0


def _classify(sign: Sign) -> str:
    text = _sign_text(sign)
    if sign.core == "S48" or (isinstance(sign.source, MqttSource) and sign.source.source_id.upper().startswith("CMA")):
        return "signal"
    if sign.unit == "°C" and (sign.core == "S44" or "temperature" in text or "气温" in text):
        return "temperature"
    if sign.core == "S45" or "rainfall" in text or "降水" in text or "雨量" in text:
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
    counted = sign.unit in _COUNT_UNITS
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


def _raw_profile_value(profile: Profile, key: int, t: float, scale: float, offset: float) -> float:
    _, weekend, _ = _local_hour(t)
    if profile.cumulative:
        total = profile.high * (profile.weekend if weekend else 1.0) * (1.0 + profile.noise * smooth_noise(key, t))
        return scale * total * cumulative_share(t)
    activity = shape_value(profile.shape, t)
    if profile.invert:
        activity = 1.0 - activity
    level = profile.low + (profile.high - profile.low) * activity
    if weekend and profile.extensive:
        level *= profile.weekend
    level = level * (1.0 + profile.noise * smooth_noise(key, t)) + offset
    return scale * level


def _envelope(profile: Profile, key: int, scale: float, offset: float) -> tuple[float, float]:
    """Lowest and highest normal value over a week (noise at its extremes)."""
    lows, highs = [], []
    for step in range(0, 7 * 96):
        t = 1_700_000_000.0 + step * 900.0  # any week will do: shapes depend on hour and weekday only
        _, weekend, _ = _local_hour(t)
        if profile.cumulative:
            total = profile.high * (profile.weekend if weekend else 1.0)
            lows.append(0.0)
            highs.append(scale * total * (1 + profile.noise))
            continue
        activity = shape_value(profile.shape, t)
        if profile.invert:
            activity = 1.0 - activity
        level = profile.low + (profile.high - profile.low) * activity
        if weekend and profile.extensive:
            level *= profile.weekend
        lows.append(scale * (level * (1 - profile.noise) + offset))
        highs.append(scale * (level * (1 + profile.noise) + offset))
    return min(lows), max(highs)


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


def _ensure_prepared(catalogue: Catalogue) -> None:
    if not _PREPARED or _PREPARED[0] is not catalogue:
        prepare(catalogue)


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
    key = _key(sign.id)
    adcode = sign_adcode(sign)
    kind = _classify(sign)
    if kind == "temperature":
        return SignModel(key, kind, PROFILES["S44"], offset=_place_offset(key, adcode, 1.2), adcode=adcode,
                         incidents=False, lo=-30.0, hi=50.0, decimals=1)  # fmt: skip
    if kind == "rain":
        return SignModel(key, kind, PROFILES["S45"], window_h=_rain_window(sign), adcode=adcode, incidents=False,
                         decimals=1)  # fmt: skip
    if kind in ("signal", "level"):
        base = 2.0 if kind == "level" else 0.0
        return SignModel(key, kind, Profile(base, base), adcode=adcode, incidents=False, lo=0.0, hi=6.0, decimals=0)
    profile = _profile_for(sign, core_unit, core_direction)
    if sign.profile is not None:
        # An hour-of-week sign is at its catalogue expectation, give or take the core indicator's usual noise: the
        # simulator keeps no copy of the curve its bounds follow.
        pct = sign.unit == "%"
        return SignModel(key, "expected", profile, adcode=adcode, lo=0.0, hi=100.0 if pct else math.inf,
                         decimals=0 if sign.unit in _COUNT_UNITS else profile.decimals)  # fmt: skip
    scale, offset = 1.0, 0.0
    bounds = [b for b in sign.thresholds if b is not None]
    if sign.unit == "m" and bounds and sign.direction is Direction.HIGH_IS_BAD:
        # A river or reservoir stage: each gauge has its own datum; sit ~4 m under its first bound.
        depth = 3.6 + 0.8 * _hash01(key, 41)
        profile = Profile(0.0, 0.0, "flat", 0.0, lo=-math.inf, decimals=2)
        return SignModel(key, "stage", profile, offset=min(bounds) - depth, adcode=adcode, incidents=False,
                         lo=-math.inf, decimals=2)  # fmt: skip
    dim_kind, _, dim_value = sign.dimension.partition(":")
    if profile.extensive and dim_kind not in ("", "city"):
        if dim_kind == "dist":
            scale = POPULATION_K.get(dim_value, CITY_POPULATION_K / 12) / CITY_POPULATION_K
        else:
            scale = (0.6 + 0.8 * _hash01(key, 7)) / max(1, siblings)
    elif not profile.extensive and dim_kind not in ("", "city"):
        offset = (profile.high - profile.low) * 0.15 * (2 * _hash01(key, 11) - 1)
    lo, hi = profile.lo, profile.hi
    if sign.unit == "%":
        lo, hi = max(lo, 0.0), min(hi, 100.0) if profile.hi <= 100.0 else hi
    elif sign.unit in _COUNT_UNITS:
        lo = max(lo, 0.0)
    low, high = _envelope(profile, key, scale, offset)
    cal_a, cal_b = _calibrate(sign, low, high, hi)
    if sign.unit in _COUNT_UNITS and bounds and sign.direction is Direction.HIGH_IS_BAD and min(bounds) <= 1:
        cal_a, cal_b = 0.0, 0.0  # a count whose first bound is 1 (fatal accidents) is 0 on a normal day
    decimals = 0 if sign.unit in _COUNT_UNITS and profile.decimals == 0 else profile.decimals
    return SignModel(key, kind, profile, scale, offset, cal_a, cal_b, adcode=adcode, lo=lo, hi=hi, decimals=decimals)


def _place_offset(key: int, adcode: str, spread: float) -> float:
    # The southern and western mountains (南漳, 保康) are cooler than the Han valley.
    mountain = -1.5 if adcode in ("420624", "420626") else 0.0
    return mountain + spread * (2 * _hash01(key, 13) - 1)


# Weather ---------------------------------------------------------------------------------------------


def _month_value(table: tuple[float, ...], moment: datetime) -> float:
    """Linear interpolation between mid-month anchors."""
    x = moment.month - 1 + (moment.day - 15) / 30.0
    i = math.floor(x)
    f = x - i
    return table[i % 12] * (1 - f) + table[(i + 1) % 12] * f


def temperature(t: float, key: int = 0, offset: float = 0.0) -> float:
    hour, weekend, moment = _local_hour(t)
    tmin, tmax = _month_value(MONTH_TMIN, moment), _month_value(MONTH_TMAX, moment)
    weather = 2.5 * smooth_noise(_key("weather-city"), t / 8.0)  # synoptic swings of a few days
    return tmin + (tmax - tmin) * shape_diurnal_temp(hour, weekend) + weather + offset + 0.4 * smooth_noise(key, t)


@lru_cache(maxsize=8_192)  # every window of every station of a district samples the same moments
def rain_rate(t: float, adcode: str = CITY_ADCODE) -> float:
    """Background rain in mm/h: showers on some days, as often as the month's rainfall suggests."""
    moment = local_time(t)
    day = _local_day(t)
    wet_share = min(0.55, _month_value(tuple(float(v) for v in MONTH_RAIN), moment) / 130.0)
    if _hash01(_key("rain-day"), day) >= wet_share:
        return 0.0
    peak = 1.0 + 3.0 * _hash01(_key("rain-peak"), day)
    local = 0.7 + 0.6 * _hash01(_key(adcode), day)
    shower = smooth_noise(_key("rain-city"), t) + 0.3 * smooth_noise(_key(adcode), t)
    return max(0.0, peak * local * (shower - 0.15)) * 1.3


def _rain_window_value(t: float, adcode: str, hours: float) -> float:
    steps = max(4, int(hours * 4))
    dt = hours * 3600.0 / steps
    return sum(rain_rate(t - (i + 0.5) * dt, adcode) for i in range(steps)) * dt / 3600.0


# Scenarios -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScenarioState:
    """A running story. ``start`` is simulated time; the camera outage is measured on the wall clock."""

    name: str | None = None
    start: float = 0.0
    district: str = OUTAGE_DISTRICT
    speed: float = 1.0
    outage_real_s: float = OUTAGE_REAL_S
    ramp_s: float = 90.0  # e-folding time of the ramp, simulated seconds

    def elapsed(self, t: float) -> float:
        return t - self.start

    def intensity(self, t: float) -> float:
        """0 before the start, ~0.5 after a simulated minute, 1 after ~4.5 simulated minutes."""
        e = self.elapsed(t)
        if self.name is None or e <= 0:
            return 0.0
        return min(1.0, (1.0 - math.exp(-e / self.ramp_s)) / 0.95)

    def outage_active(self, t: float) -> bool:
        e = self.elapsed(t)
        return self.name == SCENARIO_CAMERA_OUTAGE and 0.0 <= e < self.outage_real_s * self.speed


NO_SCENARIO = ScenarioState()


def _level_value(sign: Sign, level: Level, t: float, margin: float = 1.12) -> float | None:
    """A value that puts the sign at `level` by its bounds at t (None when it has no such bound). NORMAL is a value
    clearly inside the normal band: 80 % of the way from zero to the first bound."""
    thresholds = thresholds_at(sign, t)
    if level == Level.NORMAL:
        bounds = [b for b in thresholds if b is not None]
        if not bounds:
            return None
        first = bounds[0]
        if sign.direction is Direction.HIGH_IS_BAD:
            return 0.8 * first if first > 0 else first - 1.0
        return first / 0.8 if first > 0 else first + 1.0
    bound = thresholds[level - 1]
    if bound is None:
        return None
    if sign.direction is Direction.HIGH_IS_BAD:
        value = bound * margin if bound > 0 else bound + (margin - 1)
        above = [b for b in thresholds[level:] if b is not None and b > bound]
        return min(value, bound + 0.6 * (above[0] - bound)) if above else value
    value = bound / margin if bound > 0 else bound - (margin - 1)
    below = [b for b in thresholds[level:] if b is not None and b < bound]
    return max(value, bound - 0.6 * (bound - below[0])) if below else value


def _at_least(sign: Sign, value: float, level: Level, t: float) -> float:
    """The value, worsened where needed to stand at `level` or worse at t (NORMAL asks for nothing)."""
    target = _level_value(sign, level, t) if level > Level.NORMAL else None
    if target is None:
        return value
    if sign.direction is Direction.HIGH_IS_BAD:
        return max(value, target)
    return min(value, target)


def _mix_towards(normal: float, target: float, i: float) -> float:
    return normal + (target - normal) * i


_TRIBUTARIES = ("蛮河", "南河", "清凉河", "manhe", "man river", "nanhe", "nan river")


def _rainstorm(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    i = state.intensity(t)
    if i <= 0:
        return value
    e = state.elapsed(t)
    red = e >= 15 * 60.0  # the signal goes from orange to red after a quarter of an hour
    text = _sign_text(sign)
    storm = model.adcode in RAIN_DISTRICTS
    wet = storm or model.adcode == CITY_ADCODE
    jitter = _hash01(model.key, 17)
    if model.kind == "rain":
        if storm:
            hourly = 20.0 + 25.0 * jitter  # 20-45 mm/h at the mountain stations
            target = {1.0: hourly, 3.0: 58 + 20 * jitter, 6.0: 82 + 20 * jitter, 12.0: 105 + 25 * jitter}.get(
                model.window_h, hourly * min(model.window_h, 12.0) * 0.45
            )
            if red and model.window_h == 3.0 and jitter > 0.4:
                target = 100.0 + 15 * jitter
            level = Level.RED if red and model.window_h <= 3 else Level.ORANGE
            target = _at_least(sign, target, level, t) if model.window_h > 1 else target
        elif model.adcode == CITY_ADCODE:
            target = 20.0 + 20 * jitter if model.window_h == 1 else 55.0 + 10 * model.window_h
        else:  # light to moderate rain elsewhere
            target = (1.0 + 4.0 * jitter) * min(model.window_h, 12.0) ** 0.8
        return _mix_towards(value, max(value, target), i)
    if model.kind == "signal":
        if "rainstorm" in text or "暴雨" in text or "baoyu" in text:
            return float(Level.RED if red else Level.ORANGE) if i > 0.3 else value
        if sign.core == "S48" and model.adcode in RAIN_DISTRICTS and sign.dimension.startswith("dist"):
            return float(Level.RED if red else Level.ORANGE) if i > 0.3 else value  # worst signal there
        return value
    if model.kind == "temperature":
        return value - (3.0 if storm else 1.5) * i
    core = sign.core
    if core == "S47":  # visibility in heavy rain
        return _mix_towards(value, (1_500 if storm else 5_000) + 1_000 * jitter, i)
    if core == "T28" or "积水" in text or "waterlog" in text:
        target = (18 + 14 * jitter) if storm or model.adcode == CITY_ADCODE else 3 + 10 * jitter  # urban: moderate rain
        return _mix_towards(value, _at_least(sign, target, Level.YELLOW, t) if storm else target, i)
    if any(name in text for name in _TRIBUTARIES):
        target = _at_least(sign, value + 2.5, Level.YELLOW, t)
        return _mix_towards(value, target, i)
    if core == "T26" and storm:
        return _mix_towards(value, _at_least(sign, value + 1.5, Level.BLUE, t), i)
    if core == "T27" and (storm or model.adcode == CITY_ADCODE):
        return value + round(i * (3 if model.adcode == CITY_ADCODE else 1 + 2 * jitter))
    if core in ("P05", "P09", "S53", "T25") and wet:
        factor = 1.0 + (0.8 if storm else 0.25) * i
        boosted = value * factor
        return _at_least(sign, boosted, Level.BLUE, t) if storm and i > 0.8 and core in ("P05", "P09") else boosted
    if sign.module == "M15" and ("水务防汛" in text or "flood" in text) and wet:
        return value * (1.0 + 3.0 * i)
    return value


_QUEUE_WORDS = ("queue", "排队", "滞留", "queued")


def _holiday(sign: Sign, model: SignModel, t: float, state: ScenarioState, value: float) -> float:
    i = state.intensity(t)
    if i <= 0:
        return value
    text = _sign_text(sign)
    here = model.adcode == HOLIDAY_DISTRICT
    city = model.adcode == CITY_ADCODE
    jitter = _hash01(model.key, 19)
    core = sign.core
    expressway = "class:exp" in sign.dimension or "expressway" in text or "高速" in text
    if core == "D29" and sign.unit != "s":
        if here:
            return _mix_towards(value, _at_least(sign, 8.6 + 0.6 * jitter, Level.ORANGE, t), i)
        if expressway:  # the jam on the 邓保 expressway spills into the expressway index
            return _mix_towards(value, _at_least(sign, 6.4, Level.YELLOW, t), i)
        return value + (1.0 if city else 0.3) * i
    if core == "D30" and (here or expressway):
        target = 12.0 + 3 * jitter if here else value * 0.6
        return _mix_towards(value, _at_least(sign, target, Level.ORANGE if here else Level.YELLOW, t), i)
    if core == "D31" and (here or city):
        return _mix_towards(value, _at_least(sign, 24.0 if here else 7.0, Level.ORANGE if here else Level.NORMAL, t), i)
    if core == "D33" and here:
        return _mix_towards(value, _at_least(sign, 1.05, Level.ORANGE, t), i)
    if any(w in text for w in _QUEUE_WORDS) and (here or "石花" in text or "shihua" in text):
        return _mix_towards(value, max(value, 900 + 600 * jitter), i)
    if core == "D32" and (here or city):
        factor = 3.0 if here else 1.3
        return _at_least(sign, value * (1 + (factor - 1) * i), Level.ORANGE, t) if here and i > 0.9 else value * (
            1 + (factor - 1) * i
        )
    if core == "P02" and (here or city):
        return value * (1.0 + i)  # inbound visitors x2
    if core in ("P03", "P04") and here:  # 承恩寺 and the other sights of 谷城 fill up
        return value * (1.0 + 0.6 * i)
    if core in ("D35", "D37", "D39", "D40", "P03", "P04") and (here or city):
        return value * (1.0 + 0.25 * i)
    if core in ("P05", "T25") and here:  # calls about the jam; cameras flag the queue
        return value * (1.0 + 0.8 * i)
    return value


SCENARIO_EFFECTS: dict[str, Callable[[Sign, SignModel, float, ScenarioState, float], float]] = {
    SCENARIO_RAINSTORM: _rainstorm,
    SCENARIO_HOLIDAY: _holiday,
}


# The value model -------------------------------------------------------------------------------------


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
    if _hash01(model.key, 23, block) >= share:
        return None
    level = _incident_level(sign, _hash01(model.key, 37, block))
    if level is None:
        return None
    if events:
        day_start = block * DAY_S - _UTC_OFFSET_S
        start = day_start + DAY_S * _hash01(model.key, 29, block)
        return Incident(sign.id, level, start, day_start + DAY_S)
    # Long enough for a few readings to land at the incident's level, whatever the sign's cadence.
    shortest = min(INCIDENT_BLOCK_S, max(INCIDENT_MIN_S, 3.0 * sign.cadence_s))
    length = shortest + max(0.0, INCIDENT_MAX_S - shortest) * _hash01(model.key, 31, block)
    start = block * INCIDENT_BLOCK_S + (INCIDENT_BLOCK_S - length) * _hash01(model.key, 29, block)
    return Incident(sign.id, level, start, start + length)


def _incident_block(sign: Sign, t: float) -> int:
    return _local_day(t) if sign.bounds is BoundsKind.FIRST_OCCURRENCE else math.floor(t / INCIDENT_BLOCK_S)


def _incident(model: SignModel, sign: Sign, t: float, value: float) -> float:
    """The value during an injected incident: it rises past the incident's bound, holds at the incident's level for
    the middle two thirds, and falls back; an event count gains its one occurrence."""
    incident = _incident_in_block(model, sign, _incident_block(sign, t))
    if incident is None or not incident.start <= t < incident.end:
        return value
    if sign.bounds is BoundsKind.FIRST_OCCURRENCE:
        return value + 1.0
    x = (t - incident.start) / (incident.end - incident.start)
    weight = min(1.0, 6.0 * x, 6.0 * (1.0 - x))  # ramps over the first and last sixths, holds in between
    block = _incident_block(sign, t)
    target = _level_value(sign, incident.level, t, 1.02 + 0.1 * _hash01(model.key, 41, block))
    if target is None:
        return value
    held = max(value, target) if sign.direction is Direction.HIGH_IS_BAD else min(value, target)
    return _mix_towards(value, held, weight)


def incidents_between(catalogue: Catalogue, t0: float, t1: float) -> list[Incident]:
    """Every injected incident under way at some moment of [t0, t1) (simulated time), by start: the ground truth of
    a normal day. Derived signs have none of their own; their inputs' incidents move them."""
    _ensure_prepared(catalogue)
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


def value_at(sign: Sign, t: float, state: ScenarioState = NO_SCENARIO) -> float:
    """The value of a sign at simulated epoch time `t` (pure: same inputs, same value)."""
    model = model_for(sign)
    if model.kind == "temperature":
        value = temperature(t, model.key, model.offset)
    elif model.kind == "rain":
        value = _rain_window_value(t, model.adcode, model.window_h)
    elif model.kind in ("signal", "level"):
        value = model.profile.low
    elif model.kind == "stage":  # slow swings of a few decimetres
        value = model.offset + 0.25 * smooth_noise(model.key, t / 6.0)
    elif model.kind == "expected":
        expected = expected_value(sign, t) or 0.0
        value = _incident(model, sign, t, expected * (1.0 + model.profile.noise * smooth_noise(model.key, t)))
    else:
        raw = _raw_profile_value(model.profile, model.key, t, model.scale, model.offset)
        value = model.cal_a + model.cal_b * raw
        value = _incident(model, sign, t, value)
    effect = SCENARIO_EFFECTS.get(state.name or "")
    if effect is not None:
        value = effect(sign, model, t, state, value)
    value = min(model.hi, max(model.lo, value))
    return float(round(value, model.decimals)) if model.decimals > 0 else float(round(value))


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


def _effect(scenario: str, sign_id: str, samples: list[tuple[float, bool, Level]], step_s: float) -> Effect | None:
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


def _sample_times(state: ScenarioState, t0: float, t1: float, step_s: float) -> list[float]:
    first = max(t0, state.start)
    return [first + k * step_s for k in range(max(0, math.ceil((t1 - first) / step_s)))]


def scenario_effects(
    catalogue: Catalogue, state: ScenarioState, t0: float, t1: float, step_s: float = EFFECT_STEP_S
) -> list[Effect]:
    """The signs a scenario's story moves during [t0, t1) and the level it drives each to: the scenario's value
    model against the normal city's, sampled every step_s (pure; the ground truth of a scenario run). Sensor signs
    only; the camera signs' are camera_effects(), and aggregates follow their inputs."""
    effect = SCENARIO_EFFECTS.get(state.name or "")
    if effect is None:
        return []
    _ensure_prepared(catalogue)
    times = _sample_times(state, t0, t1, step_s)
    found = []
    for sign in catalogue.signs.values():
        if not isinstance(sign.source, MqttSource):
            continue
        samples = []
        for t in times:
            value = value_at(sign, t, state)
            level = level_of(value, thresholds_at(sign, t), sign.direction)
            samples.append((t, value != value_at(sign, t, NO_SCENARIO), level))
        found_effect = _effect(state.name or "", sign.id, samples, step_s)
        if found_effect is not None:
            found.append(found_effect)
    return found


# Groups of signs = one MQTT message each ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    feed: str
    adcode: str
    source_id: str
    topic: str
    cadence_s: float
    fields: tuple[tuple[str, Sign], ...]


def sign_groups(catalogue: Catalogue) -> list[Group]:
    """One group per (feed, adcode, source_id): all its fields travel in one message at the fastest cadence."""
    groups = []
    for (feed, adcode, source_id), fields in sorted(catalogue.routes.items()):
        if feed == FEED_VIDEO:
            continue
        signs = tuple((name, catalogue.signs[sign_id]) for name, sign_id in sorted(fields.items()))
        cadence = min(sign.cadence_s for _, sign in signs)
        groups.append(Group(feed, adcode, source_id, topic(feed, adcode, source_id), cadence, signs))
    return groups


STARTUP_SPREAD_S = 5.0


def publish_interval(cadence_s: float, speed: float) -> float:
    """Real seconds between two messages of a group at a simulated speed-up."""
    return max(MIN_INTERVAL_S, cadence_s / max(speed, 1e-9))


def group_payload(group: Group, t_sim: float, ts: float, state: ScenarioState = NO_SCENARIO) -> bytes:
    return encode_readings(ts, {name: value_at(sign, t_sim, state) for name, sign in group.fields})


def publish_all_once(
    client: mqtt.Client,
    catalogue: Catalogue,
    now: float,
    state: ScenarioState = NO_SCENARIO,
    t_sim: float | None = None,
) -> int:
    """Publish one message per sourced group (QoS 1), stamped `now`; returns how many were queued."""
    prepare(catalogue)
    sent = 0
    for group in sign_groups(catalogue):
        payload = group_payload(group, now if t_sim is None else t_sim, now, state)
        sent += client.publish(group.topic, payload, QOS_READINGS).rc == 0
    return sent


# Cameras ---------------------------------------------------------------------------------------------

CAMERA_ONLINE, CAMERA_OFFLINE, CAMERA_FAULT, CAMERA_SILENT = 0, 1, 2, 3
CAMERA_STATUS_NAMES = ("online", "offline", "fault")
_U64 = np.uint64


def _np_mix(x: np.ndarray) -> np.ndarray:
    x = x + _U64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> _U64(31))
    return mixed


def _np_hash01(keys: np.ndarray, salt: int, epoch: np.ndarray | int) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = _np_mix(keys ^ _U64(salt & _MASK64))
        x = _np_mix(x ^ np.asarray(epoch).astype(np.int64).astype(_U64))
    return (x >> _U64(11)).astype(np.float64) / float(1 << 53)


@dataclass
class CameraFleet:
    """The camera inventory as flat arrays, with topics precomputed: no pandas on the publish path."""

    device_ids: list[str]
    topics: list[str]
    adcodes: np.ndarray  # str
    mobile: np.ndarray  # bool
    home_lat: np.ndarray
    home_lon: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    keys: np.ndarray  # uint64, one per camera
    street: np.ndarray  # uint64, the street segment a camera shares with 4-16 neighbours
    phase: np.ndarray  # float in [0, 1): when in the heartbeat period this camera reports
    duty: np.ndarray  # float in [0, 1): mobile units with a low rank go on duty first

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, seed: int = 420600) -> CameraFleet:
        rng = np.random.default_rng(seed)
        n = len(frame)
        device_ids = [str(d) for d in frame["device_id"]]
        adcodes = frame["adcode"].astype(str).to_numpy()
        lat = frame["lat"].to_numpy(dtype=np.float64).copy()
        lon = frame["lon"].to_numpy(dtype=np.float64).copy()
        keys = rng.integers(0, np.iinfo(np.int64).max, size=n, dtype=np.int64).astype(_U64)
        # Street segments: neighbours in (district, ~500 m cell, latitude) order, cut into runs of 4-16.
        cell = (np.floor(lat / 0.005) * 100_000 + np.floor(lon / 0.005)).astype(np.int64)
        order = np.lexsort((lat, cell, adcodes))
        sizes = rng.integers(4, 17, size=n // 4 + 1)
        run = np.repeat(np.arange(len(sizes)), sizes)[:n]
        street = np.empty(n, dtype=_U64)
        street[order] = run.astype(_U64) * _U64(2654435761) + _U64(seed)
        return cls(
            device_ids=device_ids,
            topics=[topic(FEED_VIDEO, a, d) for a, d in zip(adcodes, device_ids, strict=True)],
            adcodes=adcodes,
            mobile=(frame["kind"].astype(str).to_numpy() == "mobile"),
            home_lat=lat.copy(),
            home_lon=lon.copy(),
            lat=lat,
            lon=lon,
            keys=keys,
            street=street,
            phase=rng.random(n),
            duty=rng.random(n),
        )

    def __len__(self) -> int:
        return len(self.device_ids)

    def jitter(self, indices: np.ndarray, rng: np.random.Generator) -> None:
        """Mobile units wander ~50-100 m per heartbeat around their beat, pulled back towards it."""
        moving = indices[self.mobile[indices]]
        if not len(moving):
            return
        step = rng.normal(0.0, 0.0006, size=(2, len(moving)))
        self.lat[moving] = self.home_lat[moving] + 0.85 * (self.lat[moving] - self.home_lat[moving]) + step[0]
        self.lon[moving] = self.home_lon[moving] + 0.85 * (self.lon[moving] - self.home_lon[moving]) + step[1]


# Normal camera failures: per camera-hour alone, per street segment and half-hour, per camera-day in fault.
CAMERA_SOLO_SHARE, CAMERA_STREET_SHARE, CAMERA_FAULT_SHARE = 0.0008, 0.00004, 0.0005


def camera_statuses(fleet: CameraFleet, t: float, state: ScenarioState = NO_SCENARIO) -> np.ndarray:
    """Status code of every camera at simulated time t (vectorised; pure given the fleet).

    Fixed cameras: ~0.08 % offline on their own (hour-long spells), ~0.1 % offline with their street segment of 4-16
    (30 min to 2 h), ~0.05 % in fault for the day: ~0.25 % not online at a time, so that even the smallest district's
    online rate (保康, 3,185 fixed cameras) stays above the 99 % blue bound of XY.T.M07.T23 on a normal day. Mobile
    units follow the duty rota: ~62 % on duty by day, ~13 % at night; the rest report offline.
    """
    n = len(fleet)
    status = np.zeros(n, dtype=np.int8)
    day = _local_day(t)
    hours = np.floor(t / 3600.0 + fleet.phase).astype(np.int64)
    solo = _np_hash01(fleet.keys, 1, hours) < CAMERA_SOLO_SHARE
    half_hour = math.floor(t / 1800.0)
    street_down = np.zeros(n, dtype=bool)
    for lag in range(4):
        starts = _np_hash01(fleet.street, 2, half_hour - lag) < CAMERA_STREET_SHARE
        if starts.any():
            lasts = 1 + np.floor(_np_hash01(fleet.street, 3, half_hour - lag) * 4)
            street_down |= starts & (lasts > lag)
    fault = _np_hash01(fleet.keys, 4, day) < CAMERA_FAULT_SHARE
    hour, weekend, _ = _local_hour(t)
    on_duty_share = shape_mobile(hour, weekend) * (1.0 + 0.06 * smooth_noise(_key("duty"), t))
    off_duty = fleet.mobile & (fleet.duty >= on_duty_share)
    status[solo | street_down | off_duty] = CAMERA_OFFLINE
    status[fault & ~off_duty] = CAMERA_FAULT
    if state.name == SCENARIO_RAINSTORM:
        i = state.intensity(t)
        in_storm = np.isin(fleet.adcodes, RAIN_DISTRICTS)
        washed_out = in_storm & (_np_hash01(fleet.street, 5, 0) < 0.08 * i)
        status[washed_out] = CAMERA_OFFLINE
    if state.outage_active(t):
        status[fleet.adcodes == state.district] = CAMERA_SILENT
    return status


def camera_sign_values(catalogue: Catalogue, fleet: CameraFleet, status: np.ndarray) -> dict[str, float]:
    """The camera signs (online rates and counts by district and kind) that these statuses make, as the roll-up
    computes them from the heartbeats: a camera not online, or silent, is not counted online."""
    online = status == CAMERA_ONLINE
    values = {}
    for sign in catalogue.signs.values():
        source = sign.source
        if not isinstance(source, Derivation) or source.op not in (DeriveOp.CAMERA_ONLINE_RATE,
                                                                    DeriveOp.CAMERA_ONLINE_COUNT):  # fmt: skip
            continue
        mask = np.ones(len(fleet), dtype=bool) if source.adcode == CITY_ADCODE else fleet.adcodes == source.adcode
        if source.camera_kind != "all":
            mask &= fleet.mobile if source.camera_kind == "mobile" else ~fleet.mobile
        total = int(mask.sum())
        if not total:
            continue
        count = int((online & mask).sum())
        values[sign.id] = float(count) if source.op is DeriveOp.CAMERA_ONLINE_COUNT else round(100.0 * count / total, 3)
    return values


def camera_effects(
    catalogue: Catalogue,
    fleet: CameraFleet,
    state: ScenarioState,
    t0: float,
    t1: float,
    step_s: float = EFFECT_STEP_S,
) -> list[Effect]:
    """What a scenario does to the camera signs during [t0, t1), as scenario_effects() does for sensors: the
    statuses under the story against the normal city's, sampled every step_s."""
    if state.name not in (SCENARIO_RAINSTORM, SCENARIO_CAMERA_OUTAGE):
        return []
    samples: dict[str, list[tuple[float, bool, Level]]] = {}
    for t in _sample_times(state, t0, t1, step_s):
        story = camera_sign_values(catalogue, fleet, camera_statuses(fleet, t, state))
        normal = camera_sign_values(catalogue, fleet, camera_statuses(fleet, t, NO_SCENARIO))
        for sign_id, value in story.items():
            sign = catalogue.signs[sign_id]
            level = level_of(value, thresholds_at(sign, t), sign.direction)
            samples.setdefault(sign_id, []).append((t, value != normal.get(sign_id), level))
    found = (_effect(state.name or "", sign_id, seen, step_s) for sign_id, seen in samples.items())
    return [effect for effect in found if effect is not None]


# The publishing engine --------------------------------------------------------------------------------


@dataclass
class SimClock:
    """Simulated time runs `speed` times faster than the wall clock from a common origin."""

    real_start: float
    sim_start: float
    speed: float = 1.0

    def sim(self, real_now: float) -> float:
        return self.sim_start + (real_now - self.real_start) * self.speed


@dataclass
class Counters:
    readings: int = 0
    cameras: int = 0
    silenced: int = 0
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Simulator:
    """One paho client, one scheduler loop: sign groups from a heap, cameras spread over their period."""

    def __init__(
        self,
        client: mqtt.Client,
        catalogue: Catalogue,
        clock: SimClock,
        state: ScenarioState = NO_SCENARIO,
        fleet: CameraFleet | None = None,
        heartbeat_s: float = 60.0,
        seed: int = 420600,
        stamp_simulated: bool = False,
    ) -> None:
        self.client = client
        self.stamp_simulated = stamp_simulated
        self.clock = clock
        self.state = state
        self.fleet = fleet
        self.heartbeat_s = heartbeat_s
        self.counters = Counters()
        self.stop = threading.Event()
        self._rng = np.random.default_rng(seed)
        prepare(catalogue)
        self.groups = sign_groups(catalogue)
        now = clock.real_start
        self._heap: list[tuple[float, int]] = []
        for index, group in enumerate(self.groups):
            # Every source reports its current state on start-up, as field systems do when they (re)connect;
            # spreading the start-up over a few seconds and each cadence over its period keeps publishing smooth.
            spread = min(STARTUP_SPREAD_S, publish_interval(group.cadence_s, clock.speed))
            first = now + spread * _hash01(_key(group.topic), seed)
            self._heap.append((first, index))
        heapq.heapify(self._heap)
        self._camera_order = np.argsort(fleet.phase, kind="stable") if fleet is not None else None
        self._camera_sent = 0  # heartbeats due so far since the camera origin (monotone)
        self._camera_origin: float | None = None
        self._status_epoch: int | None = None
        self._status: np.ndarray | None = None

    def _camera_status_now(self, t_sim: float) -> np.ndarray:
        # Statuses change on a simulated-minute grid (and the outage switch); recompute on change only.
        epoch = math.floor(t_sim / 60.0)
        if epoch != self._status_epoch or self._status is None:
            assert self.fleet is not None
            self._status = camera_statuses(self.fleet, t_sim, self.state)
            self._status_epoch = epoch
        return self._status

    def _publish_readings(self, real_now: float) -> None:
        t_sim = self.clock.sim(real_now)
        publish = self.client.publish
        heap = self._heap
        while heap and heap[0][0] <= real_now:
            due, index = heapq.heappop(heap)
            group = self.groups[index]
            stamp = t_sim if self.stamp_simulated else time.time()
            info = publish(group.topic, group_payload(group, t_sim, stamp, self.state), QOS_READINGS)
            if info.rc == 0:
                self.counters.readings += 1
            else:
                self.counters.dropped += 1
            interval = publish_interval(group.cadence_s, self.clock.speed)
            following = due + interval
            if following < real_now - interval:  # fell far behind (suspend, stall): do not burst
                following = real_now + interval * _hash01(index, int(real_now))
            heapq.heappush(heap, (following, index))

    def _publish_cameras(self, real_now: float) -> None:
        fleet, order = self.fleet, self._camera_order
        if fleet is None or order is None or not len(fleet):
            return
        n = len(fleet)
        origin = self._camera_origin if self._camera_origin is not None else self.clock.real_start
        due_total = int((real_now - origin) / self.heartbeat_s * n)
        if due_total - self._camera_sent > n:  # more than a whole period behind: skip, never storm
            self._camera_sent = due_total - n // 20
        if due_total <= self._camera_sent:
            return
        positions = np.arange(self._camera_sent, due_total) % n
        self._camera_sent = due_total
        indices = order[positions]
        status = self._camera_status_now(self.clock.sim(real_now))
        fleet.jitter(indices, self._rng)
        ts = time.time()
        publish, topics = self.client.publish, fleet.topics
        # Plain Python values for the encoder (msgspec does not take numpy scalars), one conversion per tick.
        codes = status[indices].tolist()
        kinds = np.where(fleet.mobile[indices], "mobile", "fixed").tolist()
        lats = np.round(fleet.lat[indices], 6).tolist()
        lons = np.round(fleet.lon[indices], 6).tolist()
        names = CAMERA_STATUS_NAMES
        sent = silenced = dropped = 0
        for i, code, kind, lat, lon in zip(indices.tolist(), codes, kinds, lats, lons, strict=True):
            if code == CAMERA_SILENT:
                silenced += 1
                continue
            if publish(topics[i], encode_camera_status(ts, names[code], kind, lat, lon), QOS_CAMERAS).rc == 0:
                sent += 1
            else:
                dropped += 1
        self.counters.cameras += sent
        self.counters.silenced += silenced
        self.counters.dropped += dropped

    def run(self, duration_s: float | None = None, tick_s: float = 0.02) -> None:
        real_start = time.time()
        self._camera_origin = real_start  # setup time (catalogue, inventory) must not become a burst
        next_log = real_start + LOG_EVERY_S
        last = (real_start, 0, 0)
        while not self.stop.is_set():
            now = time.time()
            if duration_s is not None and now - real_start >= duration_s:
                break
            if self.stamp_simulated and self.clock.sim(now) > now:
                log.error("simulated time has caught up with the wall clock: readings would come from the future")
                break
            self._publish_readings(now)
            self._publish_cameras(now)
            if now >= next_log:
                readings, cameras = self.counters.readings, self.counters.cameras
                span = now - last[0]
                log.info(
                    "sim %s | readings %.1f msg/s, cameras %.0f msg/s | total %d readings, %d cameras, %d silenced, "
                    "%d dropped",
                    local_time(self.clock.sim(now)).strftime("%Y-%m-%d %H:%M"),
                    (readings - last[1]) / span,
                    (cameras - last[2]) / span,
                    readings,
                    cameras,
                    self.counters.silenced,
                    self.counters.dropped,
                )
                last = (now, readings, cameras)
                next_log += LOG_EVERY_S
            wake = now + tick_s
            if self._heap:
                wake = min(wake, self._heap[0][0])
            self.stop.wait(max(0.0, wake - time.time()))


# Command line ----------------------------------------------------------------------------------------


def _parse_args(argv: list[str]) -> argparse.Namespace:
    config = settings()
    parser = argparse.ArgumentParser(prog="python -m feeds simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default=config.sim_scenario or None)
    parser.add_argument("--speed", type=float, default=config.sim_speed, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many real seconds")
    parser.add_argument("--no-cameras", action="store_true", help="publish sign readings only")
    parser.add_argument("--camera-heartbeat", type=float, default=config.sim_camera_heartbeat_s, metavar="S")
    parser.add_argument("--seed", type=int, default=420600)
    parser.add_argument("--district", default=OUTAGE_DISTRICT, help="district whose cameras go silent (camera-outage)")
    parser.add_argument("--outage-s", type=float, default=OUTAGE_REAL_S, help="camera-outage length, real seconds")
    parser.add_argument("--start", default=None, help="simulated start, local ISO time (e.g. 2025-05-24T14:00)")
    parser.add_argument(
        "--stamp",
        choices=("real", "simulated"),
        default="real",
        help="readings' timestamps: the wall clock (default), or simulated time to replay a past day faithfully "
        "(the alert engine judges hour-of-week bounds by source time); camera heartbeats always carry the wall clock",
    )
    args = parser.parse_args(argv)
    if args.speed <= 0 or args.camera_heartbeat <= 0:
        parser.error("--speed and --camera-heartbeat must be positive")
    if args.stamp == "simulated" and not args.start:
        parser.error("--stamp simulated needs a --start in the past")
    return args


def _start_time(text: str | None, now: float) -> float:
    if not text:
        return now
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_STANDARD_TIME)
    return moment.timestamp()


def load_fleet(seed: int = 420600) -> CameraFleet:
    """The camera inventory (geo.cameras) as a fleet."""
    from geo.cameras import camera_inventory  # imported late: the geo stack is heavy and optional here

    return CameraFleet.from_frame(camera_inventory(seed=seed), seed=seed)


def main(argv: list[str]) -> int:
    """python -m feeds simulate [--scenario ...] [--speed N] [--duration S] [--no-cameras] ..."""
    from feeds.mqtt import broker_address, new_client
    from signs.catalogue import catalogue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse_args(argv)
    config = settings()
    host, port = broker_address(config.mqtt_url or "mqtt://127.0.0.1:1883")
    signs = catalogue()
    fleet = None if args.no_cameras else load_fleet(args.seed)

    now = time.time()
    clock = SimClock(real_start=now, sim_start=_start_time(args.start, now), speed=args.speed)
    state = ScenarioState(args.scenario, clock.sim_start, args.district, args.speed, args.outage_s)
    client = new_client(f"cityeye-simulator-{os.getpid()}")
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(100_000)
    connected = threading.Event()
    simulator_stopping = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to mqtt://%s:%d", host, port)
        connected.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        connected.clear()
        if simulator_stopping.is_set():
            return
        log.warning("disconnected from the broker (%s); paho reconnects", reason_code)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect_async(host, port, keepalive=config.mqtt_keepalive_s)
    client.loop_start()
    simulator = Simulator(
        client, signs, clock, state, fleet, args.camera_heartbeat, args.seed, stamp_simulated=args.stamp == "simulated"
    )
    previous = {sig: signal.signal(sig, lambda *_: simulator.stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not connected.wait(10.0):
            log.warning("no broker at mqtt://%s:%d yet; publishing anyway while paho retries", host, port)
        log.info(
            "simulating %d groups (%d signs)%s at speed %g%s",
            len(simulator.groups),
            sum(len(g.fields) for g in simulator.groups),
            f" and {len(fleet)} cameras every {args.camera_heartbeat:g} s" if fleet is not None else "",
            args.speed,
            f", scenario {args.scenario}" if args.scenario else "",
        )
        # The clocks meet once everything is loaded, so that the simulated start is the first moment published.
        clock.real_start = time.time()
        log.info("clock origin: real %r = simulated %r, speed %r", clock.real_start, clock.sim_start, clock.speed)
        simulator.run(args.duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        counters = simulator.counters
        log.info(
            "stopping: %d readings, %d camera heartbeats published, %d silenced, %d dropped",
            counters.readings,
            counters.cameras,
            counters.silenced,
            counters.dropped,
        )
        simulator_stopping.set()
        client.disconnect()
        client.loop_stop()
    return 0


__all__ = [
    "CameraFleet",
    "Effect",
    "Group",
    "Incident",
    "Profile",
    "ScenarioState",
    "SimClock",
    "Simulator",
    "camera_effects",
    "camera_sign_values",
    "camera_statuses",
    "incidents_between",
    "load_fleet",
    "main",
    "prepare",
    "publish_all_once",
    "publish_interval",
    "scenario_effects",
    "sign_groups",
    "value_at",
]
