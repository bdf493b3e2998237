"""Simulated event arrivals for the event hub: grid workers' reports (政务微信), 12345 tickets, AI camera detections
(straw burning from tower cameras in the harvest seasons) and IoT alarms, published over the hub's MQTT intake
(dispatch/contract.py, ``cityeye/v1/events/{adcode}/{source_id}``) by the simulator.

Arrivals are a pure function of (stream, district, quarter hour) and the seed, like the sign simulator's incidents:
``arrivals_between(t0, t1, state, seed)`` lists them, so they are ground truth and reproducible. Each stream is an
event type reported through one channel at a mean daily volume (events-reference.md §7.2, about 1,800 a day over the
city [P]), shaped by an hour-of-day profile, shared among the districts by population (towns weigh more for street
matters, counties for rural ones), with a weekday/weekend factor, a season (straw burning: May-June and
September-November) and the running story's multiplier (the rainstorm's flooding, the holiday's traffic). The
stories' own events (``STORY_EVENTS``: the fallen branch, the 石花 toll-station jam, the 24 May rainstorm) come at
their moments with the steps the simulated departments take on them (dispatch/simulate.py follows the script).

Every arrival's reporter starts with ``SIMULATED_PREFIX``: the simulated departments act only on those, and the
audit says so. Times are simulated epoch seconds; payloads carry the wall clock unless the run stamps simulated time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from dispatch.contract import encode_report, intake_topic
from dispatch.library import Library, library
from feeds.simulator.clock import DAY_S
from feeds.simulator.noise import hash01
from feeds.simulator.scenarios import (
    BAOKANG,
    GUCHENG,
    NANZHANG,
    NO_SCENARIO,
    RAIN_DISTRICTS,
    SCENARIO_FALLEN_BRANCH,
    SCENARIO_HOLIDAY,
    SCENARIO_RAINSTORM,
    ScenarioState,
)
from feeds.simulator.values import POPULATION_K
from geo.admin import DISTRICTS
from geo.cameras import DEFAULT_SEED, camera_inventory
from signs.citytime import city_time

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

SIMULATED_PREFIX = "sim-"  # every simulated reporter's name starts with it
SLOT_S = 900.0  # arrivals are drawn per quarter hour
QOS_EVENTS = 1
SNAPSHOT_BASE = "http://video.cityeye.invalid/snapshots"  # simulated frames: a reserved domain, never fetched
CENTRAL = ("420602", "420606", "420607")
STRAW_DISTRICTS = ("420607", "420624", "420625", "420682", "420683", "420684")  # the farming plains and valleys
STRAW_MONTHS = frozenset({5, 6, 9, 10, 11})  # wheat (May-June), rice and maize (September-November) harvests
# Tower cameras watching the fields: the environment bureau's fixed cameras (most stand in the countryside).
TOWER_OWNER = "生态环境"
STREET_OWNERS = ("公安", "城管", "交管")
RURAL_OWNERS = ("生态环境", "水务", "应急", "交通")
WEEKEND_PATROL = 0.75  # grid patrols on Saturday and Sunday
WEEKEND_MARKETS = 1.2  # street-order matters (02) at the weekend


def _profile(*weights: float) -> tuple[float, ...]:
    """24 hourly weights scaled to a mean of 1."""
    assert len(weights) == 24
    mean = sum(weights) / 24.0
    return tuple(w / mean for w in weights)


# Hour-of-day profiles (events-reference.md §7.2: patrols 08-11 and 14-17, 12345 09-11, traffic 07-09 and 17-19,
# night about 8 %, emergencies uniform) [P].
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "patrol": _profile(0.15, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.8, 2.2, 2.2, 1.6,
                       0.9, 1.0, 1.8, 2.0, 1.9, 1.3, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2),
    "hotline": _profile(0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.9, 1.6, 2.2, 2.2, 1.8,
                        1.2, 1.3, 1.7, 1.7, 1.6, 1.4, 1.1, 1.0, 0.9, 0.7, 0.5, 0.3),
    "traffic": _profile(0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 1.0, 2.2, 2.4, 1.4, 1.0, 1.0,
                        1.0, 1.0, 1.0, 1.2, 1.6, 2.3, 2.2, 1.3, 0.9, 0.6, 0.4, 0.3),
    "evening": _profile(0.9, 0.6, 0.3, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                        0.7, 0.6, 0.6, 0.7, 0.9, 1.3, 2.0, 2.6, 2.8, 2.6, 2.0, 1.4),
    "daylight": _profile(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 0.6, 1.0, 1.6, 2.0,
                         2.2, 2.3, 2.4, 2.4, 2.2, 1.8, 1.2, 0.6, 0.3, 0.1, 0.0, 0.0),
    "flat": _profile(*([1.0] * 24)),
}  # fmt: skip

# How a stream's volume is shared among the districts: by population, towns (street matters) or the countryside
# weighing more (events-reference.md §7.2: 中心城区 about 55 % of the total; counties carry more 06/07/10) [P].
PLACE_WEIGHT = {"urban": (2.2, 1.0), "rural": (0.4, 1.0), "all": (1.3, 1.0)}  # (central districts, counties)


@dataclass(frozen=True, slots=True)
class Stream:
    """One event type arriving through one channel: `per_day` over the city on an ordinary weekday."""

    type_code: str
    kind: str  # grid, hotline, camera, iot (dispatch/contract.py)
    per_day: float
    profile: str  # a key of HOUR_PROFILES
    place: str  # urban, rural, all (PLACE_WEIGHT)
    months: frozenset[int] | None = None  # the season; None: all year
    districts: tuple[str, ...] = ()  # where it happens at all; empty: everywhere


def _s(type_code: str, kind: str, per_day: float, profile: str, place: str) -> Stream:
    return Stream(type_code, kind, per_day, profile, place)


# Daily volumes by category (events-reference.md §7.2 [P]): 01 520, 02 480, 03 180, 04 150, 05 60, 06 70, 07 70 (three
# times that in the straw seasons), 08 25, 09 20, 10 40, 11 180, 12 5.
STREAMS: tuple[Stream, ...] = (
    _s("0100101", "grid", 90, "patrol", "urban"), _s("0100101", "camera", 40, "patrol", "urban"),
    _s("0100301", "iot", 25, "flat", "urban"), _s("0100401", "grid", 45, "patrol", "urban"),
    _s("0101201", "grid", 100, "patrol", "urban"), _s("0100601", "grid", 50, "patrol", "all"),
    _s("0100601", "camera", 20, "patrol", "urban"), _s("0100801", "grid", 30, "patrol", "urban"),
    _s("0100501", "grid", 20, "traffic", "all"), _s("0101101", "grid", 15, "patrol", "urban"),
    _s("0101401", "hotline", 25, "evening", "urban"), _s("0101501", "grid", 20, "patrol", "urban"),
    _s("0101602", "camera", 20, "traffic", "urban"), _s("0101001", "hotline", 20, "evening", "urban"),
    _s("0200101", "grid", 110, "patrol", "urban"), _s("0200101", "camera", 60, "patrol", "urban"),
    _s("0200201", "grid", 70, "patrol", "urban"), _s("0200301", "grid", 40, "patrol", "urban"),
    _s("0200501", "camera", 50, "traffic", "urban"), _s("0200502", "grid", 40, "patrol", "urban"),
    _s("0200601", "grid", 40, "patrol", "urban"), _s("0200701", "camera", 25, "evening", "urban"),
    _s("0200701", "grid", 20, "evening", "urban"), _s("0200801", "grid", 10, "patrol", "urban"),
    _s("0200901", "grid", 15, "patrol", "all"),
    _s("0300101", "hotline", 40, "traffic", "all"), _s("0300101", "camera", 30, "traffic", "all"),
    _s("0300201", "hotline", 40, "traffic", "all"), _s("0300301", "iot", 25, "flat", "urban"),
    _s("0300401", "grid", 20, "patrol", "all"), _s("0300601", "hotline", 15, "traffic", "urban"),
    _s("0300701", "hotline", 10, "hotline", "urban"),
    _s("0400101", "grid", 40, "patrol", "all"), _s("0400201", "iot", 15, "flat", "urban"),
    _s("0400201", "grid", 10, "patrol", "urban"), _s("0400301", "grid", 15, "patrol", "urban"),
    _s("0400401", "hotline", 35, "evening", "urban"), _s("0400701", "grid", 20, "patrol", "urban"),
    _s("0401101", "grid", 15, "patrol", "urban"),
    _s("0500101", "grid", 25, "patrol", "urban"), _s("0500201", "hotline", 5, "flat", "all"),
    _s("0500301", "grid", 20, "patrol", "urban"), _s("0500501", "grid", 10, "patrol", "all"),
    _s("0600101", "iot", 15, "flat", "urban"), _s("0600301", "hotline", 25, "hotline", "all"),
    _s("0600501", "hotline", 20, "hotline", "urban"), _s("0600201", "iot", 5, "flat", "urban"),
    _s("0600601", "grid", 5, "patrol", "rural"),
    Stream("0700101", "camera", 140, "daylight", "rural", STRAW_MONTHS, STRAW_DISTRICTS),
    _s("0700301", "hotline", 30, "evening", "urban"), _s("0700201", "hotline", 15, "hotline", "all"),
    _s("0700701", "iot", 5, "flat", "all"), _s("0700601", "camera", 5, "daylight", "rural"),
    _s("0700401", "grid", 15, "patrol", "rural"),
    _s("0800301", "grid", 10, "patrol", "urban"), _s("0800101", "iot", 5, "flat", "urban"),
    _s("0800401", "iot", 5, "flat", "urban"), _s("0800601", "grid", 5, "patrol", "all"),
    _s("0900201", "camera", 12, "evening", "urban"), _s("0900101", "hotline", 3, "flat", "all"),
    _s("0900102", "hotline", 2, "flat", "all"), _s("0900401", "grid", 3, "patrol", "urban"),
    _s("1000101", "grid", 30, "patrol", "all"), _s("1000401", "grid", 10, "patrol", "all"),
    _s("1100101", "hotline", 30, "hotline", "all"), _s("1100201", "hotline", 40, "hotline", "urban"),
    _s("1100301", "hotline", 25, "hotline", "all"), _s("1100401", "hotline", 20, "hotline", "urban"),
    _s("1100501", "hotline", 35, "hotline", "urban"), _s("1100801", "hotline", 15, "hotline", "all"),
    _s("1100901", "hotline", 15, "hotline", "urban"),
    _s("1200401", "hotline", 3, "flat", "all"), _s("1200501", "grid", 1, "patrol", "all"),
    _s("1200801", "hotline", 1, "flat", "all"),
)  # fmt: skip


@lru_cache(maxsize=32)
def district_shares(place: str, districts: tuple[str, ...] = ()) -> dict[str, float]:
    """Each district's share of a stream of this place class, among `districts` (all when empty); sums to 1."""
    central, county = PLACE_WEIGHT[place]
    weights = {a: POPULATION_K[a] * (central if a in CENTRAL else county) for a in districts or DISTRICTS}
    total = sum(weights.values())
    return {a: w / total for a, w in weights.items()}


