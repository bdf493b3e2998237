"""The simulator's event arrivals: reproducible from the seed, shaped by the hour profiles and shared among the
districts as declared, straw burning only in its seasons and from tower cameras, the stories' reports at their
moments, and every report one the hub's MQTT contract accepts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from dispatch.contract import Intake, parse_report
from dispatch.library import library
from feeds.contract import Limits
from feeds.simulator import events as ev
from feeds.simulator.scenarios import STORIES, ScenarioState
from geo.admin import DISTRICTS
from geo.cameras import camera_inventory
from signs.citytime import CITY_TZ, city_time

HOUR = 3600.0
DAY = 86_400.0


def _at(year: int, month: int, day: int, hour: float = 0.0) -> float:
    return datetime(year, month, day, tzinfo=CITY_TZ).timestamp() + hour * HOUR


# Five weekdays of January (no straw season), Monday 12 to Friday 16, 2026.
WEEK = (_at(2026, 1, 12), _at(2026, 1, 17))


@pytest.fixture(scope="module")
def week() -> list[ev.Arrival]:
    return ev.arrivals_between(*WEEK)


def _expected(t0: float, t1: float, key: str) -> dict[object, float]:
    """The model's mean counts over [t0, t1), summed by hour of day or by district (`key`)."""
    out: dict[object, float] = {}
    for slot in range(int(t0 // ev.SLOT_S), int(t1 // ev.SLOT_S)):
        hour = city_time(slot * ev.SLOT_S).hour
        for stream in ev.STREAMS:
            for adcode in DISTRICTS:
                mean = ev.expected_in_slot(stream, adcode, slot)
                where = hour if key == "hour" else adcode
                out[where] = out.get(where, 0.0) + mean
    return out


def test_arrivals_are_reproducible_from_the_seed(week: list[ev.Arrival]) -> None:
    day = (WEEK[0], WEEK[0] + DAY)
    again = ev.arrivals_between(*day)
    assert again == [a for a in week if a.at < day[1]]
    other = ev.arrivals_between(*day, seed=7)
    assert other != again
    # A window cut in two gives the same arrivals.
    half = WEEK[0] + 0.37 * DAY
    assert ev.arrivals_between(day[0], half) + ev.arrivals_between(half, day[1]) == again


def test_the_city_sees_its_daily_volume_by_channel(week: list[ev.Arrival]) -> None:
    per_day = len(week) / 5
    assert ev.city_rate_per_day(1) * 0.93 < per_day < ev.city_rate_per_day(1) * 1.07
    kinds = Counter(a.kind for a in week)
    assert kinds["grid"] > kinds["hotline"] > kinds["iot"] and kinds["camera"] > kinds["iot"]


def test_arrivals_follow_the_hour_profile(week: list[ev.Arrival]) -> None:
    seen = Counter(city_time(a.at).hour for a in week)
    expected = _expected(*WEEK, "hour")
    total = sum(expected.values())
    for hour in range(24):
        # Poisson: within 4 standard deviations (and a small floor) of the model at every hour.
        assert abs(seen[hour] - expected[hour]) < 4 * expected[hour] ** 0.5 + 3, (hour, seen[hour], expected[hour])
    night = sum(seen[h] for h in (0, 1, 2, 3, 4, 5)) / len(week)
    assert night < 0.08 and seen[9] > 6 * seen[3]
    assert abs(len(week) - total) < 4 * total**0.5


def test_arrivals_are_shared_among_the_districts_as_declared(week: list[ev.Arrival]) -> None:
    seen = Counter(a.adcode for a in week)
    expected = _expected(*WEEK, "district")
    for adcode in DISTRICTS:
        assert abs(seen[adcode] - expected[adcode]) < 4 * expected[adcode] ** 0.5, (adcode, seen, expected)
    central = sum(seen[a] for a in ev.CENTRAL) / len(week)
    assert 0.45 < central < 0.62  # events-reference.md §7.2: the central districts, about 55 %
    shares = ev.district_shares("urban")
    assert abs(sum(shares.values()) - 1.0) < 1e-9 and shares["420606"] > shares["420683"]


def test_straw_burning_only_in_season_from_tower_cameras_in_the_farmland() -> None:
    def straw(t0: float) -> list[ev.Arrival]:
        return [a for a in ev.arrivals_between(t0, t0 + DAY) if a.type_code == "0700101"]

    assert straw(_at(2026, 1, 14)) == [] and straw(_at(2026, 8, 12)) == []
    october = straw(_at(2025, 10, 15))
    assert len(october) > 60
    towers = camera_inventory().set_index("device_id")
    for arrival in october:
        camera = towers.loc[arrival.ref]
        assert camera.owner_group == ev.TOWER_OWNER and camera.kind == "fixed"
        assert arrival.adcode in ev.STRAW_DISTRICTS and arrival.adcode == camera.adcode
        assert arrival.kind == "camera" and arrival.source_id == arrival.ref
        assert arrival.confidence is not None and 0.6 <= arrival.confidence <= 1.0
        assert arrival.snapshot_url.startswith(ev.SNAPSHOT_BASE) and arrival.lat and arrival.lon
        # The fire is within 2 km of its tower (1 degree of latitude is 111 km).
        distance_km = ((arrival.lat - camera.lat) ** 2 + ((arrival.lon - camera.lon) * 0.85) ** 2) ** 0.5 * 111.2
        assert distance_km <= 2.01
        assert 6 <= city_time(arrival.at).hour <= 21


def test_every_report_is_one_the_hub_takes_and_says_it_is_simulated() -> None:
    lib = library()
    limits = Limits(max_payload_bytes=65_536, max_future_s=300, max_past_s=691_200)
    day = ev.arrivals_between(_at(2025, 10, 15), _at(2025, 10, 16))
    for arrival in day:
        parsed = parse_report(arrival.topic, arrival.payload(1_000.0), lib, 1_000.0, limits)
        assert isinstance(parsed, Intake), (arrival, parsed)
        assert parsed.report.reporter.startswith(ev.SIMULATED_PREFIX)
        assert parsed.report.type_code == arrival.type_code
        township = lib.townships[arrival.township]
        assert township.county == arrival.adcode
    hotline = [a for a in day if a.kind == "hotline"]
    assert hotline and all(a.lat is None and a.ref.startswith("12345-") for a in hotline)


def _story(name: str) -> ScenarioState:
    return ScenarioState(name, STORIES[name].default_start(_at(2026, 12, 1)))


@pytest.mark.parametrize(
    ("name", "ref", "local", "type_code", "district"),
    [
        ("fallen-branch", "sim-story-fallen-branch", "10-09 12:33", "0500101", "420606"),
        ("holiday-congestion", "sim-story-shihua-toll", "05-01 08:40", "1200401", "420625"),
        ("rainstorm", "sim-story-rain-warning", "05-24 12:00", "1200101", "420600"),
        ("rainstorm", "sim-story-nanzhang-flooding", "05-24 13:50", "0600101", "420624"),
        ("rainstorm", "sim-story-baokang-slope", "05-24 15:35", "0300501", "420626"),
    ],
)
def test_the_stories_report_at_their_moments(name: str, ref: str, local: str, type_code: str, district: str) -> None:
    state = _story(name)
    found = [a for a in ev.arrivals_between(state.start, state.start + 12 * HOUR, state) if a.ref == ref]
    assert len(found) == 1
    arrival = found[0]
    assert city_time(arrival.at).strftime("%m-%d %H:%M") == local
    assert (arrival.type_code, arrival.adcode, arrival.story) == (type_code, district, name)
    assert ref in ev.STORY_SCRIPTS
    # Without the story, the day has no such report.
    assert not [a for a in ev.arrivals_between(state.start, state.start + 12 * HOUR) if a.ref == ref]


def test_the_shihua_jam_calls_traffic_traffic_police_and_health() -> None:
    assert library().types[ev.SHIHUA_JAM.type_code].departments == ("D04", "D03", "D10")
    responded = [s for s in ev.SHIHUA_JAM.script if s.action in ("sign_for", "progress")]
    assert len(responded) == 4 and all(s.after_s <= 30 * 60 for s in responded)


def test_the_rainstorm_floods_its_districts_and_the_holiday_jams_gucheng() -> None:
    rain = _story("rainstorm")
    slot = int((rain.start + 4 * HOUR) // ev.SLOT_S)
    flooding = next(s for s in ev.STREAMS if s.type_code == "0600101")
    assert ev.expected_in_slot(flooding, "420624", slot, rain) == pytest.approx(
        8.0 * ev.expected_in_slot(flooding, "420624", slot)
    )
    holiday = _story("holiday-congestion")
    jam = next(s for s in ev.STREAMS if s.type_code == "0300101")
    slot = int((holiday.start + 3 * HOUR) // ev.SLOT_S)
    assert ev.expected_in_slot(jam, "420625", slot, holiday) == pytest.approx(
        3.0 * ev.expected_in_slot(jam, "420625", slot)
    )
