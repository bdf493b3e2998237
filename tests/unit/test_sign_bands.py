"""The sign page's threshold bands: an hour-of-week sign's follow the bounds its values are judged by, bucket by
bucket and at the story's hour while a story runs; an absolute sign's stay the catalogue's across the chart."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from callbacks.sign import history_children
from layouts.nav import LEVEL_COLOURS
from signs.catalogue import catalogue
from signs.citytime import CITY_TZ
from signs.drill import MAX_BUCKETS
from signs.model import BoundsKind, Level, Sign, expected_value, thresholds_at, value_level
from signs.storyclock import StoryClock
from signs.urlstate import SignView
from views.sign import HistoryReads, history_model, window_of

TAXIS = "XY.D.M11.D38"  # taxis online, low is bad: 80/70/60/50 % of the fleet expected at the hour
WEDNESDAY_NOON = datetime(2025, 11, 26, 12, tzinfo=CITY_TZ).timestamp()  # the wall clock: a busy midday
# The simulator tells the small hours from 02:00, a story hour to each minute of the wall clock.
STORY = StoryClock("rainstorm", WEDNESDAY_NOON - 10 * 3600, WEDNESDAY_NOON, 60.0)
NOW = WEDNESDAY_NOON + 150.0  # story 04:30


def _figure(sign: Sign, range_: str, ts: np.ndarray, values: np.ndarray, clock: StoryClock | None) -> Any:
    view = SignView(sign.id, range_)
    points = np.zeros(len(ts), dtype=[("ts", "f8"), ("value", "f8")])
    points["ts"], points["value"] = ts, values
    found = history_model(HistoryReads(sign, window_of(sign, view, NOW), points, [], clock), view, NOW)
    figure, _since, _stats, _pin = history_children(found, "en")
    return found, figure


def _band(figure: Any, level: int) -> dict[str, Any]:
    """The trace drawing a level's bound, by its colour."""
    return next(t for t in figure["data"] if t.get("line", {}).get("color") == LEVEL_COLOURS[level])


def test_an_hour_of_week_signs_bands_are_the_bounds_of_each_buckets_story_hour() -> None:
    taxis = catalogue().signs[TAXIS]
    assert taxis.bounds is BoundsKind.HOUR_OF_WEEK
    ts = np.arange(NOW - 3600.0, NOW, taxis.cadence_s)
    night_fleet = np.array([expected_value(taxis, STORY.story_time(float(t))) for t in ts])
    found, figure = _figure(taxis, "1h", ts, night_fleet, STORY)
    series = found.series
    night = int((WEDNESDAY_NOON + 60.0 - series.start) // series.width)  # the bucket from story 03:00
    middle = series.start + (night + 0.5) * series.width
    main = figure["data"][-1]  # the sign's mean, drawn over its bands
    for level in (1, 2, 3, 4):
        band = _band(figure, level)
        assert (band["x0"], band["dx"], band["line"]["shape"]) == (main["x0"], main["dx"], "hv")
        assert len(band["y"]) == len(series) + 1  # the last step spans the last bucket
        story_bound = thresholds_at(taxis, middle, STORY)[level - 1]
        assert story_bound is not None and band["y"][night] == story_bound
        assert story_bound < 0.5 * (taxis.thresholds[level - 1] or 0)  # a fraction of the catalogue's bound
    # The expected night fleet is normal by its hour, and drawn on the normal side of the blue band...
    assert found.periods == [] and found.level_now == int(Level.NORMAL)
    value = main["y"][night]
    assert value >= _band(figure, 1)["y"][night]
    # ...which the catalogue's bounds, the afternoon's, would have called red.
    assert value_level(taxis, value, middle) is Level.RED
    assert [s for s in figure["layout"]["shapes"] if s.get("yref") == "y"] == []


def test_a_period_shaded_red_lies_in_the_red_band_drawn_over_it() -> None:
    taxis = catalogue().signs[TAXIS]
    ts = np.arange(NOW - 3600.0, NOW, taxis.cadence_s)
    fleet = np.array([expected_value(taxis, STORY.story_time(float(t))) or 0.0 for t in ts])
    collapse = (ts >= WEDNESDAY_NOON) & (ts < WEDNESDAY_NOON + 60.0)  # story 02:00-03:00: 30 % of the fleet online
    found, figure = _figure(taxis, "1h", ts, np.where(collapse, 0.3 * fleet, fleet), STORY)
    [period] = found.periods
    assert period.level == int(Level.RED)
    series, red, mean = found.series, _band(figure, 4)["y"], figure["data"][-1]["y"]
    inside = [i for i in range(len(series)) if period.start <= series.start + (i + 0.5) * series.width < period.end]
    assert inside and all(mean[i] < red[i] for i in inside)


def test_a_weeks_stepped_bands_keep_the_figure_small() -> None:
    taxis = catalogue().signs[TAXIS]
    ts = np.arange(NOW - 7 * 86_400.0, NOW, taxis.cadence_s)
    _found, figure = _figure(taxis, "7d", ts, np.full(len(ts), 3_000.0), STORY)
    band = _band(figure, 4)
    assert len(band["y"]) <= MAX_BUCKETS + 3
    assert len(figure["data"]) == 3 + 5  # the sign's three traces; the chart's edge and four bounds
    assert len(json.dumps(figure)) < 100_000


def test_an_absolute_signs_bands_are_the_catalogues_across_the_chart() -> None:
    population = catalogue().signs["XY.P.M01.P01.dist:420602"]  # high is bad: 59.3 / 62 / 64.7 / 70.1
    assert population.bounds is BoundsKind.ABSOLUTE
    ts = np.arange(NOW - 3600.0, NOW, population.cadence_s)
    found, figure = _figure(population, "1h", ts, np.linspace(55.0, 72.0, len(ts)), STORY)
    assert found.bounds is None
    assert len(figure["data"]) == 3  # no band traces
    lines = [s for s in figure["layout"]["shapes"] if s["type"] == "line"]
    assert [s["y0"] for s in lines] == list(population.thresholds)
    assert all((s["xref"], s["x0"], s["x1"]) == ("paper", 0, 1) for s in figure["layout"]["shapes"] if s["yref"] == "y")