def city_rate_per_day(month: int = 1) -> float:
    """The mean daily volume of the ordinary weekday city in a month (straw burning counted in its season)."""
    return sum(s.per_day for s in STREAMS if s.months is None or month in s.months)


# The running story's multiplier --------------------------------------------------------------------------------


def story_factor(stream: Stream, adcode: str, t: float, state: ScenarioState) -> float:
    """How much more of a stream the running story brings (events-reference.md §7.2's scenario hooks [P]): the
    rainstorm's flooding (06 five to ten times over the rain districts, 04 twice, 05 four times, 03 half as much
    again) while it rains, the holiday's traffic (03 three times in 谷城, twice elsewhere) through the day."""
    hours = state.hours(t)
    category = stream.type_code[:2]
    if state.name == SCENARIO_RAINSTORM and 0.0 <= hours < 14.0:
        heavy = adcode in RAIN_DISTRICTS
        return {"06": 8.0 if heavy else 3.0, "04": 2.0, "05": 4.0 if heavy else 2.0, "03": 1.5}.get(category, 1.0)
    if state.name == SCENARIO_HOLIDAY and 0.0 <= hours < 14.0 and category == "03":
        return 3.0 if adcode == GUCHENG else 2.0
    return 1.0


# One arrival ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    """One report as the simulator publishes it. `at` is simulated time; `story` names the story it belongs to."""

    at: float
    type_code: str
    kind: str
    adcode: str
    source_id: str
    township: str = ""
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    description: str = ""
    confidence: float | None = None
    snapshot_url: str = ""
    ref: str = ""
    reporter: str = ""
    story: str = ""

    @property
    def topic(self) -> str:
        return intake_topic(self.adcode, self.source_id)

    def payload(self, ts: float) -> bytes:
        fields: dict[str, object] = {
            "township": self.township, "address": self.address, "description": self.description,
            "ref": self.ref, "reporter": self.reporter,
        }  # fmt: skip
        if self.lat is not None and self.lon is not None:
            fields |= {"lat": self.lat, "lon": self.lon}
        if self.confidence is not None:
            fields["confidence"] = self.confidence
        if self.snapshot_url:
            fields["snapshot_url"] = self.snapshot_url
        return encode_report(ts, self.kind, self.type_code, **fields)


