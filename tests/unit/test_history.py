"""Downsampling a sign's history into fixed time buckets."""

from __future__ import annotations

import numpy as np
import pytest

from signs.history import downsample

DTYPE = np.dtype([("ts", "<f8"), ("value", "<f8")])


def _points(pairs: list[tuple[float, float]]) -> np.ndarray:
    return np.array(pairs, dtype=DTYPE)


def test_each_bucket_keeps_min_max_mean_and_count() -> None:
    points = _points([(0, 1.0), (10, 3.0), (59, 2.0), (60, 10.0), (119, 20.0)])
    buckets = downsample(points, start=0, end=120, buckets=2)
    assert buckets.ts.tolist() == [0.0, 60.0]
    assert buckets.low.tolist() == [1.0, 10.0]
    assert buckets.high.tolist() == [3.0, 20.0]
    assert buckets.mean.tolist() == [2.0, 15.0]
    assert buckets.count.tolist() == [3, 2]


def test_empty_buckets_and_points_outside_the_range_are_left_out() -> None:
    points = _points([(-5, 99.0), (5, 1.0), (95, 2.0), (100, 99.0)])
    buckets = downsample(points, start=0, end=100, buckets=10)
    assert buckets.ts.tolist() == [0.0, 90.0]
    assert buckets.mean.tolist() == [1.0, 2.0]


def test_a_week_at_one_minute_fits_the_requested_buckets() -> None:
    ts = np.arange(0, 7 * 86_400, 60.0)
    points = np.zeros(len(ts), dtype=DTYPE)
    points["ts"], points["value"] = ts, np.sin(ts / 3600)
    buckets = downsample(points, 0, 7 * 86_400, 500)
    assert len(buckets) == 500
    assert int(buckets.count.sum()) == len(ts)
    assert np.all(buckets.low <= buckets.mean) and np.all(buckets.mean <= buckets.high)


def test_nonsense_ranges_are_refused() -> None:
    with pytest.raises(ValueError):
        downsample(_points([]), 10, 10, 5)
    with pytest.raises(ValueError):
        downsample(_points([]), 0, 10, 0)
