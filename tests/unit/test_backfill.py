"""The backfill's values are the live simulator's: the value model over arrays of times equals value_at at every
time, for every kind of sign; its window and cadence grid; derived signs through the roll-up's derivation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import feeds.simulator as sim
from feeds.simulator import noise, values
from feeds.simulator.backfill import Series, Window, backfill_window, cadence_grid, derived_series, parse_duration
from feeds.simulator.clock import LocalCalendar, local_day, local_days, local_hour
from signs.catalogue import catalogue
from signs.model import BoundsKind, Derivation, DeriveOp, MqttSource, Sign, derive_value
from signs.storyclock import StoryClock

START = 1_779_588_000.0  # 2026-05-24 10:00 Beijing time, the rainstorm's story
WEEK_S = 7 * 86_400.0


def _sourced() -> list[Sign]:
    cat = catalogue()
    values.prepare(cat)
    return [s for s in cat.signs.values() if isinstance(s.source, MqttSource)]


def _one_of_each_kind() -> list[Sign]:
    """A few signs of every kind the model knows, with the hour-of-week and event-count rule kinds too."""
    chosen: dict[str, list[Sign]] = {}
    for sign in _sourced():
        kind = values.model_for(sign).kind
        if sign.bounds is not BoundsKind.ABSOLUTE:
            kind += f":{sign.bounds}"
        chosen.setdefault(kind, []).append(sign)
    return [sign for signs in chosen.values() for sign in signs[:: max(1, len(signs) // 4)][:4]]


def _moments(sign: Sign, rng: np.random.Generator) -> np.ndarray:
    """Random moments of the week before START, on and off the cadence grid, and moments inside the sign's
    injected incidents (where the value model does the most)."""
    grid = START - WEEK_S + sign.cadence_s * rng.integers(0, int(WEEK_S / sign.cadence_s), 12)
    anywhere = START - rng.uniform(0, WEEK_S, 12)
    incidents = [i for i in values.incidents_between(catalogue(), START - WEEK_S, START) if i.sign_id == sign.id]
    during = [i.start + (i.end - i.start) * f for i in incidents for f in (0.05, 0.5, 0.97)]
    return np.sort(np.concatenate([grid, anywhere, np.asarray(during, dtype=np.float64)]))


def test_values_over_arrays_equal_value_at_for_every_kind_of_sign() -> None:
    rng = np.random.default_rng(24)
    kinds = set()
    for sign in _one_of_each_kind():
        kinds.add(values.model_for(sign).kind)
        moments = _moments(sign, rng)
        together = values.values_at(sign, moments)
        one_by_one = [values.value_at(sign, float(t)) for t in moments]
        assert together.tolist() == one_by_one, sign.id
    assert kinds == {"profile", "expected", "rain", "temperature", "stage", "signal", "level"}


def test_incidents_move_the_backfilled_values() -> None:
    """The week holds injected incidents, and the array form raises each sign to its incident's level."""
    cat = catalogue()
    week = values.incidents_between(cat, START - WEEK_S, START)
    assert week
    for incident in week[:10]:
        sign = cat.signs[incident.sign_id]
        middle = np.array([(incident.start + incident.end) / 2])
        value = float(values.values_at(sign, middle)[0])
        assert value == values.value_at(sign, float(middle[0]))
        assert sim.values.level_value(sign, incident.level, float(middle[0])) is not None


@pytest.mark.parametrize("scenario", sim.SCENARIOS)
def test_before_its_start_a_story_changes_nothing(scenario: str) -> None:
    """The backfill ends at the start, where a story begins: the values it writes without the story are the values
    the live simulator publishes under it."""
    state = sim.ScenarioState(scenario, START)
    rng = np.random.default_rng(5)
    for sign in _one_of_each_kind():
        moments = np.sort(START - rng.uniform(1.0, WEEK_S, 6))
        assert values.values_at(sign, moments).tolist() == [values.value_at(sign, float(t), state) for t in moments]