@dataclass(frozen=True)
class Places:
    """Where reports come from in each district: its townships (streets for town matters, towns and townships for
    rural ones) and camera points (street cameras, rural ones, tower cameras) from the camera inventory."""

    streets: dict[str, tuple[str, ...]]
    towns: dict[str, tuple[str, ...]]
    cameras: dict[tuple[str, str], tuple[tuple[str, float, float], ...]]  # (adcode, pool) -> (id, lat, lon)


def _is_street(name: str) -> bool:
    return name.endswith("街道")


@lru_cache(maxsize=2)
def places(seed: int = DEFAULT_SEED) -> Places:
    lib = library()
    administrative = [t for t in lib.townships.values() if t.administrative]
    streets = {a: tuple(t.code for t in administrative if t.county == a and _is_street(t.name)) for a in DISTRICTS}
    towns = {a: tuple(t.code for t in administrative if t.county == a and not _is_street(t.name)) for a in DISTRICTS}
    inventory = camera_inventory(seed)
    fixed = inventory[inventory["kind"] == "fixed"]
    pools = {"street": STREET_OWNERS, "rural": RURAL_OWNERS, "tower": (TOWER_OWNER,)}
    cameras: dict[tuple[str, str], tuple[tuple[str, float, float], ...]] = {}
    for adcode in DISTRICTS:
        here = fixed[fixed["adcode"] == adcode]
        for pool, owners in pools.items():
            chosen = here[here["owner_group"].isin(owners)]
            cameras[adcode, pool] = tuple(
                zip(chosen["device_id"].tolist(), chosen["lat"].tolist(), chosen["lon"].tolist(), strict=True)
            )
    return Places(streets, towns, cameras)


