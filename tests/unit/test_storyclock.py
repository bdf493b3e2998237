"""The story clock: stamps of the wall clock mapped to the story's time, and every judge of hour-of-week bounds (the
alert rules, the board's levels, the read side's levels and histories) judging at it while a story runs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from alerts.model import QUIET, RuleKind
from alerts.rules import ChangeKind, RuleBook, evaluate, sign_at
from callbacks.sign import history_children
from config import Settings
from feeds.board import board_entries
from feeds.simulator.clock import SimClock
from feeds.simulator.publisher import story_clock_of
from feeds.simulator.scenarios import ScenarioState
from signs.catalogue import catalogue
from signs.citytime import CITY_TZ
from signs.drill import levels_of, next_threshold
from signs.keys import Latest
from signs.model import Level, expected_value, thresholds_at, value_level
from signs.store import latest_level
from signs.storyclock import StoryClock
from signs.urlstate import SignView
from views.sign import HistoryReads, history_model, window_of
from views.wall import simulated_notice

TUESDAY = datetime(2025, 11, 25, tzinfo=CITY_TZ).timestamp()  # a working day in Xiangyang
REAL_START = TUESDAY + 14 * 3600  # the simulator starts at 14:00 on the wall clock...
STORY_START = TUESDAY - 86_400 + 3 * 3600  # ...telling the night before from 03:00
SPEED = 10.0
NIGHT_STORY = StoryClock("rainstorm", STORY_START, REAL_START, SPEED)
TAXIS = "XY.D.M11.D38"  # taxis online: bounds 80/70/60/50 % of the fleet expected at the hour


def test_a_stamp_after_the_real_start_stands_for_the_story_moment_at_its_speed() -> None:
    assert NIGHT_STORY.story_time(REAL_START) == STORY_START
    assert NIGHT_STORY.story_time(REAL_START + 60.0) == STORY_START + 600.0
    assert NIGHT_STORY.at(REAL_START + 360.0) == STORY_START + 3_600.0


def test_before_the_real_start_time_ran_at_speed_one_as_a_backfill_stamps_it() -> None:
    week = 7 * 86_400.0
    assert NIGHT_STORY.story_time(REAL_START - week) == STORY_START - week
    assert NIGHT_STORY.story_time(REAL_START - 1.0) == STORY_START - 1.0


def test_simulated_stamps_are_story_time_already() -> None:
    replay = StoryClock("rainstorm", STORY_START, REAL_START, SPEED, stamps="simulated")
    assert replay.story_time(STORY_START + 123.0) == STORY_START + 123.0
    assert replay.at(REAL_START + 60.0) == STORY_START + 600.0  # its clock still runs at its speed


def test_the_array_form_maps_every_stamp_as_the_scalar_one() -> None:
    stamps = REAL_START + np.array([-86_400.0, -1.0, 0.0, 0.5, 60.0, 3_600.0])
    mapped = NIGHT_STORY.story_times(stamps)
    assert mapped.tolist() == [NIGHT_STORY.story_time(float(t)) for t in stamps]


def test_the_clock_round_trips_and_refuses_nonsense() -> None:
    assert StoryClock.decode(NIGHT_STORY.encode()) == NIGHT_STORY
    with pytest.raises(ValueError):
        StoryClock.decode(NIGHT_STORY.encode().replace('"speed":10.0', '"speed":0'))
    with pytest.raises(ValueError):
        StoryClock.decode(NIGHT_STORY.encode().replace('"stamps":"real"', '"stamps":"future"'))


def test_the_simulator_announces_its_own_clock() -> None:
    clock = SimClock(real_start=REAL_START, sim_start=STORY_START, speed=SPEED)
    state = ScenarioState("rainstorm", STORY_START, speed=SPEED)
    assert story_clock_of(clock, state, stamp_simulated=False) == NIGHT_STORY
    plain = story_clock_of(clock, ScenarioState(), stamp_simulated=True)
    assert plain.story == "" and plain.stamps == "simulated"


def test_the_wall_says_simulated_with_the_story_time_in_both_languages() -> None:
    storm = StoryClock("rainstorm", datetime(2025, 5, 24, 10, tzinfo=CITY_TZ).timestamp(), REAL_START, 60.0)
    four_hours_in = REAL_START + 4 * 3600 / 60.0
    assert storm.label(four_hours_in, "zh") == "模拟 · 故事时间 05-24 14:00"
    assert storm.label(four_hours_in, "en") == "Simulated · story time 24 May 14:00"
    notice = simulated_notice(storm, four_hours_in)
    assert notice == {"text": ["模拟 · 故事时间 05-24 14:00", "Simulated · story time 24 May 14:00"], "story": True}


def test_plain_simulated_data_says_simulated_and_real_data_says_nothing() -> None:
    live_city = StoryClock("", REAL_START, REAL_START, 1.0)
    assert simulated_notice(live_city, REAL_START + 600.0) == {"text": ["模拟数据", "Simulated data"], "story": False}
    sped_up = StoryClock("", REAL_START, REAL_START, 60.0)  # no story, but its hours are not the wall clock's
    assert simulated_notice(sped_up, REAL_START + 600.0)["story"] is True  # type: ignore[index]
    assert simulated_notice(None, REAL_START) is None


def _night_fleet_stamped_by_day() -> tuple[float, float]:
    """A stamp of the wall clock's afternoon whose story hour is night, and the fleet expected at that night."""
    stamp = REAL_START + 30 * 60.0 / SPEED  # story 03:30
    night_fleet = expected_value(catalogue().signs[TAXIS], NIGHT_STORY.story_time(stamp))
    assert night_fleet is not None
    return stamp, night_fleet