def test_the_noise_the_calendar_and_the_profiles_over_arrays_are_their_one_moment_forms() -> None:
    rng = np.random.default_rng(7)
    moments = np.concatenate([START + rng.uniform(-3e7, 3e7, 400), START + rng.integers(0, 10**6, 50) + 0.9999996])
    for key in (0, noise.text_key("weather-city"), 2**64 - 1):
        assert noise.smooth_noise_over(key, moments).tolist() == [noise.smooth_noise(key, t) for t in moments]
    days = local_days(moments)
    assert days.tolist() == [local_day(t) for t in moments]
    assert noise.hash01_over(days, 41, 7).tolist() == [noise.hash01(41, 7, int(d)) for d in days]
    calendar = LocalCalendar(moments)
    for i, t in enumerate(moments.tolist()):
        hour, weekend, moment = local_hour(t)
        assert (calendar.hour[i], calendar.weekend[i]) == (hour, weekend)
        assert (calendar.month[i], calendar.day_of_month[i]) == (moment.month, moment.day)
    for profile in catalogue().profiles.values():
        assert profile.factors(moments).tolist() == [profile.factor(t) for t in moments]
        assert profile.bounds_factors(moments).tolist() == [profile.bounds_factor(t) for t in moments]


def test_the_window_ends_at_the_first_live_reading_and_maps_stamps_to_the_storys_past_at_speed_one() -> None:
    clock = sim.SimClock(real_start=1_800_000_000.0, sim_start=START, speed=10.0)
    real = backfill_window(clock, WEEK_S, stamp_simulated=False)
    assert (real.start, real.end) == (clock.real_start - WEEK_S, clock.real_start)
    stamps = np.array([clock.real_start - WEEK_S, clock.real_start - 60.0, clock.real_start - 1.0])
    # A week of stamps is the week before the story, as the engine and the wall judge them, not ten weeks of it.
    assert real.simulated(stamps).tolist() == [START - WEEK_S, START - 60.0, START - 1.0]
    story = StoryClock(story="rainstorm", story_start=START, real_start=clock.real_start, speed=clock.speed)
    assert real.simulated(stamps).tolist() == story.story_times(stamps).tolist()
    replay = backfill_window(clock, WEEK_S, stamp_simulated=True)
    assert (replay.start, replay.end) == (START - WEEK_S, START)
    assert replay.simulated(stamps).tolist() == stamps.tolist()


@pytest.mark.parametrize("cadence_s", [5.0, 60.0, 300.0, 3_600.0])
def test_the_grid_holds_every_multiple_of_the_cadence_in_the_window(cadence_s: float) -> None:
    window = Window(START - WEEK_S + 17.5, START + 0.25, sim.SimClock(START, START), False)
    grid = cadence_grid(window, cadence_s)
    assert grid[0] >= window.start and grid[0] - cadence_s < window.start
    assert grid[-1] < window.end <= grid[-1] + cadence_s
    assert np.all(np.diff(grid) == cadence_s) and np.all(grid % cadence_s == 0)
    every = np.arange(np.floor(window.start / cadence_s) - 2, np.ceil(window.end / cadence_s) + 2) * cadence_s
    assert grid.tolist() == every[(every >= window.start) & (every < window.end)].tolist()


def test_a_derived_sign_is_the_roll_ups_derivation_of_its_inputs_newest_points() -> None:
    window = Window(0.0, 600.0, sim.SimClock(0.0, 0.0), False)
    inputs = {
        "a": Series(np.array([0.0, 60.0, 120.0, 400.0]), np.array([1.0, 2.0, 3.0, 4.0])),
        "b": Series(np.array([100.0, 500.0]), np.array([10.0, 20.0])),
    }
    sign = next(s for s in catalogue().signs.values() if isinstance(s.source, Derivation))
    for op in (DeriveOp.SUM, DeriveOp.MAX, DeriveOp.MEAN):
        derived = derived_series(
            dataclasses.replace(sign, cadence_s=100.0),
            Derivation(op, "a+b", inputs=("a", "b")),
            window,
            inputs,
        )
        assert derived is not None
        # Moments 0..500 every 100 s. At 0 "b" has not reported: incomplete, kept out of history. At 200 and 300
        # the newest input is a's at 120, in the cadence period of the point at 100 already kept (the roll-up keeps
        # one point per period of the source time).
        assert derived.source_ts.tolist() == [100.0, 400.0, 500.0]
        expected = [derive_value(op, pair) for pair in ([2.0, 10.0], [4.0, 10.0], [4.0, 20.0])]
        assert derived.values.tolist() == expected


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604_800.0), ("12h", 43_200.0), ("90m", 5_400.0), ("30", 30.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7w", "-1d", "0h", "d"])
def test_durations_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