T = TypeVar("T")
_KIND_WORDS = {
    "grid": "网格员巡查上报", "hotline": "12345热线市民反映", "camera": "视频智能识别", "iot": "物联感知告警",
}  # fmt: skip


def _pick(options: tuple[T, ...], roll: float) -> T:
    return options[min(len(options) - 1, int(roll * len(options)))]


def _township(place_table: Places, stream: Stream, adcode: str, roll: float) -> str:
    """A township of the district: mostly streets for town matters (three times their share), towns for rural ones."""
    streets, towns = place_table.streets[adcode], place_table.towns[adcode]
    if stream.place == "rural" or not streets:
        pool = towns or streets
    elif stream.place == "urban" or not towns:
        pool = streets if roll < 0.75 or not towns else towns
        roll = roll / 0.75 if pool is streets else (roll - 0.75) / 0.25
    else:
        pool = streets if roll < 0.5 else towns
        roll = roll * 2.0 if pool is streets else roll * 2.0 - 1.0
    return _pick(pool, min(roll, 0.999999))


def _arrival(
    stream: Stream, index: int, adcode: str, slot: int, j: int, seed: int, lib: Library, place_table: Places
) -> Arrival:
    key = (seed, index, int(adcode), slot, j)
    at = slot * SLOT_S + SLOT_S * hash01(*key, 1)
    name = lib.types[stream.type_code].name_zh
    township = _township(place_table, stream, adcode, hash01(*key, 2))
    serial = f"{slot}{index:02d}{j}{int(hash01(*key, 3) * 1e4):04d}"
    description = f"{_KIND_WORDS[stream.kind]}：{name}"
    if stream.kind == "hotline":
        day = city_time(at).strftime("%Y%m%d")
        return Arrival(at, stream.type_code, "hotline", adcode, "sim-12345", township=township,
                       description=description, ref=f"12345-{day}-{serial[-8:]}", reporter="sim-12345")  # fmt: skip
    pool = "tower" if stream.type_code == "0700101" else ("rural" if stream.place == "rural" else "street")
    cameras = place_table.cameras[adcode, pool] or place_table.cameras[adcode, "street"]
    camera_id, lat, lon = _pick(cameras, hash01(*key, 4))
    if stream.kind == "camera":
        # The detected spot: beside a street camera, up to 2 km from a tower camera.
        reach_km = 2.0 if pool == "tower" else 0.05
        lat, lon = _offset(lat, lon, reach_km * hash01(*key, 5), 2 * math.pi * hash01(*key, 6))
        confidence = round(0.62 + 0.36 * hash01(*key, 7), 2)
        return Arrival(at, stream.type_code, "camera", adcode, camera_id, township=township, lat=lat, lon=lon,
                       description=f"{description}（置信度 {confidence:.2f}）", confidence=confidence,
                       snapshot_url=f"{SNAPSHOT_BASE}/{camera_id}/{serial}.jpg", ref=camera_id,
                       reporter=f"{SIMULATED_PREFIX}ai-{camera_id}")  # fmt: skip
    lat, lon = _offset(lat, lon, 0.3 * hash01(*key, 5), 2 * math.pi * hash01(*key, 6))
    if stream.kind == "iot":
        return Arrival(at, stream.type_code, "iot", adcode, f"sim-iot-{stream.type_code}", township=township,
                       lat=lat, lon=lon, description=description, ref=f"IOT-{serial}",
                       reporter=f"{SIMULATED_PREFIX}iot-{stream.type_code}")  # fmt: skip
    worker = 1 + int(hash01(*key, 8) * 40)
    return Arrival(at, stream.type_code, "grid", adcode, f"sim-grid-{township}", township=township, lat=lat,
                   lon=lon, description=description, ref=f"WG-{serial}",
                   reporter=f"{SIMULATED_PREFIX}grid-{township}-{worker:02d}")  # fmt: skip


