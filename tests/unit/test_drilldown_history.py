"""A sign's history as the sign page shows it: a few hundred min/max/mean buckets whatever the range and cadence,
threshold levels for whole arrays, the periods spent in alert and since when the sign is at its level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from callbacks.sign import history_children
from signs.catalogue import catalogue
from signs.drill import (
    MAX_BUCKETS,
    Period,
    alert_periods,
    bucket_series,
    bucket_width,
    history_window,
    levels_of,
    next_threshold,
    since,
    sparkline,
)
from signs.model import Direction, level_of, value_level
from signs.urlstate import RANGES, SignView
from views.sign import HistoryReads, HistoryWindow, history_model, window_of

DTYPE = np.dtype([("ts", "<f8"), ("value", "<f8")])
NOW = 1_716_530_000.0


def _points(ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(ts), dtype=DTYPE)
    out["ts"], out["value"] = ts, values
    return out


@pytest.mark.parametrize("cadence", [5.0, 60.0, 300.0, 600.0, 900.0, 3600.0])
@pytest.mark.parametrize("range_", list(RANGES))
def test_every_range_and_cadence_gives_a_few_hundred_buckets_at_most(range_: str, cadence: float) -> None:
    span = RANGES[range_]
    width = bucket_width(span, cadence)
    start, stop = history_window(span, NOW, width)
    assert start <= NOW - span and stop > NOW >= stop - width
    assert (stop - start) / width <= MAX_BUCKETS + 2
    assert width >= cadence
    assert start % width == 0  # buckets start on round times, stable from one refresh to the next


def test_a_week_at_five_seconds_is_downsampled_with_min_max_and_mean() -> None:
    span = RANGES["7d"]
    width = bucket_width(span, 5.0)
    start, stop = history_window(span, NOW, width)
    ts = np.arange(start, NOW, 5.0)
    values = np.sin(ts / 3600.0)
    series = bucket_series(_points(ts, values), start, stop, width)
    assert len(series) <= MAX_BUCKETS + 2 and series.points == len(ts)
    assert min(v for v in series.low if v is not None) == pytest.approx(values.min(), abs=1e-5)
    assert max(v for v in series.high if v is not None) == pytest.approx(values.max(), abs=1e-5)
    assert all(
        lo is not None and hi is not None and lo <= mu <= hi
        for lo, mu, hi in zip(series.low, series.mean, series.high, strict=True)
        if mu is not None
    )


def test_empty_buckets_are_gaps_not_zeros() -> None:
    points = _points(np.array([0.0, 10.0, 95.0]), np.array([1.0, 3.0, 7.0]))
    series = bucket_series(points, 0.0, 100.0, 10.0)
    assert series.mean == [1.0, 3.0, None, None, None, None, None, None, None, 7.0]
    assert series.count[0] == 1 and series.count[1] == 1


def test_levels_of_an_array_agree_with_level_of() -> None:
    cat = catalogue()
    for sign in (cat.signs["XY.P.M01.P01"], cat.signs["XY.P.M02.P06"], cat.signs["XY.S.M13.S44"]):
        values = np.array(
            [
                -1e9,
                *[b for b in sign.thresholds if b is not None],
                *[b + 0.01 for b in sign.thresholds if b is not None],
                0.0,
                1e9,
                np.nan,
            ]
        )
        expected = [int(level_of(v, sign.thresholds, sign.direction)) for v in values]
        assert levels_of(sign, np.zeros(len(values)), values).tolist() == expected


def test_alert_periods_run_from_first_alert_reading_to_the_first_normal_one() -> None:
    ts = np.arange(0.0, 100.0, 10.0)
    levels = np.array([0, 1, 3, 0, 0, 2, 2, 0, 1, 1], dtype=np.int8)
    assert alert_periods(ts, levels, until=100.0) == [
        Period(10.0, 30.0, 3),
        Period(50.0, 70.0, 2),
        Period(80.0, 100.0, 1, ongoing=True),
    ]
    # Short dips back to normal are merged when closer than a bucket.
    assert alert_periods(ts, levels, until=100.0, merge_gap_s=20.0) == [Period(10.0, 100.0, 3, ongoing=True)]
    assert alert_periods(ts[:0], levels[:0], until=0.0) == []


def test_since_when_a_sign_is_at_its_level() -> None:
    ts = np.arange(0.0, 60.0, 10.0)
    found = since(ts, np.array([0, 1, 3, 4, 3, 3], dtype=np.int8), 3)
    assert found is not None and found.start == 20.0 and not found.before_range
    already = since(ts, np.array([2, 2, 2, 2, 2, 2], dtype=np.int8), 2)
    assert already is not None and already.before_range
    assert since(ts, np.array([0, 0, 0, 0, 3, 0], dtype=np.int8), 3) is None
    assert since(ts, np.zeros(6, dtype=np.int8), 0) is None


def test_next_threshold_in_both_directions() -> None:
    cat = catalogue()
    population = cat.signs["XY.P.M01.P01"]  # high is bad: 578.7 / 605 / 631.3 / 683.9
    answer_rate = cat.signs["XY.P.M02.P06"]  # low is bad
    assert population.direction is Direction.HIGH_IS_BAD and answer_rate.direction is Direction.LOW_IS_BAD
    assert next_threshold(population, 500.0, 0.0) == (1, 578.7)
    assert next_threshold(population, 610.0, 0.0) == (3, 631.3)
    assert next_threshold(population, 700.0, 0.0) is None
    level, bound = next_threshold(answer_rate, 99.9, 0.0)  # type: ignore[misc]
    assert level >= 1 and bound < 99.9


def test_sparklines_are_scaled_to_a_hundred() -> None:
    points = _points(np.arange(0.0, 3600.0, 60.0), np.arange(60.0))
    spark = sparkline(points, 0.0, 3600.0, 30)
    assert len(spark) == 30 and spark[0] == 0 and spark[-1] == 100
    assert sparkline(_points(np.array([10.0]), np.array([5.0])), 0.0, 3600.0) .count(50) == 1
    assert sparkline(points[:0], 0.0, 3600.0) == []


def test_the_seven_day_figure_is_small_and_shades_the_alert_periods() -> None:
    cat = catalogue()
    sign = cat.signs["XY.P.M01.P01.dist:420602"]  # red at 70.1
    view = SignView(sign.id, "7d", compare=("XY.P.M01.P01.dist:420606",))
    win = window_of(sign, view, NOW)
    ts = np.arange(NOW - 7 * 86_400, NOW, sign.cadence_s)
    values = 50 + 25 * (np.sin(ts / 86_400 * 2 * np.pi) > 0.9)  # a daily spike into red
    points = _points(ts, values)
    reads = HistoryReads(sign, win, points, [(cat.signs[view.compare[0]], points)])
    figure, since_children, stats, pin = history_children(history_model(reads, view, NOW), view.lang)
    assert isinstance(win, HistoryWindow)
    main = figure["data"][2]
    assert len(main["y"]) <= MAX_BUCKETS + 2 and "x" not in main and main["dx"] == win.width * 1000
    periods = [s for s in figure["layout"]["shapes"] if s.get("yref") == "paper"]
    assert 6 <= len(periods) <= 8 and all(s["fillcolor"] == "#ff2d2d" for s in periods)
    assert len(figure["data"]) == 4  # band low, band high, mean, one compared sign
    assert len(json.dumps(figure)) < 100_000
    assert "end=" in pin


def test_the_fast_path_for_sorted_points_agrees_with_downsample() -> None:
    rng = np.random.default_rng(1)
    ts = np.sort(rng.uniform(0, 86_400, 5_000))
    values = rng.normal(0, 1, len(ts))
    fast = bucket_series(_points(ts, values), 0.0, 86_400.0, 300.0)
    shuffled = _points(ts, values)[rng.permutation(len(ts))]
    slow = bucket_series(shuffled, 0.0, 86_400.0, 300.0)
    assert fast == slow


def test_many_short_alert_runs_are_vectorised_and_merged() -> None:
    ts = np.arange(0.0, 7 * 86_400, 5.0)
    levels = (np.arange(len(ts)) % 3 == 0).astype(np.int8)  # every third reading blue: 40,000 runs
    assert len(alert_periods(ts, levels, until=ts[-1])) == len(ts) // 3 + (len(ts) % 3 > 0)
    merged = alert_periods(ts, levels, until=ts[-1], merge_gap_s=60.0)
    last_alert = int(np.flatnonzero(levels)[-1])
    assert merged == [Period(0.0, float(ts[last_alert + 1]), 1)]


def test_levels_of_follow_the_hour_of_week_bounds_like_the_alert_engine() -> None:
    cat = catalogue()
    sign = next(s for s in cat.signs.values() if s.profile is not None and s.thresholds[0] is not None)
    week = np.arange(1_764_518_400.0, 1_764_518_400.0 + 7 * 86_400, 1_800.0)  # a Monday 00:00 Beijing, half-hourly
    blue = sign.thresholds[0]
    assert blue is not None
    values = np.full(len(week), blue)  # the blue bound as written: below it by day, beyond it at night (or v.v.)
    expected = [int(value_level(sign, float(v), float(t))) for t, v in zip(week, values, strict=True)]
    assert levels_of(sign, week, values).tolist() == expected
    assert len(set(expected)) > 1, "one value must stand at different levels at different hours of the week"