def test_bounds_are_those_of_the_story_hour() -> None:
    taxis = catalogue().signs[TAXIS]
    stamp, night_fleet = _night_fleet_stamped_by_day()
    assert thresholds_at(taxis, stamp, NIGHT_STORY) == thresholds_at(taxis, NIGHT_STORY.story_time(stamp))
    assert value_level(taxis, night_fleet, stamp) is Level.RED  # by the afternoon's bounds, most taxis are missing
    assert value_level(taxis, night_fleet, stamp, NIGHT_STORY) is Level.NORMAL


def test_the_alert_rules_judge_a_story_night_by_its_own_hour() -> None:
    taxis = catalogue().signs[TAXIS]
    stamp, night_fleet = _night_fleet_stamped_by_day()
    params = RuleBook.from_settings(Settings()).params(RuleKind.THRESHOLD, taxis)
    readings = [(stamp + 6.0 * i, night_fleet) for i in range(20)]  # two story hours of night-time readings
    by_story = evaluate(QUIET, readings, taxis, RuleKind.THRESHOLD, params, NIGHT_STORY)
    assert by_story.changes == () and by_story.state.is_quiet
    [raised] = evaluate(QUIET, readings, taxis, RuleKind.THRESHOLD, params).changes  # what the real hour would say
    assert raised.kind is ChangeKind.RAISE and raised.state.level is Level.RED
    assert sign_at(taxis, stamp, NIGHT_STORY).thresholds == thresholds_at(taxis, NIGHT_STORY.story_time(stamp))


def test_the_board_and_the_read_side_colour_by_the_story_hour() -> None:
    cat = catalogue()
    taxis = cat.signs[TAXIS]
    stamp, night_fleet = _night_fleet_stamped_by_day()
    latest = Latest(night_fleet, stamp, stamp)
    assert board_entries(cat, {TAXIS: latest}, NIGHT_STORY)[TAXIS][1] == Level.NORMAL
    assert board_entries(cat, {TAXIS: latest})[TAXIS][1] == Level.RED
    assert latest_level(taxis, latest, NIGHT_STORY) is Level.NORMAL
    stamps = stamp + np.arange(0.0, 600.0, 60.0)
    values = np.full(len(stamps), night_fleet)
    expected = [int(value_level(taxis, night_fleet, float(t), NIGHT_STORY)) for t in stamps]
    assert levels_of(taxis, stamps, values, NIGHT_STORY).tolist() == expected
    assert levels_of(taxis, stamps, values).tolist() != expected
    upcoming = next_threshold(taxis, night_fleet, stamp, NIGHT_STORY)
    assert upcoming is not None and upcoming[1] == thresholds_at(taxis, stamp, NIGHT_STORY)[0]


def test_the_sign_page_measures_the_gap_to_the_story_hours_next_bound() -> None:
    taxis = catalogue().signs[TAXIS]
    stamp, night_fleet = _night_fleet_stamped_by_day()
    view = SignView(TAXIS, "1h")
    points = np.array([(stamp - 60.0, night_fleet), (stamp, night_fleet)], dtype=[("ts", "f8"), ("value", "f8")])
    found = history_model(HistoryReads(taxis, window_of(taxis, view, stamp), points, [], NIGHT_STORY), view, stamp)
    story_bound = thresholds_at(taxis, stamp, NIGHT_STORY)[0]
    assert story_bound is not None and story_bound != thresholds_at(taxis, stamp)[0]
    assert found.upcoming == (int(Level.BLUE), story_bound)  # normal by the night's bounds: blue is next
    _figure, _since, stats, _pin = history_children(found, "en")
    gap = next(part for part in stats if getattr(part, "className", "") == "gap")
    assert f"{story_bound:g}" in gap.children