def _offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    d_lat = km * math.cos(bearing) / 111.195
    d_lon = km * math.sin(bearing) / (111.195 * math.cos(math.radians(lat)))
    return round(lat + d_lat, 6), round(lon + d_lon, 6)


def _poisson(mean: float, roll: float) -> int:
    """The Poisson count whose cumulative probability first reaches `roll` (inverse transform)."""
    k, p = 0, math.exp(-mean)
    cumulative = p
    while cumulative < roll and k < 1000:
        k += 1
        p *= mean / k
        cumulative += p
    return k


def expected_in_slot(stream: Stream, adcode: str, slot: int, state: ScenarioState = NO_SCENARIO) -> float:
    """The mean number of a stream's arrivals in a district during one quarter hour."""
    start = slot * SLOT_S
    moment = city_time(start)
    if stream.months is not None and moment.month not in stream.months:
        return 0.0
    weekend = moment.weekday() >= 5
    factor = 1.0
    if weekend and stream.kind == "grid":
        factor *= WEEKEND_PATROL
    if weekend and stream.type_code.startswith("02"):
        factor *= WEEKEND_MARKETS
    share = district_shares(stream.place, stream.districts).get(adcode, 0.0)
    if share == 0.0:
        return 0.0
    hourly = HOUR_PROFILES[stream.profile][moment.hour]
    return stream.per_day * share * hourly * SLOT_S / DAY_S * factor * story_factor(stream, adcode, start, state)


@lru_cache(maxsize=256)
def slot_arrivals(slot: int, state: ScenarioState, seed: int) -> tuple[Arrival, ...]:
    """The ordinary arrivals of one quarter hour (the running story's multipliers applied), by time."""
    lib, place_table = library(), places(seed)
    found = []
    for index, stream in enumerate(STREAMS):
        for adcode in DISTRICTS:
            mean = expected_in_slot(stream, adcode, slot, state)
            if mean <= 0.0:
                continue
            count = _poisson(mean, hash01(seed, index, int(adcode), slot))
            found += [_arrival(stream, index, adcode, slot, j, seed, lib, place_table) for j in range(count)]
    return tuple(sorted(found, key=lambda a: (a.at, a.ref)))


def arrivals_between(
    t0: float, t1: float, state: ScenarioState = NO_SCENARIO, seed: int = DEFAULT_SEED
) -> list[Arrival]:
    """Every arrival in [t0, t1) of simulated time: the ordinary city's and the running story's, by time."""
    found = [
        a
        for slot in range(math.floor(t0 / SLOT_S), math.ceil(t1 / SLOT_S))
        for a in slot_arrivals(slot, state, seed)
        if t0 <= a.at < t1
    ]
    found += [a for a in story_arrivals(state) if t0 <= a.at < t1]
    return sorted(found, key=lambda a: (a.at, a.ref))


# The stories' events -------------------------------------------------------------------------------------------

MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """A step a simulated department (or the centre, for close) takes `after_s` simulated seconds after the
    report."""

    after_s: float
    action: str  # sign_for, progress, handle, close
    note: str


@dataclass(frozen=True, slots=True)
class StoryEvent:
    """A story's report, `after_s` simulated seconds after the story's start, and the steps taken on it."""

    ref: str
    after_s: float
    type_code: str
    kind: str
    adcode: str
    township: str
    lat: float | None
    lon: float | None
    address: str
    description: str
    reporter: str
    script: tuple[ScriptStep, ...]


def _minutes(*steps: tuple[float, str, str]) -> tuple[ScriptStep, ...]:
    return tuple(ScriptStep(m * MINUTE, action, note) for m, action, note in steps)


# 9 October (S:1): a community grid worker on patrol sees a branch blocking a residential compound's entrance and
# uploads it at 12:33; the hub dispatches it to 市住建局, whose greening office trims it; closed by 14:39.
FALLEN_BRANCH = StoryEvent(
    ref="sim-story-fallen-branch", after_s=3 * MINUTE, type_code="0500101", kind="grid", adcode="420606",
    township="420606003", lat=32.0581, lon=112.1402, address="樊城区中原街道 春园小区东门",
    description="网格员巡查发现：小区东门行道树树枝横出断裂，挡住出入口，居民进出不便，存在安全隐患",
    reporter=f"{SIMULATED_PREFIX}grid-420606003-07",
    script=_minutes(
        (7, "sign_for", "（模拟）市住建局绿化管理处已签收，安排修剪班组"),
        (34, "progress", "（模拟）修剪班组到场，设置围挡，开始修剪横出树枝"),
        (115, "handle", "（模拟）横出树枝已修剪清运，小区出入口恢复通行"),
        (126, "close", "（模拟）市城运中心核查：现场照片显示树枝已清除，出入口通行正常，予以结案"),
    ),
)  # fmt: skip

# 1 May (S:1): road works, a surge of cars and a nucleic-acid check point back the 邓保 expressway up at the 石花
# toll station; 石花镇 posts it on the platform; within 30 minutes traffic (works control), traffic police (flow) and
# health (medics) respond. 1200401 is the library's type that dispatches all three (traffic police leading).
SHIHUA_JAM = StoryEvent(
    ref="sim-story-shihua-toll", after_s=100 * MINUTE, type_code="1200401", kind="grid", adcode=GUCHENG,
    township="420625101", lat=32.2600, lon=111.5100, address="谷城县石花镇 邓保高速石花收费站",
    description="石花镇城运中心上报：石花收费站因道路施工、车流激增及核酸检测点设置，出站车辆排队较长，"
                "部分车辆滞留，请交通、交警、卫健部门协同处置",
    reporter=f"{SIMULATED_PREFIX}grid-420625101-01",
    script=_minutes(
        (6, "sign_for", "（模拟）市公安局交警支队已签收，警力赶赴石花收费站"),
        (14, "progress", "（模拟）交警：现场分流疏导，开启应急车道"),
        (21, "progress", "（模拟）交通运输：施工区域临时管控，压缩作业面"),
        (28, "progress", "（模拟）卫健：增派医护人员，加开核酸检测通道"),
        (55, "handle", "（模拟）三部门协同处置，收费站排队有序通行，拥堵受控"),
        (600, "close", "（模拟）市城运中心核查：石花收费站通行恢复正常，予以结案"),
    ),
)  # fmt: skip

# 24 May (S:1): the city weather bureau's 12-hour forecast (heavy showers over 南漳 and 保康) at noon; the emergency
# duty chief views the townships' video and mobilises urban construction, traffic and fire crews. The library has no
# type that co-dispatches the fire brigade with flooding: the emergency bureau's note says it sent them.
RAIN_WARNING = StoryEvent(
    ref="sim-story-rain-warning", after_s=120 * MINUTE, type_code="1200101", kind="iot", adcode="420600",
    township="", lat=32.0420, lon=112.1440, address="襄阳市气象局",
    description="市气象局发布未来12小时预报：全市中到大雨，南漳、保康西南部山区有短时强降雨，请做好防范",
    reporter=f"{SIMULATED_PREFIX}iot-weather-bureau",
    script=_minutes(
        (5, "sign_for", "（模拟）市气象局已签收，滚动发布雨情"),
        (25, "progress", "（模拟）市应急管理局值班长调看南漳、保康乡镇视频，调度城建、交通、消防力量前置"),
        (58, "handle", "（模拟）预警已发布至各县市区及乡镇，防汛力量到位"),
        (420, "close", "（模拟）市城运中心核查：预警响应完成，予以结案"),
    ),
)  # fmt: skip
NANZHANG_FLOODING = StoryEvent(
    ref="sim-story-nanzhang-flooding", after_s=230 * MINUTE, type_code="0600101", kind="grid", adcode=NANZHANG,
    township="420624100", lat=31.7770, lon=111.8410, address="南漳县城关镇 水镜路下穿通道",
    description="网格员上报：水镜路下穿通道积水约40厘米，车辆涉水熄火，请城建、交警处置",
    reporter=f"{SIMULATED_PREFIX}grid-420624100-03",
    script=_minutes(
        (9, "sign_for", "（模拟）南漳县住建局已签收，排水抢险队出发"),
        (22, "progress", "（模拟）移动泵车到场抽排，交警封闭下穿通道并绕行疏导"),
        (95, "handle", "（模拟）积水已排除，下穿通道恢复通行"),
        (160, "close", "（模拟）县城运中心核查：积水已退，予以结案"),
    ),
)  # fmt: skip
BAOKANG_SLOPE = StoryEvent(
    ref="sim-story-baokang-slope", after_s=335 * MINUTE, type_code="0300501", kind="grid", adcode=BAOKANG,
    township="420626100", lat=31.8690, lon=111.2700, address="保康县城关镇 G346国道 K12处",
    description="网格员上报：强降雨致国道边坡局部塌方，碎石占据半幅路面，请交通部门处置",
    reporter=f"{SIMULATED_PREFIX}grid-420626100-02",
    script=_minutes(
        (12, "sign_for", "（模拟）保康县交通运输局已签收，公路养护应急队出发"),
        (30, "progress", "（模拟）设置警示标志，半幅通行，机械清理塌方"),
        (110, "handle", "（模拟）塌方已清理，边坡临时防护完成，恢复双向通行"),
        (200, "close", "（模拟）县城运中心核查：道路恢复通行，予以结案"),
    ),
)  # fmt: skip
NANZHANG_FLOOD_VILLAGE = StoryEvent(
    ref="sim-story-nanzhang-village", after_s=250 * MINUTE, type_code="1200201", kind="grid", adcode=NANZHANG,
    township="420624101", lat=31.6010, lon=111.9880, address="南漳县武安镇 低洼村组",
    description="武安镇城运中心上报：山洪致低洼村组进水，部分群众被困，请求救援",
    reporter=f"{SIMULATED_PREFIX}grid-420624101-01",
    script=_minutes(
        (6, "sign_for", "（模拟）市应急管理局已签收，启动防汛应急响应"),
        (18, "progress", "（模拟）应急管理局调派消防救援支队冲锋舟赶赴武安镇转移被困群众"),
        (50, "handle", "（模拟）被困群众全部转移安置，无人员伤亡"),
        (300, "close", "（模拟）市城运中心核查：群众安置到位，予以结案"),
    ),
)  # fmt: skip

STORY_EVENTS: dict[str, tuple[StoryEvent, ...]] = {
    SCENARIO_FALLEN_BRANCH: (FALLEN_BRANCH,),
    SCENARIO_HOLIDAY: (SHIHUA_JAM,),
    SCENARIO_RAINSTORM: (RAIN_WARNING, NANZHANG_FLOODING, NANZHANG_FLOOD_VILLAGE, BAOKANG_SLOPE),
}
STORY_SCRIPTS: dict[str, tuple[ScriptStep, ...]] = {e.ref: e.script for es in STORY_EVENTS.values() for e in es}


def story_arrivals(state: ScenarioState) -> list[Arrival]:
    """The running story's own reports, at their moments."""
    return [
        Arrival(
            state.start + e.after_s,
            e.type_code,
            e.kind,
            e.adcode,
            e.ref,
            township=e.township,
            lat=e.lat,
            lon=e.lon,
            address=e.address,
            description=e.description,
            ref=e.ref,
            reporter=e.reporter,
            story=state.name or "",
        )  # fmt: skip
        for e in STORY_EVENTS.get(state.name or "", ())
    ]


# Publishing ----------------------------------------------------------------------------------------------------


class EventPublisher:
    """Publishes the arrivals as simulated time passes: each once, in order, over the hub's intake (QoS 1)."""

    def __init__(self, state: ScenarioState, sim_start: float, seed: int = DEFAULT_SEED) -> None:
        self.state = state
        self.seed = seed
        self.published = 0
        self.dropped = 0
        self._next = sim_start  # simulated time up to which arrivals have been published
        places(seed)  # the townships and camera points, loaded before the first tick needs them

    def publish_due(self, client: mqtt.Client, t_sim: float, stamp: float) -> int:
        """Publish what arrived in simulated time up to `t_sim`, stamped `stamp`; returns how many."""
        if t_sim <= self._next:
            return 0
        due = arrivals_between(self._next, t_sim, self.state, self.seed)
        self._next = t_sim
        sent = 0
        for arrival in due:
            if client.publish(arrival.topic, arrival.payload(stamp), QOS_EVENTS).rc == 0:
                sent += 1
            else:
                self.dropped += 1
        self.published += sent
        return sent
